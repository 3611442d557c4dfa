"""Where things are on disk, torch-free: the toolkit's home folder (caches of converted models, features, data
fingerprints) and what makes a folder a phase checkpoint."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

HEADS_CONFIG = "heads.json"  # a phase checkpoint's head specs, beside its encoder/ folder


def is_checkpoint(path: str | Path) -> bool:
    """Whether `path` is a phase checkpoint (encoder/config.json and heads.json), not a model folder or hub id."""
    p = Path(path)
    return (p / "encoder" / "config.json").is_file() and (p / HEADS_CONFIG).is_file()


def default_home() -> Path:
    """The xstilts cache root: $XSTILTS_HOME, else ~/.cache/xstilts."""
    env = os.environ.get("XSTILTS_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "xstilts"


@contextmanager
def scoped_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Environment variables set for the duration of a block, each restored (or removed) after it."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
