"""Without the Hugging Face hub (no internet, a cluster's compute nodes): one quick probe per process, then every hub
access fails at once as one line; local folders, aliases and a hub mirror load without a probe; the local hub cache
still serves what it holds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from xstilts import hub_access


def xstilts(*args: str, cwd) -> subprocess.CompletedProcess:
    # a generous timeout: the point is that it does not wait for the hub's retries (half a minute and more)
    return subprocess.run(
        [sys.executable, "-m", "xstilts.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def one_line_error(res: subprocess.CompletedProcess, *fragments: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "Retrying" not in err, err
    for f in fragments:
        assert f in err, err
    return err


@pytest.fixture
def isolated_hub(monkeypatch):
    """A fresh probe cache, and the offline flags (environment and libraries) restored after the test."""
    import huggingface_hub.constants

    monkeypatch.setattr(hub_access, "_PROBED", {})
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_ENDPOINT", "XSTILTS_HUB_MIRROR"):
        monkeypatch.setenv(name, "")  # recorded, so that what the code under test sets is undone too
        monkeypatch.delenv(name)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", huggingface_hub.constants.HF_HUB_OFFLINE)
    config = sys.modules.get("datasets.config")
    if config is not None:
        monkeypatch.setattr(config, "HF_HUB_OFFLINE", config.HF_HUB_OFFLINE)
        monkeypatch.setattr(config, "HF_DATASETS_OFFLINE", config.HF_DATASETS_OFFLINE)
    return monkeypatch


def never_probe(endpoint, timeout):
    raise AssertionError(f"probed {endpoint} for a local source")


def test_train_hub_dataset_offline_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = xstilts("train", "-t", "mnli", "--out", "o", cwd=tmp_path)
    one_line_error(res, "cannot load nyu-mll/glue", "HF_HUB_OFFLINE is set", "--data-dir mnli=DIR", "HF_HOME")


def test_evaluate_not_a_checkpoint_is_one_line_at_once(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = xstilts("evaluate", "--checkpoint", "nowhere", "-t", "demo_topic", "--out", "o", cwd=tmp_path)
    one_line_error(res, "nowhere", "not a phase checkpoint", "xstilts train")


def test_evaluate_retrieval_hub_id_offline_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = xstilts("evaluate", "--checkpoint", "nowhere", "-t", "demo_tatoeba", "--out", "o", cwd=tmp_path)
    one_line_error(res, "cannot load model 'nowhere'", "HF_HUB_OFFLINE is set", "local hub cache")


def test_probe_once_per_process(isolated_hub):
    calls = []

    def probe(endpoint, timeout):
        calls.append(endpoint)
        return False

    isolated_hub.setattr(hub_access, "_probe", probe)
    isolated_hub.setenv("HF_ENDPOINT", "https://hub.example.org/")
    first = hub_access.hub_offline()
    assert first is not None and "https://hub.example.org" in first
    assert hub_access.hub_offline(datasets=True) == first
    assert not hub_access.hub_reachable()
    assert calls == ["https://hub.example.org"]  # honours HF_ENDPOINT, asked once
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE  # the libraries' offline mode: the local cache only, at once
    assert "HF_HUB_OFFLINE" not in os.environ  # this process only


def test_offline_flag_skips_the_probe(isolated_hub):
    isolated_hub.setattr(hub_access, "_probe", never_probe)
    isolated_hub.setenv("HF_HUB_OFFLINE", "1")
    assert hub_access.hub_offline() == "HF_HUB_OFFLINE is set"
    isolated_hub.delenv("HF_HUB_OFFLINE")
    isolated_hub.setenv("HF_DATASETS_OFFLINE", "1")
    assert hub_access.hub_offline(datasets=True) == "HF_DATASETS_OFFLINE is set"


def test_reachable_hub_is_left_online(isolated_hub):
    isolated_hub.setattr(hub_access, "_probe", lambda endpoint, timeout: True)
    assert hub_access.hub_offline() is None
    assert "HF_HUB_OFFLINE" not in os.environ


def test_probe_bounded_when_nothing_answers():
    import socket
    import time

    with socket.socket() as s:  # listens, never answers
        s.bind(("127.0.0.1", 0))
        s.listen(0)
        t0 = time.monotonic()
        assert not hub_access._probe(f"http://127.0.0.1:{s.getsockname()[1]}", 0.5)
        assert time.monotonic() - t0 < 5


def test_local_model_folder_loads_without_probe(isolated_hub, tiny_models):
    from xstilts.modeling.model import load_encoder

    isolated_hub.setattr(hub_access, "_probe", never_probe)
    enc, tok = load_encoder(str(tiny_models["bert"]))
    assert enc.config.hidden_size > 0 and tok is not None


def test_hub_mirror_loads_without_probe(isolated_hub, tmp_path):
    from xstilts.data.hub import load_hub_rows, mirror_file
    from xstilts.tasks import get_task

    isolated_hub.setattr(hub_access, "_probe", never_probe)
    task = get_task("mnli")
    path = mirror_file(tmp_path, task.source.id, task.source.config, task.source.splits.get("train", "train"))
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"premise": "a", "hypothesis": "b", "label": 0, "idx": 0}) + "\n")
    isolated_hub.setenv("XSTILTS_HUB_MIRROR", str(tmp_path))
    assert load_hub_rows(task, "train")[0]["premise"] == "a"


def test_cached_hub_model_still_loads_offline(isolated_hub, tiny_models, tmp_path):
    """A probe that gets no answer: the hub id is read from the local hub cache (HF_HUB_CACHE layout)."""
    import huggingface_hub.constants

    from xstilts.modeling.model import load_encoder

    repo = tmp_path / "hub" / "models--xstilts-test--tiny-bert"
    commit = "0" * 40
    shutil.copytree(tiny_models["bert"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    isolated_hub.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    isolated_hub.setattr(hub_access, "_probe", lambda endpoint, timeout: False)
    enc, _ = load_encoder("xstilts-test/tiny-bert")
    assert enc.config.hidden_size > 0
    from xstilts.errors import UserError

    with pytest.raises(UserError, match="hub offline: no answer from .* not in the local hub cache"):
        load_encoder("xstilts-test/not-cached")


def test_end_distributed_destroys_the_process_group(tmp_path):
    import torch.distributed as dist

    from xstilts.training.loop import end_distributed

    end_distributed()  # no group: a no-op
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        assert dist.is_initialized()
        end_distributed()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_train_tears_the_group_down_on_error(monkeypatch, tmp_path):
    """The CLI's train command ends the process group even when the phase fails."""
    import xstilts.training.loop as loop
    import xstilts.training.phase as phase
    from xstilts.cli import train
    from xstilts.errors import UserError

    ended = []
    monkeypatch.setattr(loop, "end_distributed", lambda: ended.append(True))

    def failing(*args, **kwargs):
        raise UserError("no data")

    monkeypatch.setattr(phase, "run_phase", failing)
    with pytest.raises(UserError, match="no data"):
        train(
            task=["mnli"], model="some/model", start=None, out=tmp_path / "o", phase="intermediate", seed=0,
            max_train_examples=None, sampler="proportional", temperature=2.0, keep_heads=False, data_dir=[],
            language=[], mlm_corpus=None, set_=[], log_with=None, trust_remote_code=False,
        )  # fmt: skip
    assert ended == [True]
