"""The featurization cache: a hit returns exactly what a fresh featurization returns; any change of tokenizer, settings,
examples or labels misses."""

from __future__ import annotations

import dataclasses

import pytest

from xstilts.data import cache as C
from xstilts.data.load import load_examples
from xstilts.defaults import phase_defaults
from xstilts.families.table import featurize
from xstilts.modeling.model import load_encoder
from xstilts.tasks import get_task

SETTINGS = {**phase_defaults("intermediate"), "max_seq_length": 48, "doc_stride": 16}


def _no_featurize(*a, **k):
    raise AssertionError("featurized although the cache should have hit")


@pytest.mark.parametrize("task_name", ["toy_pair", "toy_mc", "toy_span", "toy_tag", "toy_reg"])
@pytest.mark.parametrize("train", [True, False])
def test_hit_equals_fresh(task_name, train, tiny_models, toy_tasks, tmp_path, monkeypatch):
    task = get_task(task_name)
    _, tok = load_encoder(str(tiny_models["xlmr"]))
    examples = load_examples(task, "train", "en")[:40]
    fresh = featurize(task.family, examples, tok, task.labels, SETTINGS, train)
    first = C.featurize_cached(task.family, examples, tok, task.labels, SETTINGS, train, cache_dir=tmp_path)
    assert first == fresh
    assert len(list(tmp_path.rglob("*.npz"))) == 1
    monkeypatch.setattr(C, "featurize", _no_featurize)
    hit = C.featurize_cached(task.family, examples, tok, task.labels, SETTINGS, train, cache_dir=tmp_path)
    assert hit == fresh


def test_changes_miss(tiny_models, toy_tasks, tmp_path):
    task = get_task("toy_pair")
    _, bert = load_encoder(str(tiny_models["bert"]))
    _, xlmr = load_encoder(str(tiny_models["xlmr"]))
    examples = load_examples(task, "train", "en")[:30]

    def entries():
        return len(list(tmp_path.rglob("*.npz")))

    C.featurize_cached(task.family, examples, bert, task.labels, SETTINGS, True, cache_dir=tmp_path)
    assert entries() == 1
    C.featurize_cached(task.family, examples, bert, task.labels, SETTINGS, True, cache_dir=tmp_path)
    assert entries() == 1  # hit
    C.featurize_cached(task.family, examples, xlmr, task.labels, SETTINGS, True, cache_dir=tmp_path)
    assert entries() == 2  # another tokenizer
    C.featurize_cached(
        task.family, examples, bert, task.labels, {**SETTINGS, "max_seq_length": 24}, True, cache_dir=tmp_path
    )
    assert entries() == 3  # another max length
    changed = [dataclasses.replace(examples[0], text_a=examples[0].text_a + " red")] + examples[1:]
    out = C.featurize_cached(task.family, changed, bert, task.labels, SETTINGS, True, cache_dir=tmp_path)
    assert entries() == 4  # another example text
    assert out == featurize(task.family, changed, bert, task.labels, SETTINGS, True)
    C.featurize_cached(task.family, examples, bert, list(reversed(task.labels)), SETTINGS, True, cache_dir=tmp_path)
    assert entries() == 5  # another label order


def test_tokenizer_fingerprint_sees_vocab(tiny_models, tmp_path):
    _, tok = load_encoder(str(tiny_models["bert"]))
    before = C.tokenizer_fingerprint(tok)
    _, tok2 = load_encoder(str(tiny_models["bert"]))
    assert C.tokenizer_fingerprint(tok2) == before  # stable across loads
    tok2.add_tokens(["zzzword"])
    tok2._xstilts_fingerprint = None
    assert C.tokenizer_fingerprint(tok2) != before


def test_mlm_text_and_default_location(tiny_models, tmp_path, monkeypatch):
    from xstilts.families.examples import TextExample

    monkeypatch.setenv("XSTILTS_HOME", str(tmp_path / "home"))
    _, tok = load_encoder(str(tiny_models["bert"]))
    examples = [TextExample(guid=str(i), text=t) for i, t in enumerate(["the red cat", "a good movie runs"])]
    out = C.featurize_cached("mlm", examples, tok, None, SETTINGS, True)
    assert out == featurize("mlm", examples, tok, None, SETTINGS, True)
    assert list((tmp_path / "home" / "features").rglob("*.npz"))
