"""Cross-lingual alignment (xstilts.alignment): corpora in three formats and their errors, the loss lowering the
distance of linked words on held-out pairs of a tiny model, the `xstilts align` command, and alignment settings in a
spec (a chain of phases, target jobs unchanged elsewhere, continual batches, the forgetting diagnostics)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import WORDS, toy_corpus

# A toy "language": every word of the toy vocabulary stands for another one (a fixed permutation), so each pair's
# words are linked i-i and a tiny random model starts with unrelated vectors for the two sides.
CIPHER = dict(zip(WORDS, WORDS[7:] + WORDS[:7], strict=True))


def toy_pairs(n: int, offset: int = 0) -> list[tuple[str, str]]:
    sentences = toy_corpus(n + offset)[offset : offset + n]
    return [(" ".join(CIPHER[w] for w in s.split()), s) for s in sentences]


def write_pipes(path: Path, pairs: list[tuple[str, str]], links: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{x} ||| {e}\n" for x, e in pairs), encoding="utf-8")
    if links:
        path.with_suffix(".links").write_text(
            "".join(" ".join(f"{i}-{i}" for i in range(len(e.split()))) + "\n" for _, e in pairs), encoding="utf-8"
        )
    return path


# -- corpora -----------------------------------------------------------------------------------------------------


def test_the_three_formats_give_the_same_pairs(tmp_path):
    from xstilts.alignment.corpus import read_corpus

    pairs = [("ein guter Film", "a good movie"), ("der Hund läuft", "the dog runs")]
    write_pipes(tmp_path / "pipes" / "de-en.txt", pairs)
    (tmp_path / "moses").mkdir()
    (tmp_path / "moses" / "de-en.de").write_text("".join(x + "\n" for x, _ in pairs), encoding="utf-8")
    (tmp_path / "moses" / "de-en.en").write_text("".join(e + "\n" for _, e in pairs), encoding="utf-8")
    (tmp_path / "jsonl").mkdir()
    (tmp_path / "jsonl" / "de-en.jsonl").write_text(
        "".join(json.dumps({"de": x, "en": e, "links": "0-0 1-1 2-2"}) + "\n" for x, e in pairs), encoding="utf-8"
    )
    got = {fmt: read_corpus(str(tmp_path / fmt), "de").pairs for fmt in ("pipes", "moses", "jsonl")}
    for fmt, ps in got.items():
        assert [(p.words, p.english) for p in ps] == [(x.split(), e.split()) for x, e in pairs], fmt
    assert got["pipes"][0].links == [(0, 0), (1, 1), (2, 2)]
    assert got["jsonl"][1].links == [(0, 0), (1, 1), (2, 2)]
    assert got["moses"][0].links is None  # computed later, by the model's similarities
    # {lang} in a path, and one file for one language
    assert len(read_corpus(str(tmp_path / "pipes" / "{lang}-en.txt"), "de", many=True).pairs) == 2
    assert len(read_corpus(str(tmp_path / "pipes" / "de-en.txt"), "de").pairs) == 2


def test_links_are_one_to_one_and_between_different_words(tmp_path):
    from xstilts.alignment.corpus import read_corpus

    path = write_pipes(tmp_path / "de-en.txt", [("Paris ist groß", "Paris is big"), ("a b", "c d")], links=False)
    path.with_suffix(".links").write_text("0-0 1-1 2-2 2-1\n0-0 1-0\n", encoding="utf-8")
    c = read_corpus(str(path), "de")
    # 0-0 links identical words (Paris): dropped; 2-2 and 2-1 share word 2, 1-1 and 2-1 share English word 1: dropped;
    # the second pair keeps nothing one-to-one and is skipped (counted)
    assert c.pairs == []
    assert c.counts == {"read": 2, "too_long": 0, "no_links": 2, "kept": 0}


BAD = {
    "no_pipes": ("ein Film\n", None, "de-en.txt:1", "no '|||'"),
    "empty_side": ("ein Film ||| \n", None, "de-en.txt:1", "side of the pair is empty"),
    "empty_file": ("\n\n", None, "de-en.txt", "empty alignment corpus"),
    "link_range": ("ein Film ||| a movie\n", "0-0 5-1\n", "de-en.links:1", "out of range"),
    "link_token": ("ein Film ||| a movie\n", "0-0 x\n", "de-en.links:1", "not i-j"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_corpora_are_one_line_naming_file_and_line(case, tmp_path, monkeypatch, capsys):
    text, links, where, what = BAD[case]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "de-en.txt").write_text(text, encoding="utf-8")
    if links is not None:
        (tmp_path / "c" / "de-en.links").write_text(links, encoding="utf-8")
    code, err = _cli(
        monkeypatch, capsys, "align", "--corpus", str(tmp_path / "c"), "--languages", "de", "--out", str(tmp_path / "o")
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert where in err and what in err, err
    assert not (tmp_path / "o").exists()


def test_unknown_language_and_missing_corpus_are_one_line(tmp_path, monkeypatch, capsys):
    code, err = _cli(monkeypatch, capsys, "align", "--corpus", "gettext", "--languages", "xx", "--out", str(tmp_path))
    assert code == 2 and "unknown language 'xx'" in err and len(err.strip().splitlines()) == 1, err
    code, err = _cli(monkeypatch, capsys, "align", "--corpus", "gettext", "--languages", "ja", "--out", str(tmp_path))
    assert code == 2 and "no corpus for language 'ja'" in err and "gettext/train" in err, err
    code, err = _cli(
        monkeypatch,
        capsys,
        "align",
        "--corpus",
        "gettext",
        "--languages",
        "de",
        "--out",
        str(tmp_path),
        "--set",
        "word_vectors=middle",
    )
    assert code == 2 and "alignment setting 'word_vectors'" in err, err


def _cli(monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    from xstilts import cli

    monkeypatch.setenv("COLUMNS", "1000")
    monkeypatch.setattr(sys, "argv", ["xstilts", *argv])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    return int(exit_.value.code or 0), capsys.readouterr().err


def test_the_packaged_gettext_corpus_is_disjoint_from_every_demo_text():
    """No pair of the alignment corpus (train or held-out) shares a side with any demo or selection data text, and
    held-out pairs share no side with training pairs."""
    import re

    from xstilts.alignment.corpus import packaged, read_corpus

    def norm(text: str) -> str:  # scripts/demo_data/catalogs.norm: case, punctuation and spacing ignored
        return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())

    demo: set[str] = set()
    root = Path(__file__).resolve().parents[1] / "src" / "xstilts"

    def walk(v: object) -> None:
        if isinstance(v, str):
            demo.add(norm(v))
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    for folder in ("demo_data", "selection_data"):
        for f in (root / folder).rglob("*.jsonl"):
            for line in f.read_text(encoding="utf-8").splitlines():
                walk(json.loads(line))
    for lang in ("de", "es", "fr", "ru"):
        sides = {}
        for part in ("train", "heldout"):
            pairs = read_corpus(str(packaged(part)), lang, max_words=10**6).pairs
            assert len(pairs) >= 300, (part, lang)
            sides[part] = {norm(" ".join(p.words)) for p in pairs} | {norm(" ".join(p.english)) for p in pairs}
            assert not sides[part] & demo, (part, lang, sorted(sides[part] & demo)[:3])
        assert not sides["train"] & sides["heldout"], lang


# -- the loss on a tiny model ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_alignment_lowers_related_distance_on_held_out_pairs(kind, tiny_models, tmp_path):
    import torch

    from xstilts.alignment.corpus import read_corpus
    from xstilts.alignment.diagnostics import word_distances
    from xstilts.alignment.train import align_encoder, frozen_copy
    from xstilts.defaults import alignment_settings
    from xstilts.modeling.model import load_encoder

    torch.manual_seed(0)
    write_pipes(tmp_path / "train" / "de-en.txt", toy_pairs(160))
    write_pipes(tmp_path / "heldout" / "de-en.txt", toy_pairs(60, offset=200))
    encoder, tok = load_encoder(str(tiny_models[kind]))
    reference = frozen_copy(encoder)
    settings = alignment_settings({"batch_size": 16, "num_epochs": 3, "learning_rate": 1e-3}, "test")
    train = {"de": read_corpus(str(tmp_path / "train"), "de").pairs}
    heldout = read_corpus(str(tmp_path / "heldout"), "de").pairs
    before = word_distances(encoder, reference, tok, heldout)
    loop = align_encoder(encoder, tok, train, settings, seed=0, progress=False)
    after = word_distances(encoder, reference, tok, heldout)
    assert loop["steps"] == 30 and loop["last_loss"] < loop["first_loss"]
    assert before["english_drift"] == 0.0
    assert after["related_l2"] < 0.8 * before["related_l2"], (before, after)
    # the gap to unrelated words grows: related pairs come closer than unrelated ones
    assert after["unrelated_l2"] / after["related_l2"] > before["unrelated_l2"] / before["related_l2"]
    assert 0.0 < after["english_drift"] < 1.0


def test_argmax_links_find_a_cipher_once_the_model_is_aligned(tiny_models, tmp_path):
    """Links from the model's own similarities (both directions' argmax): on an aligned model they recover the
    cipher's i-i links far more often than on the random start."""
    from xstilts.alignment.corpus import read_corpus
    from xstilts.alignment.train import align_encoder
    from xstilts.alignment.vectors import argmax_links
    from xstilts.defaults import alignment_settings
    from xstilts.modeling.model import load_encoder

    write_pipes(tmp_path / "train" / "de-en.txt", toy_pairs(160))
    held = [(x.split(), e.split()) for x, e in toy_pairs(40, offset=200)]
    encoder, tok = load_encoder(str(tiny_models["bert"]))

    def right() -> float:
        links = argmax_links(encoder, tok, held, layer=2)
        return sum(i == j for ls in links for i, j in ls) / sum(len(e) for _, e in held)

    start = right()
    settings = alignment_settings({"batch_size": 16, "num_epochs": 3, "learning_rate": 1e-3}, "test")
    align_encoder(encoder, tok, {"de": read_corpus(str(tmp_path / "train"), "de").pairs}, settings, 0, False)
    assert right() > start + 0.2


# -- the command and the spec ------------------------------------------------------------------------------------


def test_the_align_command_writes_a_checkpoint_with_its_record(tiny_models, tmp_path, monkeypatch, capsys):
    write_pipes(tmp_path / "c" / "de-en.txt", toy_pairs(64), links=False)  # links computed (argmax)
    write_pipes(tmp_path / "h" / "de-en.txt", toy_pairs(20, offset=100))
    code, err = _cli(
        monkeypatch,
        capsys,
        "align",
        "--model",
        str(tiny_models["xlmr"]),
        "--corpus",
        str(tmp_path / "c"),
        "--languages",
        "de",
        "--heldout",
        str(tmp_path / "h"),
        "--out",
        str(tmp_path / "o"),
        "--set",
        "batch_size=16",
        "--quiet",
    )
    assert code == 0, err
    rec = json.loads((tmp_path / "o" / "phase.json").read_text())
    assert rec["job"]["kind"] == "align" and rec["data"]["de"]["link_method"] == "argmax"
    assert rec["data"]["de"]["read"] == 64 and rec["train"]["steps"] == 4
    assert set(rec["diagnostics"]["before"]["de"]) >= {"related_l2", "unrelated_l2", "english_drift"}
    from xstilts.paths import is_checkpoint

    assert is_checkpoint(tmp_path / "o")


def _align_spec(tmp_path: Path, corpus: Path, heldout: Path) -> Path:
    align = {"corpus": str(corpus), "languages": ["de"], "heldout": str(heldout), "hyperparameters": {"batch_size": 16}}
    spec = {
        "name": "align-toy",
        "models": [
            {"name": "e5", "path": "embedded", "layers": 2, "retrieval_layer": 2}
        ],  # pruning would read the corpus
        "intermediate": [
            {"name": "none"},
            {"name": "align", "align": align},
            {"name": "task", "tasks": ["demo_wn_entail"]},
            {"name": "align_task", "tasks": ["demo_wn_entail"], "align": align},
            {"name": "task_align", "tasks": ["demo_wn_entail"], "align": {**align, "order": "after"}},
            {"name": "continual", "align": {**align, "continual": True}},
        ],
        "targets": ["demo_topic"],
        "languages": {"demo_topic": ["en", "de"]},
        "splits": ["test"],
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_alignment_settings_plan_as_chains_and_leave_other_targets_unchanged(tmp_path):
    from xstilts.experiments.plan import build_plan
    from xstilts.experiments.spec import load_spec

    write_pipes(tmp_path / "c" / "de-en.txt", toy_pairs(32))
    write_pipes(tmp_path / "h" / "de-en.txt", toy_pairs(8, offset=100))
    spec = load_spec(_align_spec(tmp_path, tmp_path / "c", tmp_path / "h"))
    nodes = {n.id: n for n in build_plan(spec)}

    def chain(setting: str) -> list[str]:
        node = nodes[f"target/e5/{setting}/demo_topic/s0"]
        out = []
        while node.depends_on:
            node = nodes[node.depends_on[0]]
            out.append(node.kind)
        return out[::-1]

    assert chain("none") == [] and chain("align") == ["align"] and chain("task") == ["intermediate"]
    assert chain("align_task") == ["align", "intermediate"] and chain("task_align") == ["intermediate", "align"]
    task_job = nodes["target/e5/task/demo_topic/s0"].job
    assert "alignment" not in task_job and "alignment" not in nodes["target/e5/none/demo_topic/s0"].job
    assert nodes["target/e5/align/demo_topic/s0"].job["alignment"]["continual"] is None
    assert (
        nodes["target/e5/continual/demo_topic/s0"].job["alignment"]["continual"]["settings"]["continual_weight"] == 0.01
    )
    # the same alignment job before the task: one hash whatever the setting's name
    assert nodes["align/e5/align/s0"].hash == nodes["align/e5/align_task/s0"].hash
    # a line of the corpus changes the alignment nodes and everything after them, nothing else
    before = {i: n.hash for i, n in nodes.items()}
    text = (tmp_path / "c" / "de-en.txt").read_text(encoding="utf-8")
    (tmp_path / "c" / "de-en.txt").write_text(text.replace("|||", "x |||", 1), encoding="utf-8")
    after = {n.id: n.hash for n in build_plan(load_spec(_align_spec(tmp_path, tmp_path / "c", tmp_path / "h")))}
    changed = {i for i in before if before[i] != after[i]}
    assert changed and all("/align" in i or "/continual/" in i or "/task_align/" in i for i in changed), changed


def test_a_bad_align_block_is_exit_2_at_load(tmp_path, monkeypatch, capsys):
    write_pipes(tmp_path / "c" / "de-en.txt", toy_pairs(8))
    path = _align_spec(tmp_path, tmp_path / "c", tmp_path / "c")
    spec = yaml.safe_load(path.read_text())
    spec["intermediate"][1]["align"]["languages"] = ["qq"]
    path.write_text(yaml.safe_dump(spec))
    code, err = _cli(monkeypatch, capsys, "plan", str(path))
    assert code == 2 and "unknown language 'qq'" in err and str(path) in err, err


@pytest.mark.slow
def test_the_align_demo_preset_rehearses_and_reports_the_diagnostics(tmp_path):
    """`xstilts rehearse experiments/align-demo.yaml` (tiny models, the real gettext corpus): every aligned setting's
    diagnostics at the three stages in alignment.json and the report, and continual batches in its target phase."""
    from tests.test_rehearse import ROOT, rehearse

    out = tmp_path / "r"
    proc = rehearse(ROOT / "experiments" / "align-demo.yaml", out, "model=e5-small")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads((out / "alignment.json").read_text())["rows"]
    assert {r["setting"] for r in rows} == {"align", "align_task", "align_continual"}
    for setting in ("align", "align_task", "align_continual"):
        stages = {r["stage"] for r in rows if r["setting"] == setting}
        assert stages == {"before", "after alignment", "after target"}, setting
        assert {r["language"] for r in rows if r["setting"] == setting} == {"de", "es", "fr", "ru"}
    assert {r["target"] for r in rows if r["stage"] == "after target"} == {"demo_topic"}  # the trained target
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Cross-lingual alignment: word distances" in report
    (continual,) = (out / "nodes").glob("target-e5-small-align_continual-demo_topic-s0-*")
    rec = json.loads((continual / "phase.json").read_text())
    assert rec["data"]["continual_alignment"]["batches"] == rec["train"]["micro_batches"]
    (plain,) = (out / "nodes").glob("target-e5-small-align-demo_topic-s0-*")
    assert "continual_alignment" not in json.loads((plain / "phase.json").read_text())["data"]
