"""The run ledger and the event log, at the bottom layer: written by the driver (experiments.run), read by analysis
and `xstilts status`, so neither parses folder names (ambiguous: '-' is allowed in names) nor restates the formats.

- `ledger.jsonl`: one typed record per finished node (id, kind, model, setting, target, source language, seed, the
  tasks it trained, hash, folder, seconds), appended when the node is recorded; a node finished again (a changed job,
  a retrained target) appends a new line, and the last line of an id wins.
- `events.jsonl`: one line per start / done / failed / interrupted event of a node, and the driver's repairs.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LEDGER_FILE = "ledger.jsonl"
EVENTS_FILE = "events.jsonl"


@dataclass(frozen=True)
class LedgerEntry:
    """A finished node."""

    id: str  # e.g. target/e5-small/wn_gloss/demo_topic/s0
    kind: str  # intermediate, align, target, evaluation
    model: str
    setting: str
    seed: int
    hash: str
    dir: str  # its folder under nodes/
    seconds: float  # wall-clock from its start event to its record
    target: str | None = None
    source_language: str = "en"
    tasks: list[str] = field(default_factory=list)  # what a training phase trained (task order)


def _append(path: Path, obj: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(obj) + "\n")


def _lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a log; a line cut by a crash is skipped."""
    out = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
    return out


def append_entry(run_dir: Path, entry: LedgerEntry) -> None:
    _append(Path(run_dir) / LEDGER_FILE, asdict(entry))


def read_ledger(run_dir: Path) -> dict[str, LedgerEntry]:
    """Node id -> its last ledger entry (empty for a run written before the ledger existed)."""
    known = set(LedgerEntry.__dataclass_fields__)
    return {
        obj["id"]: LedgerEntry(**{k: v for k, v in obj.items() if k in known})
        for obj in _lines(Path(run_dir) / LEDGER_FILE)
        if "id" in obj
    }


def log_event(run_dir: Path, node_id: str, event: str, dirname: str | None = None, **extra: Any) -> None:
    """Append one event about a node (or "(run)") to events.jsonl."""
    record: dict[str, Any] = {"time": time.time(), "node": node_id, "event": event, **extra}
    if dirname is not None:
        record["dir"] = dirname
    _append(Path(run_dir) / EVENTS_FILE, record)


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    """Every event of the run, in order."""
    return _lines(Path(run_dir) / EVENTS_FILE)
