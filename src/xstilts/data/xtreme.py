"""XTREME targets: google/xtreme row mappers and readers for the official download layout (scripts/download_data.sh)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

OFFICIAL_READERS: dict[str, Callable[[Path, str, str], list[Any]]] = {}
