"""The committed offline demo tasks: specs load, every file parses, and the properties each design promises hold."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from xstilts.data.local import read_local
from xstilts.tasks import get_task

ROOT = Path(__file__).resolve().parent.parent
DEFS = ROOT / "src" / "xstilts" / "tasks" / "defs" / "demo"
DATA = ROOT / "src" / "xstilts" / "demo_data"
UPOS = {
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
}
TARGETS = ["demo_tatoeba", "demo_bucc", "demo_pos", "demo_topic", "demo_qa"]
INTERMEDIATES = ["demo_wn_entail", "demo_wn_gloss", "demo_wn_define", "demo_wn_supersense"]
FILE_RE = re.compile(r"^(train|dev|test)\.([a-z]{2})\.jsonl$")


def task_names() -> list[str]:
    return sorted(p.stem for p in DEFS.glob("*.yaml"))


def files_of(name: str) -> dict[tuple[str, str], Path]:
    out = {}
    for p in sorted((DATA / name).glob("*.jsonl")):
        m = FILE_RE.match(p.name)
        assert m, f"unexpected file name {p}"
        out[(m.group(1), m.group(2))] = p
    return out


def load(name: str, split: str, lang: str) -> list:
    spec = get_task(name)
    return read_local(spec.local_dir, split, lang, spec.family)


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def test_every_planned_task_has_a_yaml():
    assert task_names() == sorted(TARGETS + INTERMEDIATES)


@pytest.mark.parametrize("name", TARGETS + INTERMEDIATES)
def test_spec_loads_and_points_at_its_files(name):
    spec = get_task(name)
    assert spec.name == name
    assert Path(spec.local_dir) == (DATA / name).resolve()
    assert "NOT the real benchmark" in spec.description
    assert spec.license
    files = files_of(name)
    # Exactly the files the spec promises: its splits x languages (train in English only).
    expected = set()
    for split in spec.splits:
        for lang in ["en"] if split == "train" or spec.role == "intermediate" else spec.languages:
            expected.add((split, lang))
    assert set(files) == expected
    if spec.role == "intermediate":
        assert spec.languages == ["en"] and spec.splits == ["train", "dev"]


@pytest.mark.parametrize("name", TARGETS + INTERMEDIATES)
def test_every_file_parses(name):
    spec = get_task(name)
    for (split, lang), path in files_of(name).items():
        rows = read_local(spec.local_dir, split, lang, spec.family)
        assert rows, path
        # Exactly the dataclass fields, nothing else (read_local rejects unknown fields; this checks none is missing).
        first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
        assert set(first) == set(type(rows[0]).__dataclass_fields__)


def test_target_language_coverage():
    assert len(get_task("demo_tatoeba").languages) >= 8
    assert len(get_task("demo_bucc").languages) >= 5
    # en first, then the other evaluation languages: pos >= 5 in all, topic >= 5 besides en, qa >= 4 besides en.
    for name, minimum in [("demo_pos", 5), ("demo_topic", 6), ("demo_qa", 5)]:
        langs = get_task(name).languages
        assert langs[0] == "en" and len(langs) >= minimum
    for name in TARGETS:
        assert "zh_CN" not in get_task(name).languages


def test_sizes():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total <= 20 * 1024 * 1024
    for name in TARGETS + INTERMEDIATES:
        for (split, _lang), path in files_of(name).items():
            n = sum(1 for line in path.open(encoding="utf-8") if line.strip())
            limit = {"train": 2000, "dev": 450, "test": 1000}[split]
            assert n <= limit, (path, n)
    for name in INTERMEDIATES:
        assert len(load(name, "train", "en")) == 2000
        assert len(load(name, "dev", "en")) == 300


def test_manifest_matches_files():
    manifest = json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["tasks"]) == sorted(TARGETS + INTERMEDIATES)
    for name, info in manifest["tasks"].items():
        for fname, count in info["files"].items():
            lines = (DATA / name / fname).read_text(encoding="utf-8").splitlines()
            assert len(lines) == count


@pytest.mark.parametrize("name", ["demo_qa", "demo_wn_define"])
def test_span_answers_are_exact_context_spans(name):
    spec = get_task(name)
    for split, lang in files_of(name):
        for ex in read_local(spec.local_dir, split, lang, spec.family):
            assert ex.answers
            for a in ex.answers:
                assert a.text and ex.context[a.answer_start : a.answer_start + len(a.text)] == a.text


def test_qa_questions_are_parallel_across_languages_and_countries_disjoint():
    titles = {}
    for split in ["dev", "test"]:
        en = load("demo_qa", split, "en")
        for lang in get_task("demo_qa").languages[1:]:
            other = load("demo_qa", split, lang)
            assert [e.title for e in other] == [e.title for e in en]
            assert any(e.question != o.question for e, o in zip(en, other, strict=False))
        titles[split] = {e.title for e in en}
    titles["train"] = {e.title for e in load("demo_qa", "train", "en")}
    assert not titles["train"] & titles["test"] and not titles["train"] & titles["dev"]


def test_topic_has_no_train_test_overlap_and_balanced_classes():
    spec = get_task("demo_topic")
    train = load("demo_topic", "train", "en")
    train_keys = {norm(e.text_a) for e in train}
    for split in ["dev", "test"]:
        en = load("demo_topic", split, "en")
        assert not train_keys & {norm(e.text_a) for e in en}
        for lang in spec.languages:
            rows = load("demo_topic", split, lang)
            counts = Counter(e.label for e in rows)
            assert set(counts) == set(spec.labels) and len(set(counts.values())) == 1
            # Same held-out messages in the same order in every language.
            assert [e.label for e in rows] == [e.label for e in en]
            if lang != "en":
                assert not train_keys & {norm(e.text_a) for e in rows}
    counts = Counter(e.label for e in train)
    assert set(counts) == set(spec.labels) and len(set(counts.values())) == 1
    dev_keys = {norm(e.text_a) for e in load("demo_topic", "dev", "en")}
    assert not dev_keys & {norm(e.text_a) for e in load("demo_topic", "test", "en")}


@pytest.mark.parametrize("name", ["demo_tatoeba", "demo_bucc"])
def test_retrieval_golds_unique(name):
    for lang in get_task(name).languages:
        seen_text = {}
        for split in ["dev", "test"]:
            rows = load(name, split, lang)
            gold = [r for r in rows if r.source is not None and r.target is not None]
            src = [r for r in rows if r.source is not None]
            tgt = [r for r in rows if r.target is not None]
            assert gold
            for side in (src, tgt):
                ids = [r.source_id if side is src else r.target_id for r in side]
                assert all(ids) and len(set(ids)) == len(ids)
            assert len({r.source for r in src}) == len(src)
            assert len({norm(r.target) for r in tgt}) == len(tgt)
            # Distractor rows leave the other side empty (id "" and text None).
            for r in rows:
                assert (r.source is None) == (r.source_id == "") and (r.target is None) == (r.target_id == "")
            if name == "demo_tatoeba":
                assert len(gold) == len(rows)
            else:
                assert len(src) > len(gold) and len(tgt) > len(gold)
            seen_text[split] = {r.source for r in src}
        assert not seen_text["dev"] & seen_text["test"]


@pytest.mark.parametrize("name", ["demo_pos", "demo_wn_supersense"])
def test_tags_are_in_the_label_set(name):
    spec = get_task(name)
    used = set()
    for split, lang in files_of(name):
        for ex in read_local(spec.local_dir, split, lang, spec.family):
            assert ex.tags and len(ex.tags) == len(ex.tokens)
            assert all(t.strip() and " " not in t for t in ex.tokens)
            used.update(ex.tags)
    assert used == set(spec.labels)
    if name == "demo_pos":
        assert used <= UPOS
    else:
        assert spec.labels[0] == "O"


def test_pos_turkish_is_the_gold_treebank():
    rows = load("demo_pos", "test", "tr") + load("demo_pos", "dev", "tr")
    assert len({r.guid for r in rows}) == len(rows)  # guids are the treebank's sent_ids
    tags = Counter(t for r in rows for t in r.tags)
    assert tags["CCONJ"] > 0 and "CONJ" not in tags and "PRT" not in tags
    pytest.importorskip("turkish_treebanks")
    from importlib.metadata import distribution

    dist = distribution("turkish-treebanks")
    gold = {}
    for f in dist.files or []:
        if str(f).endswith(".conllu"):
            for block in Path(dist.locate_file(f)).read_text(encoding="utf-8").split("\n\n"):
                sid = re.search(r"^# sent_id = (.+)$", block, re.M)
                cols = [line.split("\t") for line in block.splitlines() if line[:1].isdigit()]
                if sid:
                    gold[sid.group(1).strip()] = ([c[1] for c in cols], [c[3] for c in cols])
    renamed = {"CONJ": "CCONJ", "PRT": "PART", "ONOM": "INTJ", "AFFIX": "X"}
    for r in rows:
        forms, upos = gold[r.guid]
        assert r.tokens == forms and r.tags == [renamed.get(t, t) for t in upos]


def test_entailment_labels_balanced_and_multiple_choice_well_formed():
    for split in ["train", "dev"]:
        counts = Counter(e.label for e in load("demo_wn_entail", split, "en"))
        assert set(counts) == {"entailment", "neutral", "contradiction"}
        assert max(counts.values()) - min(counts.values()) <= 1
        rows = load("demo_wn_gloss", split, "en")
        assert all(len(e.choices) == 4 and len(set(e.choices)) == 4 for e in rows)
        # The right answer's position is not a constant.
        assert len(Counter(e.label for e in rows)) == 4


def test_intermediate_dev_headwords_unseen_in_train():
    def heads(split: str) -> set[str]:
        return {re.search(r'"(.+)"', e.question).group(1).lower() for e in load("demo_wn_gloss", split, "en")}

    # Surface forms can coincide across lemmas (e.g. "left"), so require near-disjointness, not zero overlap.
    overlap = heads("train") & heads("dev")
    assert len(overlap) <= 0.05 * len(heads("dev"))


def _sources_available() -> bool:
    try:
        import pycountry  # noqa: F401
        import turkish_treebanks  # noqa: F401
    except ImportError:
        return False
    return (
        all(shutil.which(t) for t in ["lt-proc", "apertium-tagger", "cg-proc"]) and Path("/usr/share/wordnet").is_dir()
    )


def _digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.suffix in (".jsonl", ".yaml")
    }


@pytest.mark.slow
@pytest.mark.skipif(
    not _sources_available(), reason="demo data sources (apertium, wordnet-base, pycountry, ...) not installed"
)
def test_rebuild_is_byte_identical(tmp_path):
    out, defs = tmp_path / "data", tmp_path / "defs"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_demo_data.py"),
            "--no-install",
            "--out",
            str(out),
            "--defs",
            str(defs),
        ],
        check=True,
        capture_output=True,
    )
    assert _digest(out) == {k: v for k, v in _digest(DATA).items() if k.endswith(".jsonl")}
    assert _digest(defs) == _digest(DEFS)
