"""Pretraining data size per language, where a public source gives it, for grouping gains by resource level.

XLM-R: CC-100 size in GiB from Conneau et al. 2020 ("Unsupervised Cross-lingual Representation Learning at Scale",
ACL 2020), Appendix A, Table 6, as transcribed in github.com/mayhewsw/multilingual-data-stats (cc-100/cc-100.csv).
Only the languages of xstilts.languages.LANGUAGE_INFO are listed. Caveats: `zh` uses the Simplified Chinese row
(Traditional is a separate 16.6 GiB row); Burmese has two rows in the table (0.4 and 1.6 GiB, one of them the Zawgyi
encoding) so `my` is left unknown; Yoruba is not one of CC-100's languages. Other models (mBERT, ...): unknown here.
"""

from __future__ import annotations

CC100_GIB: dict[str, float] = {
    "af": 1.3,
    "ar": 28.0,
    "bg": 57.5,
    "bn": 8.4,
    "ca": 10.1,
    "de": 66.6,
    "el": 46.9,
    "en": 300.8,
    "es": 53.3,
    "et": 6.1,
    "eu": 2.0,
    "fa": 111.6,
    "fi": 54.3,
    "fr": 56.8,
    "he": 31.6,
    "hi": 20.2,
    "hu": 58.4,
    "id": 148.3,
    "it": 30.2,
    "ja": 69.3,
    "jv": 0.2,
    "ka": 9.1,
    "kk": 6.4,
    "ko": 54.2,
    "ml": 7.6,
    "mr": 2.8,
    "ms": 8.5,
    "nl": 29.3,
    "pt": 49.1,
    "ru": 278.0,
    "sw": 1.6,
    "ta": 12.2,
    "te": 4.7,
    "th": 71.7,
    "tl": 3.1,
    "tr": 20.9,
    "ur": 5.7,
    "vi": 137.3,
    "zh": 46.9,
}
NOT_IN_CC100 = frozenset({"yo"})

# Bucket edges in GiB, low to high; a size falls in the first bucket whose upper edge exceeds it.
SIZE_BUCKETS: tuple[tuple[float, str], ...] = (
    (1.0, "CC-100 < 1 GiB"),
    (10.0, "CC-100 1-10 GiB"),
    (100.0, "CC-100 10-100 GiB"),
    (float("inf"), "CC-100 >= 100 GiB"),
)
UNKNOWN = "unknown"


def uses_cc100(model: str) -> bool:
    """True for XLM-R checkpoints (pretrained on CC-100), recognised by name."""
    name = model.lower().replace("_", "-")
    return "xlm-roberta" in name or "xlm-r" in name or "xlmr" in name


def pretraining_bucket(model: str, lang: str) -> str:
    """The pretraining-size bucket of `lang` for `model`, or `unknown` when no source gives the size."""
    if not uses_cc100(model):
        return UNKNOWN
    if lang in NOT_IN_CC100:
        return "not in CC-100"
    size = CC100_GIB.get(lang)
    if size is None:
        return UNKNOWN
    return next(label for edge, label in SIZE_BUCKETS if size < edge)


def bucket_order() -> list[str]:
    """Buckets from least to most data, then the unplaced ones: the column order of the report."""
    return ["not in CC-100", *[label for _, label in SIZE_BUCKETS], UNKNOWN]
