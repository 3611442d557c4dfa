"""Human English -> X translations from the gettext catalogs of five Debian packages."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from demo_data.mo import read_mo

LOCALE = Path("/usr/share/locale")

# Topic label -> (Debian package, gettext domains). Domains are listed explicitly so that catalogs other packages
# happen to install (gtk30, ...) never leak in and the data only depends on these packages.
CATALOGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "coreutils": ("coreutils", ("coreutils",)),
    "gdk-pixbuf": ("libgdk-pixbuf2.0-common", ("gdk-pixbuf",)),
    "glib": ("libglib2.0-data", ("glib20",)),
    "gtk": ("libgtk2.0-common", ("gtk20", "gtk20-properties")),
    "iso-codes": (
        "iso-codes",
        (
            "iso_3166-1",
            "iso_3166-2",
            "iso_3166-3",
            "iso_4217",
            "iso_639-2",
            "iso_639-3",
            "iso_639-5",
            "iso_15924",
        ),
    ),
}
DEBIAN_PACKAGES = sorted(pkg for pkg, _ in CATALOGS.values())

# XTREME 2-letter code -> locale directory name.
LOCALE_DIR = {"zh": "zh_CN"}

# printf/brace formats, markup/entities, mnemonic underscores (also "(_O)" in CJK catalogs), escapes, paths, and
# the characters Apertium's stream format reserves: such messages are templates or code, not sentences.
_FORMAT = re.compile(r"%|\{|\}|<|>|&|\\|\$|`|@|\[|\]|\^|/|\*|#|\+|\t|\n|\b_|_\b|_[^\W_]|\|")
_WORD = re.compile(r"\w", re.UNICODE)


def clean_message(text: str) -> bool:
    """A plain interface sentence: no format codes, accelerators, markup or control characters."""
    return bool(text.strip()) and text == text.strip() and not _FORMAT.search(text) and bool(_WORD.search(text))


def english_ok(msgid: str, min_words: int = 3) -> bool:
    return clean_message(msgid) and len(msgid.split()) >= min_words


def norm(text: str) -> str:
    """Key for near-duplicate detection: case, punctuation and spacing ignored."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


@cache
def catalog(label: str, lang: str) -> dict[str, str]:
    """msgid -> msgstr of one topic label in one language (domains merged in their listed order)."""
    out: dict[str, str] = {}
    for domain in CATALOGS[label][1]:
        p = LOCALE / LOCALE_DIR.get(lang, lang) / "LC_MESSAGES" / f"{domain}.mo"
        if p.is_file():
            for k, v in sorted(read_mo(p).items()):
                out.setdefault(k, v)
    return out


@cache
def english_messages() -> dict[str, list[str]]:
    """label -> sorted English msgids (3+ words, clean) found in any language's catalog of that label."""
    out: dict[str, list[str]] = {}
    for label, (_, domains) in CATALOGS.items():
        ids: set[str] = set()
        for domain in domains:
            for p in sorted(LOCALE.glob(f"*/LC_MESSAGES/{domain}.mo")):
                ids.update(k for k in read_mo(p) if english_ok(k))
        out[label] = sorted(ids)
    return out


def translation(label: str, lang: str, msgid: str) -> str | None:
    """The clean human translation of msgid, or None (missing, untranslated, or with format codes)."""
    t = catalog(label, lang).get(msgid)
    if t is None or t == msgid or not clean_message(t):
        return None
    return t


def pairs(lang: str) -> list[tuple[str, str, str]]:
    """(label, English, translation) for all catalogs, deduplicated on both sides, in a fixed order."""
    seen_en: set[str] = set()
    seen_x: set[str] = set()
    out = []
    for label, msgids in sorted(english_messages().items()):
        for msgid in msgids:
            t = translation(label, lang, msgid)
            if t is None:
                continue
            ke, kx = norm(msgid), norm(t)
            if not ke or not kx or ke in seen_en or kx in seen_x:
                continue
            seen_en.add(ke)
            seen_x.add(kx)
            out.append((label, msgid, t))
    return out
