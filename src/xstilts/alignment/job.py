"""An alignment phase as a job (torch-free, so `xstilts plan` builds and hashes it without torch): the corpus and its
fingerprint, the languages, every setting, the held-out pairs the diagnostics read, the seed."""

from __future__ import annotations

from typing import Any

from xstilts.alignment.corpus import GETTEXT, check_languages, corpus_files, packaged
from xstilts.data.fingerprint import file_digest
from xstilts.defaults import alignment_settings


def default_heldout(corpus: str) -> str | None:
    """The held-out pairs of a corpus for the diagnostics: the packaged gettext corpus has its own; others none."""
    return str(packaged("heldout")) if corpus == GETTEXT else None


def _line_count(path: str) -> int:
    """Lines of a corpus file (the cost estimate's pair count), read in blocks."""
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


def fingerprint(
    corpus: str, languages: list[str], files: dict[str, list[str]] | None = None
) -> dict[str, dict[str, str]]:
    """language -> file -> content hash, of every file the corpus gives that language (`files`: corpus_files's)."""
    files = corpus_files(corpus, languages) if files is None else files
    return {lang: {f: file_digest(f) for f in names} for lang, names in files.items()}


def alignment_job(
    corpus: str,
    languages: list[str],
    overrides: dict[str, Any],
    seed: int,
    heldout: str | None = None,
    trust_remote_code: bool = False,
    where: str = "alignment",
) -> dict[str, Any]:
    """The resolved job of one alignment phase; the corpus is read for its files here (a missing one: a UserError)."""
    check_languages(languages)
    heldout = heldout if heldout is not None else default_heldout(corpus)
    files = corpus_files(corpus, languages)  # located once: the fingerprint and the cost estimate's line counts
    job: dict[str, Any] = {
        "kind": "align",
        "seed": seed,
        "corpus": corpus,
        "languages": list(languages),
        "settings": alignment_settings(overrides, where),
        "data": fingerprint(corpus, languages, files),
        "lines": {lang: _line_count(names[0]) for lang, names in files.items()},
        "heldout": heldout,
        "heldout_data": fingerprint(heldout, languages) if heldout else None,
        "trust_remote_code": trust_remote_code,
    }
    return job


def continual_job(align: dict[str, Any]) -> dict[str, Any]:
    """What a target phase needs to mix alignment batches in: the corpus, its languages and fingerprint, the settings."""
    return {k: align[k] for k in ("corpus", "languages", "settings", "data", "seed")}


def diagnose_job(align: dict[str, Any]) -> dict[str, Any] | None:
    """What a target phase needs to measure the alignment it kept (None: the corpus has no held-out pairs)."""
    if not align["heldout"]:
        return None
    return {k: align[k] for k in ("heldout", "heldout_data", "languages", "settings")}
