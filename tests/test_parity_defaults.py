"""Each row of the README's "Parity with the paper's code" table, pinned: a test here fails when a default moves away
from what jiant (the paper's code) or the official XTREME scripts do. The plan-level rows are read off
`xstilts plan experiments/paper.yaml --json`, the command a researcher runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.test_plan_jobs import Ran
from xstilts.data.load import dev_subset
from xstilts.defaults import merge_hyperparameters, phase_defaults
from xstilts.families.featurize import Collator
from xstilts.families.table import featurize
from xstilts.modeling.model import HeadSpec, MultiTaskModel, load_encoder
from xstilts.tasks import get_task
from xstilts.training.loop import TrainTask, train

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "experiments" / "paper.yaml"
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def paper_nodes() -> list[dict]:
    result = Ran("plan", str(PAPER), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["nodes"]


def _phase_hparams(node: dict) -> list[dict]:
    return [t["hparams"] for t in node["job"]["phase"]["tasks"].values()] + [node["job"]["phase"]["loop"]]


def test_qa_and_retrieval_lengths(paper_nodes):
    """jiant c_tokenize_and_cache.sh: 384 for squad_v1/xquad/mlqa/tydiqa, 512 for bucc2018/tatoeba, 256 otherwise;
    XTREME train_qa.sh: 384, doc stride 128; run_bucc2018.sh / run_tatoeba.sh: 512."""
    want = {"xquad": 384, "mlqa": 384, "tydiqa": 384, "bucc2018": 512, "tatoeba": 512}
    seen = set()
    for n in paper_nodes:
        if n["kind"] == "target":
            for hp in _phase_hparams(n):
                assert hp["max_seq_length"] == want.get(n["target"], 256), n["id"]
                assert hp["doc_stride"] == 128 and hp["max_query_length"] == 64
        elif n["kind"] == "evaluation":
            assert n["job"]["evaluation"]["hparams"]["max_seq_length"] == want.get(n["target"], 256), n["id"]
            seen.add(n["target"])
        else:  # the simple runscript's 256 for every intermediate task, SQuAD included
            assert all(hp["max_seq_length"] == 256 for hp in _phase_hparams(n)), n["id"]
    assert set(want) <= seen


def test_intermediate_carries_last_weights_target_best(paper_nodes):
    """jiant simple/runscript.py: eval_every_steps 0 (no evaluation, the last weights); main/runscript.py for targets:
    load_best_model=True, eval every 1000 steps, no_improvements_for_n_evals 30."""
    kinds = {"intermediate": False, "target": True}
    for n in paper_nodes:
        if n["kind"] in kinds:
            for hp in _phase_hparams(n):
                assert hp["restore_best_dev"] is kinds[n["kind"]], n["id"]
    target = phase_defaults("target", "xnli")
    assert (target["eval_every_steps"], target["early_stopping_patience"]) == (1000, 30)


def test_batches_and_epochs():
    """Intermediate: the guide's --train_batch_size 4, no accumulation. Targets: d_write_configs.sh (4 x 8; QA 4 x 4 in
    XTREME's train_qa.sh and jiant's configs) and its epochs."""
    mid = phase_defaults("intermediate")
    assert (mid["batch_size"], mid["grad_accumulation"], mid["num_epochs"], mid["learning_rate"]) == (4, 1, 3.0, 1e-5)
    epochs = {"xnli": 2.0, "pawsx": 5.0, "udpos": 10.0, "panx": 10.0, "xquad": 2.0, "mlqa": 2.0, "tydiqa": 2.0}
    for target, n in epochs.items():
        hp = merge_hyperparameters("target", target)
        accumulation = 4 if target in ("xquad", "mlqa", "tydiqa") else 8
        assert (hp["num_epochs"], hp["batch_size"], hp["grad_accumulation"]) == (n, 4, accumulation), target


def test_early_stopping_reads_the_first_500_dev_examples():
    """xtreme_runconfig_writer.py: eval_subset_num 500, the first examples of the dev set."""
    hp = phase_defaults("target", "xnli")
    assert (hp["max_dev_examples"], hp["dev_subset"]) == (500, "first")
    dev = list(range(2000))
    assert dev_subset(dev, 500, "first") == list(range(500))
    drawn = dev_subset(dev, 500, "random")
    assert len(drawn) == 500 and drawn != list(range(500))


def test_pooler_default_is_jiants():
    """jiant primary.py feeds pooler_output to every head, XLM-R's initialized where the checkpoint has none."""
    assert phase_defaults("intermediate")["pooler"] == phase_defaults("target", "xnli")["pooler"] == "auto"


def test_udpos_pawsx_from_the_official_download(paper_nodes):
    """XTREME scripts/download_data.sh (and jiant's downloader) build UD-POS and PAWS-X; the presets read that layout."""
    for n in paper_nodes:
        if n["kind"] == "evaluation" and n["target"] in ("udpos", "pawsx", "bucc2018"):
            assert n["job"]["evaluation"]["data_dir"] == "data/xtreme-download", n["id"]
            assert n["job"]["evaluation"]["labels"] == []
        if n["kind"] == "target" and n["target"] in ("udpos", "pawsx"):
            assert all(t["data_dir"] == "data/xtreme-download" for t in n["job"]["phase"]["tasks"].values())


def test_tydiqa_trains_on_english_by_default(paper_nodes):
    """XTREME: TyDiQA-GoldP trains on English; jiant's downloader's tydiqa_en holds all nine languages (an option)."""
    for n in paper_nodes:
        if n["kind"] == "target" and n["target"] == "tydiqa":
            assert n["job"]["phase"]["tasks"]["tydiqa"]["source_task"] == "tydiqa_en"


def test_readme_table_names_every_pinned_row():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Parity with the paper's code") :]
    for option in (
        "max_seq_length",
        "max_query_length",
        "restore_best_dev",
        "dev_subset",
        "pooler",
        "allow_hub_udpos",
        "tydiqa_train",
        "grad_accumulation",
    ):
        assert option in section, option


def _toy_train(tiny_models, settings, scores):
    """Train toy_cls with a dev 'evaluation' that returns the given scores in turn; returns (model, result, snapshot
    of the weights after the first evaluation)."""
    task = get_task("toy_cls")
    torch.manual_seed(0)
    enc, tok = load_encoder(str(tiny_models["bert"]))
    model = MultiTaskModel(enc, {"toy_cls": HeadSpec("toy_cls", task.family, task.labels)})
    from xstilts.data.load import load_examples

    feats = featurize(task.family, load_examples(task, "train", "en")[:64], tok, task.labels, settings, train=True)
    calls: list[dict] = []

    def evaluate():
        calls.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return {"accuracy": scores[min(len(calls), len(scores)) - 1]}

    result = train(
        model, [TrainTask("toy_cls", feats, evaluate=evaluate)], Collator(pad_id=tok.pad_token_id), settings, seed=0
    )
    return model, result, calls


def test_restore_best_dev_false_keeps_the_last_weights_and_never_stops(tiny_models, toy_tasks):
    base = {**phase_defaults("intermediate"), "batch_size": 8, "max_seq_length": 32, "eval_every_steps": 2}
    base.update(num_epochs=3, learning_rate=1e-3, early_stopping_patience=1)
    falling = [0.9, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    model, result, calls = _toy_train(tiny_models, {**base, "restore_best_dev": False}, falling)
    assert result.carried_weights == "last" and result.best_step == 2  # recorded, not restored
    assert result.optimizer_steps == 24  # 64 examples / 8 x 3 epochs: patience 1 did not stop it
    last = model.state_dict()
    assert all(torch.equal(last[k], calls[-1][k]) for k in last)
    assert result.dev_metrics["toy_cls"]["accuracy"] == falling[min(len(calls), len(falling)) - 1]

    model, result, calls = _toy_train(tiny_models, {**base, "restore_best_dev": True}, falling)
    assert result.carried_weights == "best_dev" and result.optimizer_steps == 4  # stopped after one worse evaluation
    best = model.state_dict()
    assert all(torch.equal(best[k], calls[0][k]) for k in best)


def test_udpos_from_the_hub_is_refused_unless_asked_and_then_labelled(tmp_path):
    import yaml

    spec = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    del spec["data_dirs"]["udpos"]
    path = tmp_path / "hub-udpos.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    refused = Ran("plan", str(path))
    assert refused.exit_code == 2 and refused.output.count("\n") == 1, refused.output
    assert "udpos/{train,dev,test}-<lang>.tsv" in refused.output and "allow_hub_udpos" in refused.output
    spec["data_options"] = {"allow_hub_udpos": True}
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    nodes = json.loads(Ran("plan", str(path), "--json").output)["nodes"]
    labels = {n["target"]: n["job"]["evaluation"]["labels"] for n in nodes if n["kind"] == "evaluation"}
    assert labels["udpos"] == ["hub-udpos"] and labels["xnli"] == []


def test_jiant_tydiqa_option_trains_on_every_language_and_is_labelled(tmp_path):
    import yaml

    spec = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    spec["data_options"] = {"tydiqa_train": "all_languages"}
    path = tmp_path / "jiant-tydiqa.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    nodes = json.loads(Ran("plan", str(path), "--json").output)["nodes"]
    for n in nodes:
        if n["target"] == "tydiqa" and n["kind"] == "target":
            assert n["job"]["phase"]["tasks"]["tydiqa"]["source_task"] == "tydiqa_all"
        if n["target"] == "tydiqa" and n["kind"] == "evaluation":
            assert n["job"]["evaluation"]["labels"] == ["not-zero-shot"]
    # the official layout: the full multilingual GoldP train file, every language's questions
    from tests.helpers import XTREME_OFFICIAL
    from xstilts.data.xtreme import OFFICIAL_READERS

    everything = OFFICIAL_READERS["tydiqa_all"](XTREME_OFFICIAL, "train", "en")
    english = OFFICIAL_READERS["tydiqa_en"](XTREME_OFFICIAL, "train", "en")
    assert len(everything) > len(english) > 0
    assert {e.guid.split("-", 1)[0] for e in everything} > {e.guid.split("-", 1)[0] for e in english}


def test_row_labels_reach_every_result_row(monkeypatch, tmp_path):
    from xstilts.evaluation import zero_shot

    monkeypatch.setattr(zero_shot, "evaluate_target", lambda *a, **k: [{"language": "ar", "value": 1.0}])
    job = {
        "target": "tydiqa",
        "languages": ["ar"],
        "splits": {"ar": ["test"]},
        "hparams": {},
        "data_dir": None,
        "trust_remote_code": False,
        "labels": ["not-zero-shot"],
    }
    rows = zero_shot.evaluate_job("model", job, tmp_path)
    assert rows == [{"language": "ar", "value": 1.0, "options": "not-zero-shot"}]
