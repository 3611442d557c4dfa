"""Spec-level selection: which settings each (model, target) keeps and why the others are pruned."""

from __future__ import annotations

import pytest

from xstilts.errors import UserError
from xstilts.selection.prune import SelectionSpec, decide, kept_intermediate

SETTINGS = {"none": [], "s_a": ["a"], "s_b": ["b"], "s_c": ["c"], "s_d": ["d"], "mix": ["a", "b"]}


def ranking(method, target, order, model="m1", aliases=()):
    return {
        "method": method,
        "target": target,
        "model": model,
        "model_aliases": list(aliases),
        "file": "r.json",
        "candidates": [{"name": c, "score": -i} for i, c in enumerate(order)],
    }


def test_top_k_kept_baseline_and_mixtures_never_pruned():
    sel = SelectionSpec(method="logme", top_k=2, targets={"t2": {"method": "textemb", "top_k": 1}})
    rankings = [
        ranking("logme", "t1", ["c", "a", "d", "b"]),
        ranking("textemb", "t2", ["d", "c", "a", "b"]),
        ranking("logme", "t2", ["a", "b", "c", "d"]),
    ]
    d1, d2 = decide(sel, ["m1"], ["t1", "t2"], SETTINGS, rankings)
    assert d1.kept == ["none", "s_a", "s_c", "mix"]
    assert set(d1.pruned) == {"s_b", "s_d"} and "#4 of 4" in d1.pruned["s_b"] and "logme" in d1.pruned["s_b"]
    assert (d2.method, d2.top_k) == ("textemb", 1)
    assert d2.kept == ["none", "s_d", "mix"]
    assert kept_intermediate([d1, d2]) == {"m1": {"none", "s_a", "s_c", "s_d", "mix"}}


def test_model_alias_and_model_subsets():
    sel = SelectionSpec(method="logme", top_k=1)
    rankings = [ranking("logme", "t1", ["b", "a"], model="embedded", aliases=["m1"])]
    (d,) = decide(sel, ["m1"], ["t1"], SETTINGS, rankings, model_settings={"m1": ["none", "s_a", "s_b"]})
    assert d.kept == ["none", "s_b"] and list(d.pruned) == ["s_a"]


def test_missing_ranking_is_a_user_error():
    with pytest.raises(UserError, match="no 'logme' ranking for target 't1'"):
        decide(SelectionSpec(), ["m1"], ["t1"], SETTINGS, [ranking("textemb", "t1", ["a"])])
