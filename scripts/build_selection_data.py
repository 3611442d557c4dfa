#!/usr/bin/env python3
"""Build the candidate intermediate tasks of the offline selection study (issue 11) from real offline resources.

Six English tasks of four families, none reusing a target's training data (texts equal, after normalization, to any
demo target's training text are dropped, and man pages of the packages whose gettext catalogs the demo targets use are
skipped):

- sel_deb_section (classification): a Debian package's one-line description -> its archive section (8 sections).
- sel_deb_use (classification): the description -> its debtags `use::` facet (packages with exactly one).
- sel_deb_size (regression): the description -> log10 of the installed size in KiB.
- sel_man_option (span_qa): five `option: description` lines of one English man page (man1 .TP entries); the question
  quotes one description, the answer is its option.
- sel_wn_antonym (multiple_choice): WordNet adjective antonyms: 'What is the opposite of "<word>"?', 4 choices.
- sel_wn_meronym (multiple_choice): WordNet part meronyms: 'Which of these is a part of a <whole>?', 4 choices.

Sources: the apt package lists (`apt-cache dumpavail`), /usr/share/man/man1 (Debian packages' English man pages),
WordNet 3.0 (wordnet-base). Deterministic for the same inputs (seeded shuffles, sorted iteration); package list and
man-page versions are recorded in selection_data/manifest.json.

    python scripts/build_selection_data.py [--tasks sel_deb_section,...]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "src"))

from build_demo_data import NOT_REAL, WORDNET_LICENSE, _spec_yaml  # noqa: E402
from demo_data.common import rng, shuffled, write_task  # noqa: E402
from demo_data.wordnet import POS_FILES, WORDNET, synsets  # noqa: E402

from xstilts.families.examples import Answer, ChoiceExample, SentenceExample, SpanExample  # noqa: E402

# Not under demo_data/: the demo tests pin that directory to exactly the demo tasks (manifest, byte-identical rebuild).
DATA_DIR = ROOT / "src" / "xstilts" / "selection_data"
DEFS_DIR = ROOT / "src" / "xstilts" / "tasks" / "defs" / "selection"
TRAIN, DEV = 2000, 300
SECTIONS = ["admin", "devel", "doc", "games", "net", "science", "text", "utils"]
USES = ["analysing", "checking", "configuring", "converting", "editing", "gameplaying", "monitor", "viewing"]
# Man pages of the packages whose gettext catalogs are demo target data (demo_topic, demo_tatoeba, demo_bucc): skipped.
EXCLUDED_PACKAGES = [
    "coreutils",
    "libglib2.0-bin",
    "libglib2.0-dev-bin",
    "libgtk2.0-bin",
    "libgdk-pixbuf2.0-bin",
    "libgdk-pixbuf-2.0-0",
    "iso-codes",
]
DEBIAN_LICENSE = "Debian package metadata (descriptions and debtags: the packages' maintainers; public archive data)"
MAN_LICENSE = "man pages of Debian packages (each under its package's license; see /usr/share/doc/<pkg>/copyright)"


def norm(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def target_texts() -> set[str]:
    """Normalized texts of every demo target's training split (nothing built here may equal one of them)."""
    from dataclasses import asdict

    from xstilts.data.load import load_examples
    from xstilts.tasks import list_tasks

    out: set[str] = set()
    for t in list_tasks("target"):
        if not t.name.startswith("demo_") or "train" not in t.splits:
            continue
        for ex in load_examples(t, "train", "en"):
            for v in asdict(ex).values():
                vals = v if isinstance(v, list) else [v]
                out.update(norm(x) for x in vals if isinstance(x, str))
                out.update(norm(x["text"]) for x in vals if isinstance(x, dict) and "text" in x)
    out.discard("")
    return out


def split_train_dev(items: list[Any], task: str, key=lambda x: x) -> dict[tuple[str, str], list[Any]]:
    """Shuffle (seeded), hold out 15 % of the keys for dev, cut train/dev to size."""
    keys = shuffled(sorted({key(x) for x in items}), task, "dev-keys")
    dev_keys = set(keys[: max(1, len(keys) * 15 // 100)])
    items = shuffled(items, task, "order")
    train = [x for x in items if key(x) not in dev_keys][:TRAIN]
    dev = [x for x in items if key(x) in dev_keys][:DEV]
    return {("train", "en"): train, ("dev", "en"): dev}


# ------------------------------------------------------------------ Debian package lists


def packages() -> list[dict[str, str]]:
    """Stanzas of `apt-cache dumpavail` (the local apt package lists), one dict per package (first version only)."""
    text = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=True).stdout
    seen, out = set(), []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        last = None
        for line in block.splitlines():
            if line.startswith(" ") and last:
                fields[last] += " " + line.strip()
            elif ":" in line:
                last, _, value = line.partition(":")
                fields[last] = value.strip()
        name = fields.get("Package")
        if name and name not in seen and fields.get("Description"):
            seen.add(name)
            out.append(fields)
    return sorted(out, key=lambda f: f["Package"])


def _clean_description(desc: str, banned: set[str]) -> str | None:
    words = desc.split()
    if len(words) < 3 or norm(desc) in banned:
        return None
    return desc


def _balanced(rows: list[tuple[str, str, str]], labels: list[str], task: str) -> dict[tuple[str, str], list[Any]]:
    """(package, text, label) rows -> balanced train/dev; dev packages never in train, duplicate texts dropped."""
    by_text: dict[str, tuple[str, str, str]] = {}
    for r in rows:
        by_text.setdefault(norm(r[1]), r)  # one package per description
    per: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for r in by_text.values():
        per[r[2]].append(r)
    per_class_train, per_class_dev = TRAIN // len(labels), DEV // len(labels)
    train, dev = [], []
    for lab in labels:
        items = shuffled(sorted(per[lab]), task, lab)
        dev += items[:per_class_dev]
        train += items[per_class_dev : per_class_dev + per_class_train]
    make = lambda rs, split: [  # noqa: E731 - a one-expression row builder
        SentenceExample(guid=f"{split}-{r[0]}", text_a=r[1], label=r[2])  # noqa: E731
        for r in shuffled(rs, task, split)
    ]
    return {("train", "en"): make(train, "train"), ("dev", "en"): make(dev, "dev")}


def build_deb_section(pkgs: list[dict[str, str]], banned: set[str]) -> dict[tuple[str, str], list[Any]]:
    rows = []
    for p in pkgs:
        sec = p.get("Section", "").split("/")[-1]
        desc = _clean_description(p["Description"], banned)
        if sec in SECTIONS and desc:
            rows.append((p["Package"], desc, sec))
    return _balanced(rows, SECTIONS, "sel_deb_section")


def build_deb_use(pkgs: list[dict[str, str]], banned: set[str]) -> dict[tuple[str, str], list[Any]]:
    rows = []
    for p in pkgs:
        uses = re.findall(r"use::([a-z-]+)", p.get("Tag", ""))
        desc = _clean_description(p["Description"], banned)
        if len(uses) == 1 and uses[0] in USES and desc:
            rows.append((p["Package"], desc, uses[0]))
    return _balanced(rows, USES, "sel_deb_use")


def build_deb_size(pkgs: list[dict[str, str]], banned: set[str]) -> dict[tuple[str, str], list[Any]]:
    rows = {}
    for p in pkgs:
        desc = _clean_description(p["Description"], banned)
        size = p.get("Installed-Size", "")
        if desc and size.isdigit() and int(size) > 0:
            rows.setdefault(norm(desc), (p["Package"], desc, round(math.log10(int(size)), 4)))
    items = sorted(rows.values())
    splits = split_train_dev(items, "sel_deb_size", key=lambda r: r[0])
    return {
        k: [SentenceExample(guid=f"{k[0]}-{r[0]}", text_a=r[1], label=float(r[2])) for r in v]
        for k, v in splits.items()
    }


# ------------------------------------------------------------------ man pages


_ESCAPES = [
    (r"\(lq", '"'),
    (r"\(rq", '"'),
    (r"\*(lq", '"'),
    (r"\*(rq", '"'),
    (r"\(aq", "'"),
    (r"\(dq", '"'),
    (r"\(em", "-"),
    (r"\(en", "-"),
    (r"\(bu", ""),
    (r"\-", "-"),
    (r"\^", ""),
    (r"\&", ""),
    (r"\e", "\\"),
    (r"\ ", " "),
    (r"\|", ""),
    (r"\,", ""),
    (r"\/", ""),
    (r"\%", ""),
]
_ALTERNATING = {".BR", ".RB", ".BI", ".IB", ".IR", ".RI"}


def _roff_text(line: str) -> str:
    """Plain text of one roff line: font macros unwrapped (alternating ones joined without spaces), escapes removed."""
    if line.startswith("."):
        macro, _, rest = line.partition(" ")
        args = re.findall(r'"([^"]*)"|(\S+)', rest)
        parts = [a or b for a, b in args]
        line = "".join(parts) if macro in _ALTERNATING else " ".join(parts)
    line = re.sub(r"\\f(\[[A-Z]*\]|\(..|.)", "", line)
    for a, b in _ESCAPES:
        line = line.replace(a, b)
    return line.strip()


def man_options(path: Path) -> list[tuple[str, str]]:
    """(option, description) pairs from the .TP entries of one roff man page (tag line starting with '-')."""
    try:
        lines = gzip.open(path, "rt", encoding="utf-8", errors="strict").read().splitlines()
    except (OSError, UnicodeDecodeError, EOFError):
        return []
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip() == ".TP" and i + 1 < len(lines):
            tag = _roff_text(lines[i + 1])
            desc, j = [], i + 2
            while j < len(lines) and not re.match(r"^\.(TP|PP|P|LP|SS|SH|IP|TQ|RS|RE|HP|sp|br|nf|fi)\b", lines[j]):
                if not lines[j].startswith('.\\"') and not re.match(r"^\.(\w\w?)$", lines[j]):
                    desc.append(_roff_text(lines[j]))
                j += 1
            text = " ".join(x for x in desc if x)
            text = re.sub(r"\s+", " ", text).strip()
            if tag.startswith("-") and 4 <= len(text.split()) <= 40 and "\\" not in text + tag and len(tag) <= 40:
                first = text.split(". ")[0].rstrip(".")  # the first sentence: a definition-like description
                if len(first.split()) >= 4:
                    out.append((tag, first))
            i = j
        else:
            i += 1
    return out


def excluded_files() -> set[str]:
    out: set[str] = set()
    for pkg in EXCLUDED_PACKAGES:
        for lst in Path("/var/lib/dpkg/info").glob(f"{pkg}*.list"):
            out.update(lst.read_text(encoding="utf-8", errors="replace").split())
    return out


def build_man_option(banned: set[str]) -> dict[tuple[str, str], list[Any]]:
    skip = excluded_files()
    pages: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(Path("/usr/share/man/man1").glob("*.1*.gz")):
        if str(path) in skip or path.is_symlink():
            continue
        opts = [(o, d) for o, d in man_options(path) if norm(d) not in banned]
        seen, uniq = set(), []
        for o, d in opts:
            if o not in seen and norm(d) not in {norm(x[1]) for x in uniq}:
                seen.add(o)
                uniq.append((o, d))
        if len(uniq) >= 5:
            pages[path.name.split(".")[0]] = uniq
    items = []
    for page, opts in sorted(pages.items()):
        for k, block in enumerate(range(0, len(opts) - 4, 5)):
            for pick in range(5):  # one question per option of the group
                items.append((page, 5 * k + pick, opts[block : block + 5], pick))
    items = shuffled(items, "sel_man_option", "items")
    splits = split_train_dev(items, "sel_man_option", key=lambda x: x[0])  # dev pages unseen in training
    out: dict[tuple[str, str], list[Any]] = {}
    for key, rows in splits.items():
        exs = []
        for page, k, group, pick in rows:
            context = "\n".join(f"{o}: {d}." for o, d in group)
            opt, desc = group[pick]
            start = context.index(f"{opt}: {desc}.")
            exs.append(
                SpanExample(
                    guid=f"{page}-{k}",
                    question=f'Which option means "{desc}"?',
                    context=context,
                    answers=[Answer(text=opt, answer_start=start)],
                    title=page,
                )
            )
        out[key] = exs
    return out


# ------------------------------------------------------------------ WordNet relations


def wordnet_pointers(symbols: set[str]) -> Iterator[tuple[str, str, str, int, int]]:
    """(synset id, symbol, target id, source word number, target word number) for the given pointer symbols."""
    for file_pos, name in POS_FILES.items():
        with (WORDNET / f"data.{name}").open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                head = line.partition(" | ")[0].split()
                i = 4 + 2 * int(head[3], 16)
                for _ in range(int(head[i])):
                    sym, target, tpos, st = head[i + 1 : i + 5]
                    if sym in symbols:
                        yield (
                            file_pos + head[0],
                            sym,
                            ("a" if tpos in "as" else tpos) + target,
                            int(st[:2], 16),
                            int(st[2:], 16),
                        )
                    i += 4


def _plain(word: str) -> bool:
    return bool(re.fullmatch(r"[a-z][a-z -]*[a-z]", word))


def build_wn_antonym(banned: set[str]) -> dict[tuple[str, str], list[Any]]:
    ss = synsets()
    pairs = set()
    for sid, _, tid, sw, tw in wordnet_pointers({"!"}):
        if sid[0] != "a" or not sw or not tw:
            continue
        a, b = ss[sid].lemma(sw - 1).lower(), ss[tid].lemma(tw - 1).lower()
        if _plain(a) and _plain(b) and a != b:
            pairs.add((a, b))
    adjectives = sorted({s.lemma(0).lower() for s in ss.values() if s.pos in "as" and _plain(s.lemma(0).lower())})
    items = sorted(pairs)
    splits = split_train_dev(items, "sel_wn_antonym", key=lambda p: p[0])

    def make(pair: tuple[str, str]) -> ChoiceExample:
        a, b = pair
        wrong = [w for w in _draw(adjectives, "sel_wn_antonym", a, b) if w not in (a, b)][:3]
        return _choice(f"{a}-{b}", f'The word is "{a}".', f'What is the opposite of "{a}"?', b, wrong, "sel_wn_antonym")

    return {key: [make(p) for p in rows] for key, rows in splits.items()}


def _draw(pool: list[str], *keys: object, n: int = 12) -> list[str]:
    """n distinct items of a sorted pool, drawn by a generator seeded from the keys (no full shuffle per item)."""
    return [pool[i] for i in rng(*keys).sample(range(len(pool)), n)]


def _choice(guid: str, context: str, question: str, right: str, wrong: list[str], task: str) -> ChoiceExample:
    choices = shuffled([right, *wrong], task, "choices", guid)
    return ChoiceExample(guid=guid, context=context, question=question, choices=choices, label=choices.index(right))


def build_wn_meronym(banned: set[str]) -> dict[tuple[str, str], list[Any]]:
    ss = synsets()
    parts: dict[str, set[str]] = defaultdict(set)
    for sid, _, tid, _, _ in wordnet_pointers({"%p"}):
        parts[sid].add(tid)
    nouns = sorted(s.id for s in ss.values() if s.pos == "n" and _plain(s.lemma(0).lower()))
    items = []
    for whole in sorted(parts):
        w = ss[whole].lemma(0).lower()
        if not _plain(w):
            continue
        for part in sorted(parts[whole]):
            p = ss[part].lemma(0).lower()
            if _plain(p) and p != w:
                items.append((whole, part))
    splits = split_train_dev(items, "sel_wn_meronym", key=lambda x: x[0])  # dev wholes unseen in training

    def make(item: tuple[str, str]) -> ChoiceExample:
        whole, part = item
        w, p = ss[whole].lemma(0).lower(), ss[part].lemma(0).lower()
        bad = {ss[x].lemma(0).lower() for x in parts[whole]} | {w}
        cand = [ss[x].lemma(0).lower() for x in _draw(nouns, "sel_wn_meronym", whole, part)]
        wrong = [c for c in dict.fromkeys(cand) if c not in bad][:3]
        return _choice(
            f"{whole}-{part}",
            f"{w}: {ss[whole].definition}.",
            f"Which of these is a part of a {w}?",
            p,
            wrong,
            "sel_wn_meronym",
        )

    return {key: [make(x) for x in rows] for key, rows in splits.items()}


# ------------------------------------------------------------------ main


def task_specs() -> dict[str, tuple[Any, dict[str, Any]]]:
    debian = lambda f: lambda banned: f(packages(), banned)  # noqa: E731
    return {
        "sel_deb_section": (
            debian(build_deb_section),
            {
                "role": "intermediate",
                "family": "classification",
                "metric": "accuracy",
                "labels": SECTIONS,
                "description": f"{NOT_REAL} Debian package one-line description -> archive section (8 sections, "
                "balanced; dev packages unseen).",
                "license": DEBIAN_LICENSE,
            },
        ),
        "sel_deb_use": (
            debian(build_deb_use),
            {
                "role": "intermediate",
                "family": "classification",
                "metric": "accuracy",
                "labels": USES,
                "description": f"{NOT_REAL} Debian package description -> its debtags use:: facet (packages with "
                "exactly one; 8 facets, balanced where the data allows).",
                "license": DEBIAN_LICENSE,
            },
        ),
        "sel_deb_size": (
            debian(build_deb_size),
            {
                "role": "intermediate",
                "family": "regression",
                "metric": "pearson",
                "description": f"{NOT_REAL} Debian package description -> log10 installed size (KiB).",
                "license": DEBIAN_LICENSE,
            },
        ),
        "sel_man_option": (
            build_man_option,
            {
                "role": "intermediate",
                "family": "span_qa",
                "metric": "squad_em_f1",
                "description": f"{NOT_REAL} Extractive QA over English man pages: five 'option: description' lines of "
                "one page, the question quotes a description, the answer is its option (dev pages unseen).",
                "license": MAN_LICENSE,
            },
        ),
        "sel_wn_antonym": (
            build_wn_antonym,
            {
                "role": "intermediate",
                "family": "multiple_choice",
                "metric": "accuracy",
                "description": f"{NOT_REAL} WordNet adjective antonyms as 4-way multiple choice.",
                "license": WORDNET_LICENSE,
            },
        ),
        "sel_wn_meronym": (
            build_wn_meronym,
            {
                "role": "intermediate",
                "family": "multiple_choice",
                "metric": "accuracy",
                "description": f"{NOT_REAL} WordNet part meronyms as 4-way multiple choice (which is a part of X?).",
                "license": WORDNET_LICENSE,
            },
        ),
    }


def main(argv: list[str] | None = None) -> int:
    import yaml

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="", help="comma-separated subset (default: all)")
    args = ap.parse_args(argv)
    specs = task_specs()
    chosen = [t for t in args.tasks.split(",") if t] or list(specs)
    banned = target_texts()
    DEFS_DIR.mkdir(parents=True, exist_ok=True)
    manifest_path = DATA_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"tasks": {}}
    for name in chosen:
        t = time.time()
        builder, fields = specs[name]
        splits = builder(banned)
        counts = write_task(DATA_DIR, name, splits)
        spec = _spec_yaml(name, fields, splits)
        spec["local_dir"] = f"../../../selection_data/{name}"
        (DEFS_DIR / f"{name}.yaml").write_text(
            yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None),
            encoding="utf-8",
        )
        manifest["tasks"][name] = {
            "files": counts,
            "bytes": sum(p.stat().st_size for p in (DATA_DIR / name).glob("*.jsonl")),
        }
        print(f"{name}: {counts} ({time.time() - t:.1f}s)", flush=True)
    apt_lists = sorted(p.name for p in Path("/var/lib/apt/lists").glob("*Packages*"))
    manifest["sources"] = {
        "apt_lists": apt_lists,
        "wordnet": "wordnet-base (WordNet 3.0)",
        "man_pages": "/usr/share/man/man1 of the installed Debian packages",
    }
    manifest["tasks"] = dict(sorted(manifest["tasks"].items()))
    manifest["total_bytes"] = sum(p.stat().st_size for p in DATA_DIR.rglob("*.jsonl"))
    text = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    manifest_path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
