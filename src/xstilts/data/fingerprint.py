"""What a node reads, as data a plan can hash: a fingerprint of one (task, split, language) source.

- local files (bundled demo data, a `data_dirs` folder in the uniform JSONL or the official XTREME layout, a user-only
  format such as CCGbank): the SHA-256 of each file's bytes, with its name;
- a local hub mirror ($XSTILTS_HUB_MIRROR, the rehearsal's): the mirror file's content hash;
- the hub: its id, config, split and revision (when the task pins one); the hub's content is not read at plan time.

Content hashes are cached by (absolute path, size, mtime in ns), in memory and in $XSTILTS_HOME/fingerprints.json, so
planning a grid over thousands of files hashes each file once; an edit changes size or mtime and is hashed again.
Torch-free, and nothing here reads a dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from xstilts.errors import UserError
from xstilts.tasks.spec import TaskSpec

_MEMO: dict[str, str] = {}  # "path|size|mtime_ns" -> sha256
_LOADED_FROM: Path | None = None
_DIRTY = False


def _cache_file() -> Path:
    from xstilts.paths import default_home

    return default_home() / "fingerprints.json"


def _load_cache() -> None:
    global _LOADED_FROM
    path = _cache_file()
    if _LOADED_FROM == path:
        return
    _LOADED_FROM = path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            _MEMO.update({str(k): str(v) for k, v in data.items()})
    except (OSError, ValueError):
        pass  # no cache yet, or a damaged one: hashes are recomputed


def save_cache() -> None:
    """Write the content-hash cache (called once after a plan is built); a failure only costs re-hashing later."""
    global _DIRTY
    if not _DIRTY:
        return
    from xstilts.atomic import atomic_write_json

    try:
        atomic_write_json(_cache_file(), dict(_MEMO))
        _DIRTY = False
    except OSError:
        pass


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, cached by path, size and mtime."""
    global _DIRTY
    p = Path(path).resolve()
    st = p.stat()
    key = f"{p}|{st.st_size}|{st.st_mtime_ns}"
    _load_cache()
    digest = _MEMO.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = _MEMO[key] = h.hexdigest()
        _DIRTY = True
    return digest


def _files(paths: list[Path]) -> dict[str, Any]:
    return {"files": {p.name: file_digest(p) for p in sorted(paths) if p.is_file()}}


def _tree(directory: Path) -> dict[str, Any]:
    """Every file under a folder a reader takes whole (a user-only format): relative path -> content hash."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
    return {"tree": {str(p.relative_to(directory)): file_digest(p) for p in files}}


def source_fingerprint(task: TaskSpec, split: str, lang: str, data_dir: str | None) -> dict[str, Any]:
    """The fingerprint of what `data.load.resolve_source` would read for (task, split, lang), without reading it.
    Follows the same rules in the same order (see that docstring)."""
    from xstilts.data.hub import MIRROR_ENV, format_pattern, mirror_file
    from xstilts.data.local import local_path
    from xstilts.data.mappers import LOCAL_READERS, TASK_LOADERS
    from xstilts.data.xtreme import OFFICIAL_READERS

    if data_dir is not None:
        d = Path(data_dir)
        if not d.exists():
            return {"missing": str(d)}  # the node's own load names the folder; the plan stays buildable
        jsonl = local_path(d, split, lang)
        if jsonl.is_file():
            return {"kind": "jsonl", **_files([jsonl])}
        if task.name in LOCAL_READERS:
            return {"kind": "local_reader", **_tree(d)}
        reader = OFFICIAL_READERS.get(task.name)
        if reader is not None:
            try:
                located = [path for path, _ in reader.locate(d, split, lang)]
            except UserError as e:
                return {"kind": "official", "unavailable": str(e)}
            return {"kind": "official", **_files(located)}
        return {"kind": "jsonl", "missing": jsonl.name}
    if task.local_dir is not None:
        return {"kind": "bundled", **_files([local_path(task.local_dir, split, lang)])}
    if task.name in TASK_LOADERS:
        return {"kind": "task_loader", "loader": task.name}  # its component tasks' definitions are in the job
    if task.source is None:
        return {"kind": "none"}
    names = task.source.splits.get(split, split)
    config = format_pattern(task.source.config, lang) if task.source.config else None
    listed = [format_pattern(n, lang) for n in (names if isinstance(names, list) else [names])]
    out: dict[str, Any] = {"kind": "hub", "id": task.source.id, "config": config, "splits": listed}
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        out["mirror"] = _files([mirror_file(mirror, task.source.id, config, n) for n in listed])["files"]
    return out
