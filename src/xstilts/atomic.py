"""Atomic writes: a file or folder appears complete under its final name, or not at all.

Every output another step may read (a converted model, a checkpoint, an evaluation folder, results.csv) is written
beside its destination under a dot-prefixed scratch name and renamed into place in one step, so a crash or Ctrl-C leaves
at most a scratch file that no reader mistakes for a finished one. Renames are atomic only within one file system, which
is why the scratch copy always sits in the destination's own folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_directory", "atomic_file", "atomic_write_json", "atomic_write_text"]


def _share(folder: Path) -> None:
    """Undo mkdtemp's owner-only mode: outputs are meant to be shared like any other folder (dirs 755, files 644)."""
    folder.chmod(0o755)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            Path(root, name).chmod(0o755)
        for name in files:
            path = Path(root, name)
            if not path.is_symlink():
                path.chmod(0o755 if os.access(path, os.X_OK) else 0o644)


@contextlib.contextmanager
def atomic_directory(dest: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield an empty scratch folder beside `dest`; when the block succeeds it becomes `dest` by one rename.

    If the block raises (including KeyboardInterrupt) the scratch folder is deleted and `dest` is left as it was. With
    `replace=True` an existing `dest` is swapped out and deleted; with `replace=False` an existing `dest` (say, finished
    meanwhile by another process) is kept and the scratch folder dropped.
    """
    final = Path(dest)
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield scratch
        _share(scratch)
        if final.exists() and replace:
            # Move the old folder aside first: deleting it in place could leave half of it behind on a crash.
            stale = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            final.rename(stale / final.name)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            scratch.rename(final)
        except OSError:
            if replace or not final.exists():
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path: str | Path, binary: bool = False, *, durable: bool = False) -> Iterator[IO[Any]]:
    """Yield a handle on a scratch file beside `path` (text: UTF-8, no newline translation; or binary); when the block
    succeeds the file becomes `path` by one `os.replace`, when it raises the scratch file is deleted.

    durable: fsync the scratch file before the rename, so that after a power loss the file holds the old content or the
    new one (results.csv); without it a crash of the process alone is covered."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(scratch, 0o644)  # mkstemp creates owner-only files
        os.replace(scratch, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)
        raise


def atomic_write_text(path: str | Path, text: str, *, durable: bool = False) -> Path:
    """Write `text` (UTF-8) to `path` through `atomic_file`; returns `path`."""
    with atomic_file(path, durable=durable) as handle:
        handle.write(text)
    return Path(path)


def atomic_write_json(path: str | Path, data: Any) -> Path:
    """`atomic_write_text` of `data` as indented UTF-8 JSON with a trailing newline (non-JSON values via `str`)."""
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
