"""Learnable toy tasks of every family (uniform JSONL + task YAML), generated deterministically for tests."""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from xstilts.data.local import write_jsonl
from xstilts.families.examples import (
    Answer,
    BitextExample,
    ChoiceExample,
    SentenceExample,
    SpanExample,
    TagExample,
    TextExample,
)

FILLER = "the a movie film cat dog runs jumps very and it this that".split()
COLORS = ["red", "blue", "green"]
NUMS = ["one", "two", "three", "four", "five"]


def _filler(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(FILLER) for _ in range(n)]


def sentiment(rng, i):
    lab = rng.choice(["pos", "neg"])
    words = _filler(rng, 4) + ["good" if lab == "pos" else "bad"] + _filler(rng, 3)
    rng.shuffle(words)
    return SentenceExample(guid=f"c{i}", text_a=" ".join(words), label=lab)


def pair(rng, i):
    a, neg = rng.choice(COLORS), rng.random() < 0.5
    b = f"it is not {a}" if neg else f"it is {a}"
    return SentenceExample(guid=f"p{i}", text_a=f"the {a} cat", text_b=b, label="diff" if neg else "same")


def regression(rng, i):
    k = rng.randint(0, 4)
    words = ["good"] * k + _filler(rng, 5 - k)
    rng.shuffle(words)
    return SentenceExample(guid=f"r{i}", text_a=" ".join(words), label=float(k))


def choice(rng, i):
    c = rng.choice(COLORS)
    opts = list(COLORS)
    rng.shuffle(opts)
    return ChoiceExample(
        guid=f"m{i}", context=f"the color is {c}", question="answer:", choices=opts, label=opts.index(c)
    )


def span(rng, i):
    pre, post = " ".join(_filler(rng, rng.randint(1, 6))), " ".join(_filler(rng, rng.randint(1, 6)))
    ans = rng.choice(COLORS + NUMS)
    ctx = f"{pre} is {ans} {post}"
    return SpanExample(
        guid=f"s{i}", question="what is it", context=ctx, answers=[Answer(text=ans, answer_start=len(pre) + 4)]
    )


def tags(rng, i):
    toks = [rng.choice(FILLER + NUMS) for _ in range(rng.randint(3, 9))]
    return TagExample(guid=f"t{i}", tokens=toks, tags=["NUM" if t in NUMS else "W" for t in toks])


def text(rng, i):
    return TextExample(guid=f"x{i}", text=" ".join(_filler(rng, 8)))


TOY = {
    # name: (family, maker, labels, metric)
    "toy_cls": ("classification", sentiment, ["neg", "pos"], "accuracy"),
    "toy_pair": ("classification", pair, ["diff", "same"], "accuracy"),
    "toy_reg": ("regression", regression, None, "pearson"),
    "toy_mc": ("multiple_choice", choice, None, "accuracy"),
    "toy_span": ("span_qa", span, None, "f1"),
    "toy_tag": ("tagging", tags, ["NUM", "W"], "f1"),
}


def write_toy_tasks(root: Path, n_train: int = 96, n_dev: int = 32) -> None:
    rng = random.Random(0)
    for name, (family, make, labels, metric) in TOY.items():
        d = root / name
        write_jsonl(d / "train.en.jsonl", [make(rng, i) for i in range(n_train)])
        write_jsonl(d / "dev.en.jsonl", [make(rng, i) for i in range(n_dev)])
        # A second "language" for zero-shot evaluation: the same task, other sentences.
        write_jsonl(d / "dev.xx.jsonl", [make(rng, i) for i in range(n_dev)])
        write_jsonl(d / "test.xx.jsonl", [make(rng, i) for i in range(n_dev)])
        write_jsonl(d / "test.en.jsonl", [make(rng, i) for i in range(n_dev)])
        spec = {
            "name": name,
            "role": "intermediate",
            "family": family,
            "metric": metric,
            "local_dir": name,
            "languages": ["en", "xx"],
            "description": "toy task for tests",
            "size": n_train,
        }
        if labels:
            spec["labels"] = labels
        (root / f"{name}.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    # A target trained from toy_cls's data, and a retrieval target.
    (root / "toy_target.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "toy_target",
                "role": "target",
                "family": "classification",
                "labels": ["neg", "pos"],
                "languages": ["en", "xx"],
                "train_from": "toy_cls",
                "head": "toy_cls",  # shares toy_cls's head (as XNLI declares MNLI's `nli`)
                "local_dir": "toy_cls",
                "metric": "accuracy",
                "splits": ["dev", "test"],
            }
        ),
        encoding="utf-8",
    )
    d = root / "toy_retrieval"
    for split in ("dev", "test"):
        rows = [
            BitextExample(source_id=f"s{i}", target_id=f"t{i}", source=f"{w} {w} cat", target=f"the {w} cat")
            for i, w in enumerate(COLORS + NUMS)
        ]
        rows.append(BitextExample(source_id="s_extra", target_id="", source="dog dog dog", target=None))
        write_jsonl(d / f"{split}.xx.jsonl", rows)
    (root / "toy_retrieval.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "toy_retrieval",
                "role": "target",
                "family": "retrieval",
                "languages": ["xx"],
                "metric": "accuracy",
                "local_dir": "toy_retrieval",
                "splits": ["dev", "test"],
            }
        ),
        encoding="utf-8",
    )
    write_jsonl(root / "toy_mlm" / "train.en.jsonl", [text(rng, i) for i in range(64)])
