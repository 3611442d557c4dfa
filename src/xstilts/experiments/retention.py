"""Checkpoint retention (`checkpoints: {target: drop_after_eval}`, the default): a target node's weights are removed once
every evaluation node that reads them has sealed its record.

A target checkpoint is read by its evaluation nodes only; after they are sealed, the weights (several GB per XLM-R
Large target) are never read again, while its record (phase.json: job, dev history, data sizes) and metrics.json, and
the evaluations' records, predictions and metrics, stay. Intermediate checkpoints always stay: every target of their
setting starts from them.

Dropping is a recorded state: the marker `integrity.WEIGHTS_DROPPED` lists the removed files and is written before they
are removed, so a run killed in between finishes the removal on resume, and `verify_run` does not take the missing
files for corruption. A dropped target counts as finished, except for a resume that must recompute one of its
evaluations (a record deleted, moved aside as corrupt, or a new evaluation of the same target node): then the scheduler
retrains the target first (`needs_retraining`), and drops its weights again once the evaluation is sealed.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from xstilts.atomic import atomic_write_json
from xstilts.experiments.plan import Node, node_dir
from xstilts.integrity import WEIGHTS_DROPPED, dropped_files

# What a target checkpoint holds besides its record: the encoder folder, the heads, a LoRA adapter.
WEIGHT_PATHS = ("encoder", "heads.safetensors", "heads.json", "adapter")


def is_dropped(out: Path, node: Node) -> bool:
    return (node_dir(out, node) / WEIGHTS_DROPPED).is_file()


class Retention:
    """The retention policy of one run: which target nodes' weights to drop, and when."""

    def __init__(self, out: Path, plan: list[Node], policy: str):
        self.out, self.policy = Path(out), policy
        self.readers: dict[str, list[str]] = {}  # target node id -> the evaluation nodes that read its weights
        self.targets: dict[str, Node] = {n.id: n for n in plan if n.kind == "target"}
        self.blocked: set[str] = set()  # targets read by a node that is not an evaluation: never dropped
        self.read: dict[str, list[str]] = {}  # evaluation node id -> the targets it reads
        for n in plan:
            for up in n.depends_on:
                if up in self.targets:
                    if n.kind == "evaluation":
                        self.readers.setdefault(up, []).append(n.id)
                        self.read.setdefault(n.id, []).append(up)
                    else:
                        self.blocked.add(up)

    def dropped(self, node_id: str) -> bool:
        node = self.targets.get(node_id)
        return node is not None and is_dropped(self.out, node)

    def needs_retraining(self, finished: set[str], wanted: Iterable[str]) -> list[str]:
        """Dropped targets that an unfinished evaluation among `wanted` (the nodes this run runs) reads."""
        wanted = set(wanted)
        return [
            t
            for t in self.targets
            if t in finished
            and self.dropped(t)
            and any(r in wanted and r not in finished for r in self.readers.get(t, []))
        ]

    def forget(self, node_id: str) -> None:
        """Move a dropped target's directory out of the way, so that it is trained again (its record would say done)."""
        d = node_dir(self.out, self.targets[node_id])
        aside = d.with_name(f".{d.name}.retrain-{os.getpid()}.partial")
        os.replace(d, aside)
        shutil.rmtree(aside, ignore_errors=True)

    def after(self, finished: set[str], node_ids: Iterable[str]) -> list[str]:
        """Drop the weights of every target among (or read by) `node_ids` whose readers have all sealed their records
        (all finished); returns the targets dropped now. Called with each finished node, and with every node at the
        start of a run (a run killed between an evaluation and the removal, or in the middle of one)."""
        if self.policy != "drop_after_eval":
            return []
        candidates: set[str] = set()
        for nid in node_ids:
            if nid in self.targets:
                candidates.add(nid)
            candidates.update(self.read.get(nid, []))
        done = []
        for t in sorted(candidates):
            readers = self.readers.get(t, [])
            if t in finished and readers and t not in self.blocked and all(r in finished for r in readers):
                if self.drop(t, readers):
                    done.append(t)
        return done

    def drop(self, node_id: str, readers: list[str]) -> bool:
        """Write the marker, then remove the weights; finishes an interrupted removal. False when nothing was left."""
        d = node_dir(self.out, self.targets[node_id])
        marker = d / WEIGHTS_DROPPED
        present = [p for p in WEIGHT_PATHS if (d / p).exists()]
        if marker.is_file() and not present:
            return False
        if not marker.is_file():
            files = sorted(
                p.relative_to(d).as_posix()
                for name in present
                for p in ([d / name] if (d / name).is_file() else (d / name).rglob("*"))
                if p.is_file()
            )
            atomic_write_json(
                marker,
                {
                    "time": time.time(),
                    "policy": "checkpoints.target: drop_after_eval",
                    "read_by": readers,
                    "files": files,
                    "bytes": sum((d / f).stat().st_size for f in files),
                },
            )
        gone = dropped_files(d)
        for name in present:
            path = d / name
            if path.is_dir():
                shutil.rmtree(path)
            elif name in gone:
                path.unlink(missing_ok=True)
        return True
