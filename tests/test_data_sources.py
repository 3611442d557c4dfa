"""Where a task's data comes from: resolve_source's precedence, available_splits, and the offline hub error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from xstilts.data.load import available_splits, load_examples, resolve_source
from xstilts.data.local import write_jsonl
from xstilts.errors import UserError
from xstilts.families.examples import SentenceExample
from xstilts.tasks.registry import get_task

OFFICIAL = Path(__file__).parent / "fixtures" / "xtreme" / "official"


def test_precedence_jsonl_then_official_then_bundled_then_hub(tmp_path):
    xnli = get_task("xnli")
    # 3. a directory in the official layout
    assert resolve_source(xnli, "dev", "de", OFFICIAL).kind == "official"
    # 1. a JSONL file for exactly this (split, language) wins over the official files beside it
    shutil.copytree(OFFICIAL / "xnli", tmp_path / "xnli")
    mine = [SentenceExample("x-0", "a", "b", "neutral")]
    write_jsonl(tmp_path / "dev.de.jsonl", mine)
    assert resolve_source(xnli, "dev", "de", tmp_path).kind == "jsonl"
    assert load_examples(xnli, "dev", "de", tmp_path) == mine
    assert resolve_source(xnli, "dev", "ar", tmp_path).kind == "official"
    # 2. a task's own local reader before the official layout
    assert resolve_source(get_task("ccg"), "train", "en", tmp_path).kind == "local_reader"
    # 4. a directory that fits no rule names the expected file
    with pytest.raises(UserError, match=r"expected dev\.en\.jsonl"):
        resolve_source(get_task("demo_pos"), "dev", "en", tmp_path)
    with pytest.raises(UserError, match="data directory not found"):
        resolve_source(xnli, "dev", "de", tmp_path / "missing")
    # 5.-7. without a directory: bundled demo data, task loaders, the hub
    assert resolve_source(get_task("demo_pos"), "dev", "en").kind == "bundled"
    assert resolve_source(get_task("anli_plus"), "train", "en").kind == "task_loader"
    hub = resolve_source(xnli, "dev", "de")
    assert (hub.kind, hub.where) == ("hub", "google/xtreme")
    # 8. a task only the user can supply
    with pytest.raises(UserError, match="needs local files"):
        resolve_source(get_task("ccg"), "train", "en")


def test_available_splits_per_source(tmp_path):
    udpos = get_task("udpos")
    # hub: the YAML's splits minus those a language lacks
    assert available_splits(udpos, "de") == ["dev", "test"]
    assert available_splits(udpos, "kk") == available_splits(udpos, "th") == ["test"]
    assert available_splits(get_task("xquad"), "de") == ["test"]
    assert available_splits(get_task("tatoeba"), "de") == ["test"]
    assert available_splits(get_task("tydiqa"), "ar") == ["test"]
    # official layout: which files exist
    assert available_splits(udpos, "th", OFFICIAL) == ["test"]
    assert available_splits(udpos, "de", OFFICIAL) == ["dev", "test"]
    assert available_splits(get_task("bucc2018"), "fr", OFFICIAL) == ["dev", "test"]
    assert available_splits(get_task("bucc2018"), "ru", OFFICIAL) == []
    assert available_splits(get_task("tydiqa_en"), "en", OFFICIAL) == ["train"]  # the layout has no dev
    # a JSONL folder: which files exist
    write_jsonl(tmp_path / "test.de.jsonl", [SentenceExample("x-0", "a", "b", "neutral")])
    assert available_splits(get_task("demo_topic"), "de", tmp_path) == ["test"]
    assert available_splits(get_task("demo_topic"), "fr", tmp_path) == []
    # bundled demo data
    demo = get_task("demo_pos")
    assert available_splits(demo, "en") == [
        s for s in demo.splits if (Path(demo.local_dir) / f"{s}.en.jsonl").is_file()
    ]
    assert available_splits(demo, "en")


@pytest.mark.parametrize(
    "error", ["ConnectionError", "LocalEntryNotFoundError", "DatasetNotFoundError", "OfflineModeIsEnabled"]
)
def test_offline_hub_failure_is_one_user_error(monkeypatch, error):
    import datasets

    def unreachable(*args, **kwargs):
        raise type(error, (Exception,), {})("Couldn't reach 'google/xtreme' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(UserError) as info:
        load_examples(get_task("pawsx"), "dev", "de")
    message = str(info.value)
    assert "\n" not in message
    for part in (
        "google/xtreme",
        "PAWS-X.de",
        "--data-dir pawsx=DIR",
        "official XTREME download layout",
        "HF_DATASETS_CACHE",
        "HF_DATASETS_OFFLINE=1",
        error,
    ):
        assert part in message


def test_other_hub_errors_are_not_hidden(monkeypatch):
    import datasets

    def broken(*args, **kwargs):
        raise ValueError("a bug, not the network")

    monkeypatch.setattr(datasets, "load_dataset", broken)
    with pytest.raises(ValueError, match="a bug"):
        load_examples(get_task("pawsx"), "dev", "de")
