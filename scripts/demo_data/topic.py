"""demo_topic: which software catalog does an interface message come from? Train on English, test on translations."""

from __future__ import annotations

from typing import Any

from demo_data.catalogs import english_messages, norm, translation
from demo_data.common import consecutive, shuffled
from xstilts.families.examples import SentenceExample

# Languages whose catalogs translate all five packages (coreutils is the sparse one).
TOPIC_LANGS = "de es fr ja ko ru tr zh".split()
HELD_OUT = {"dev": 25, "test": 50}  # per class
MAX_TRAIN_PER_CLASS = 400


def labels() -> list[str]:
    return sorted(english_messages())


def _unambiguous() -> dict[str, list[str]]:
    """Messages per class; a message found in two classes is dropped (its label would be a coin flip), except that
    GTK 2 catalogs still carry copies of gdk-pixbuf's loader messages (gdk-pixbuf was split out of GTK): those stay
    with gdk-pixbuf, the package that ships them as its own."""
    by_class = english_messages()
    owners: dict[str, set[str]] = {}
    for label, msgs in by_class.items():
        for m in msgs:
            owners.setdefault(norm(m), set()).add(label)
    out = {}
    for label, msgs in by_class.items():
        seen: set[str] = set()
        keep = []
        for m in msgs:
            k = norm(m)
            own = owners[k] == {label} or (owners[k] == {"gtk", "gdk-pixbuf"} and label == "gdk-pixbuf")
            if own and k not in seen:
                seen.add(k)
                keep.append(m)
        out[label] = keep
    return out


def build_topic() -> dict[tuple[str, str], list[Any]]:
    out: dict[tuple[str, str], list[Any]] = {}
    held: dict[str, dict[str, list[str]]] = {s: {} for s in HELD_OUT}
    train_pool: dict[str, list[str]] = {}
    for label, msgs in sorted(_unambiguous().items()):
        msgs = shuffled(msgs, "demo_topic", label)
        # Held-out messages are ones every test language translates, so each language tests the same messages.
        full = [m for m in msgs if all(translation(label, lang, m) for lang in TOPIC_LANGS)]
        for split, chunk in consecutive(full, HELD_OUT).items():
            held[split][label] = chunk
        used = {m for s in held for m in held[s][label]}
        train_pool[label] = [m for m in msgs if m not in used]
    n_train = min(MAX_TRAIN_PER_CLASS, *(len(v) for v in train_pool.values()))
    train = [(label, m) for label in sorted(train_pool) for m in train_pool[label][:n_train]]
    out[("train", "en")] = [
        SentenceExample(guid=f"train-en-{i:05d}", text_a=m, label=label)
        for i, (label, m) in enumerate(shuffled(train, "demo_topic", "train"))
    ]
    for split in HELD_OUT:
        n = min(len(v) for v in held[split].values())  # balanced even if a class ran short
        rows = shuffled(
            [(label, m) for label in sorted(held[split]) for m in held[split][label][:n]], "demo_topic", split
        )
        for lang in ["en", *TOPIC_LANGS]:
            out[(split, lang)] = [
                SentenceExample(
                    guid=f"{split}-{lang}-{i:05d}",
                    text_a=m if lang == "en" else translation(label, lang, m),
                    label=label,
                )
                for i, (label, m) in enumerate(rows)
            ]
    return out
