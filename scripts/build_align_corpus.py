"""Build the offline alignment corpus (src/xstilts/align_data/gettext/): human English -> X translations of interface
messages from gettext catalogs the demo tasks do NOT use, for `xstilts align` and its diagnostics.

- train/<lang>-en.txt: from the catalogs of git, gsettings-desktop-schemas and appstream;
- heldout/<lang>-en.txt: from other catalogs (tar, shared-mime-info), for the related/unrelated word distances.

Lines are `<lang sentence> ||| <English sentence>`, both sides pre-tokenized with spaces (words and punctuation marks
apart), as Cao et al.'s and Efimov et al.'s corpora. Kept: English messages of 3+ words and clean translations (the
demo builder's filters, scripts/demo_data/catalogs.py); dropped: any pair whose English or translation (case and
punctuation ignored) appears anywhere in the demo or selection data (so no demo evaluation pair is trained on), and
held-out pairs sharing a side with a training pair. Deterministic (sorted inputs, seeded shuffle).

    python scripts/build_align_corpus.py
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "src"))

from demo_data.catalogs import LOCALE, LOCALE_DIR, clean_message, english_ok, norm  # noqa: E402
from demo_data.common import shuffled  # noqa: E402
from demo_data.mo import read_mo  # noqa: E402

OUT = ROOT / "src" / "xstilts" / "align_data" / "gettext"
LANGUAGES = ("de", "es", "fr", "ru")  # whitespace-tokenized languages every demo target evaluates
PARTS = {  # part -> (gettext domains, cap per language)
    "train": (("git", "gsettings-desktop-schemas", "appstream"), 2000),
    "heldout": (("tar", "shared-mime-info"), 300),
}
DEBIAN_PACKAGES = ("git", "gsettings-desktop-schemas", "appstream", "tar", "shared-mime-info")
_TOKEN = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> str:
    """Words and punctuation marks apart, joined by single spaces."""
    return " ".join(_TOKEN.findall(text))


def demo_texts() -> set[str]:
    """Every string of the demo and selection data, normalized (the pairs the corpus must not contain)."""
    seen: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str):
            seen.add(norm(value))
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    for root in ("demo_data", "selection_data"):
        for f in sorted((ROOT / "src" / "xstilts" / root).rglob("*.jsonl")):
            for line in f.read_text(encoding="utf-8").splitlines():
                walk(json.loads(line))
    return seen


def part_pairs(lang: str, domains: tuple[str, ...], exclude: set[str]) -> list[tuple[str, str]]:
    """(translation, English) pairs of these domains, deduplicated on both sides, none touching `exclude`."""
    out, seen_en, seen_x = [], set(exclude), set(exclude)
    for domain in domains:
        p = LOCALE / LOCALE_DIR.get(lang, lang) / "LC_MESSAGES" / f"{domain}.mo"
        if not p.is_file():
            continue
        for msgid, msgstr in sorted(read_mo(p).items()):
            if not english_ok(msgid) or not msgstr or msgstr == msgid or not clean_message(msgstr):
                continue
            ke, kx = norm(msgid), norm(msgstr)
            if not ke or not kx or ke in seen_en or kx in seen_x:
                continue
            seen_en.add(ke)
            seen_x.add(kx)
            out.append((tokenize(msgstr), tokenize(msgid)))
    return out


def _versions() -> dict[str, str]:
    out = {}
    for pkg in DEBIAN_PACKAGES:
        res = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, check=False)
        out[f"debian:{pkg}"] = res.stdout.strip() or "absent"
    return out


def main() -> None:
    exclude = demo_texts()
    manifest: dict[str, object] = {"sources": _versions(), "files": {}}
    for lang in LANGUAGES:
        used: set[str] = set(exclude)
        for part, (domains, cap) in PARTS.items():
            pairs = shuffled(part_pairs(lang, domains, used), "align", part, lang)[:cap]
            used |= {norm(x) for pair in pairs for x in pair}
            path = OUT / part / f"{lang}-en.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(f"{x} ||| {e}\n" for x, e in pairs), encoding="utf-8")
            manifest["files"][f"{part}/{path.name}"] = len(pairs)  # type: ignore[index]
            print(f"{part}/{path.name}: {len(pairs)} pairs")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
