"""xstilts.atomic: outputs appear complete under their final name or not at all."""

from __future__ import annotations

import json
import stat

import pytest

from xstilts.atomic import atomic_directory, atomic_file, atomic_write_json, atomic_write_text


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_directory_appears_only_when_the_block_succeeds(tmp_path):
    dest = tmp_path / "sub" / "model"
    with atomic_directory(dest) as scratch:
        assert scratch.parent == dest.parent and scratch.name.startswith(".model.")
        (scratch / "inner").mkdir()
        (scratch / "inner" / "a.txt").write_text("a")
        (scratch / "config.json").write_text("{}")
        assert not dest.exists()
    assert (dest / "inner" / "a.txt").read_text() == "a"
    assert _names(dest.parent) == ["model"]  # no scratch left behind
    # shared like any other folder, not mkdtemp's owner-only mode
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "inner").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "config.json").stat().st_mode) == 0o644


def test_failed_block_leaves_nothing_and_keeps_the_old_folder(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_directory(dest) as scratch:
        (scratch / "half.txt").write_text("half")
        raise KeyboardInterrupt
    assert _names(tmp_path) == ["out"]
    assert _names(dest) == ["old.txt"]


def test_replace_swaps_the_folder_and_keep_leaves_it(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with atomic_directory(dest) as scratch:
        (scratch / "new.txt").write_text("new")
    assert _names(dest) == ["new.txt"] and _names(tmp_path) == ["out"]

    with atomic_directory(dest, replace=False) as scratch:
        (scratch / "newer.txt").write_text("newer")
    assert _names(dest) == ["new.txt"] and _names(tmp_path) == ["out"]


def test_write_text_and_json_replace_in_one_step(tmp_path):
    path = tmp_path / "a" / "results.csv"
    atomic_write_text(path, "x,y\n1,2\n")
    assert path.read_text() == "x,y\n1,2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    atomic_write_json(path.with_name("done.json"), {"ü": [1, 2]})
    assert json.loads(path.with_name("done.json").read_text(encoding="utf-8")) == {"ü": [1, 2]}
    assert path.with_name("done.json").read_text(encoding="utf-8").endswith("\n")
    assert _names(path.parent) == ["done.json", "results.csv"]


def test_write_text_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("old")

    with pytest.raises(TypeError):
        atomic_write_text(path, object())  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert _names(tmp_path) == ["results.csv"]


@pytest.mark.parametrize("durable", [False, True])
def test_binary_file_appears_whole_or_not_at_all(tmp_path, durable):
    target = tmp_path / "features.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(target, binary=True, durable=durable) as fh:
        fh.write(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["features.npz"]
    with atomic_file(target, binary=True, durable=durable) as fh:
        fh.write(b"\x00new")
    assert target.read_bytes() == b"\x00new" and sorted(p.name for p in tmp_path.iterdir()) == ["features.npz"]
