"""The plan: a DAG of nodes (intermediate training, target training, evaluation), each with a content hash over everything
that determines its output. An intermediate model is trained once per (model, setting, seed) and shared by every target."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xstilts import __version__
from xstilts.defaults import phase_defaults
from xstilts.experiments.spec import ExperimentSpec, IntermediateSetting, ModelSpec
from xstilts.tasks import get_task

# Rough CPU/GPU-agnostic cost model: seconds per 1,000 training examples per epoch for a base-size model on one GPU.
_SECONDS_PER_K_EXAMPLES = 20.0


@dataclass
class Node:
    id: str
    kind: str  # "intermediate", "target", "evaluation"
    model: str
    intermediate: str
    seed: int
    target: str | None = None
    depends_on: list[str] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)  # everything needed to run the node
    hash: str = ""
    start_dir: str | None = None  # dirname of the upstream node whose output this node starts from (None: the model)

    @property
    def key(self) -> str:
        """The node's identity in results.csv: its id and content hash (a changed spec gives new rows)."""
        return f"{self.id}@{self.hash[:12]}"

    def dirname(self) -> str:
        readable = "-".join(x for x in [self.kind[:5], self.model, self.intermediate, self.target or "", f"s{self.seed}"] if x)
        return f"{readable}-{self.hash[:12]}"

    def public(self, done: bool) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "model": self.model, "intermediate": self.intermediate,
                "target": self.target, "seed": self.seed, "depends_on": self.depends_on, "hash": self.hash, "done": done}


def content_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _model_identity(m: ModelSpec) -> dict[str, Any]:
    return {"path": m.path, "prune_vocabulary": m.prune_vocabulary, "layers": m.layers}  # not `intermediate`: a
    # model's subset of settings changes which nodes exist, not what any node computes


def _data_identity(task: str, spec: ExperimentSpec, setting: IntermediateSetting | None) -> dict[str, Any]:
    t = get_task(task)
    src = get_task(t.train_from) if t.train_from else t
    d = (setting.data_dirs.get(task) if setting else None) or spec.data_dirs.get(task) or spec.data_dirs.get(src.name)
    return {"task": t.model_dump(), "source": src.name, "data_dir": d,
            "language": (setting.languages.get(task) if setting else None) or src.train_language}


def build_plan(spec: ExperimentSpec) -> list[Node]:
    nodes: list[Node] = []
    by_id: dict[str, Node] = {}

    def add(node: Node, upstream: str | None) -> None:
        if upstream is not None:
            node.start_dir = by_id[upstream].dirname()
        nodes.append(node)
        by_id[node.id] = node

    for m in spec.models:
        for seed in spec.seeds:
            for s in spec.settings_for(m):
                inter_id = None
                if not s.is_baseline:
                    settings = {t: {**phase_defaults("intermediate"), **spec.phase_settings("intermediate", t, s)}
                                for t in s.tasks}
                    payload = {"model": _model_identity(m), "tasks": s.tasks, "sampler": s.sampler,
                               "temperature": s.temperature, "mlm_corpus": s.mlm_corpus, "settings": settings,
                               "data": [_data_identity(t, spec, s) for t in s.tasks], "seed": seed}
                    inter_id = f"intermediate/{m.name}/{s.name}/s{seed}"
                    add(Node(inter_id, "intermediate", m.name, s.name, seed, payload=payload,
                             hash=content_hash([payload, __version__])), None)
                for target in spec.targets:
                    task = get_task(target)
                    upstream = [inter_id] if inter_id else []
                    eval_deps = list(upstream)
                    if task.has_training_data:
                        settings = {**phase_defaults("target", target), **spec.phase_settings("target", target)}
                        payload = {"model": _model_identity(m), "target": target, "settings": settings,
                                   "data": _data_identity(target, spec, None), "seed": seed,
                                   "keep_heads": spec.keep_heads}
                        tid = f"target/{m.name}/{s.name}/{target}/s{seed}"
                        up_hash = [by_id[u].hash for u in upstream]
                        add(Node(tid, "target", m.name, s.name, seed, target, upstream, payload,
                                 content_hash([payload, up_hash, __version__])), inter_id)
                        eval_deps = [tid]
                    payload = {"target": target, "languages": spec.target_languages(target), "splits": spec.splits,
                               "layer": m.retrieval_layer, "model": _model_identity(m),
                               "data": _data_identity(target, spec, None)}
                    up_hash = [by_id[u].hash for u in eval_deps]
                    add(Node(f"evaluation/{m.name}/{s.name}/{target}/s{seed}", "evaluation", m.name, s.name,
                             seed, target, eval_deps, payload, content_hash([payload, up_hash, __version__])),
                        eval_deps[0] if eval_deps else None)
    return nodes


def estimate_seconds(node: Node) -> float:
    """A coarse cost estimate from training-set sizes and epochs (evaluation counted as 5% of a target phase)."""
    if node.kind == "evaluation":
        return 30.0
    tasks = node.payload.get("tasks") or [node.payload["target"]]
    total = 0.0
    for t in tasks:
        task = get_task(t)
        src = get_task(task.train_from) if task.train_from else task
        settings = node.payload["settings"].get(t, node.payload["settings"]) if node.kind == "intermediate" else node.payload["settings"]
        n = src.size or 10_000
        if settings.get("max_train_examples"):
            n = min(n, int(settings["max_train_examples"]))
        total += n / 1000 * float(settings["num_epochs"]) * _SECONDS_PER_K_EXAMPLES
    return total


def node_dir(out: Path, node: Node) -> Path:
    return out / "nodes" / node.dirname()


def is_done(out: Path, node: Node) -> bool:
    d = node_dir(out, node)
    return (d / ("done.json" if node.kind == "evaluation" else "phase.json")).is_file()


def plan_summary(spec: ExperimentSpec, nodes: list[Node], out: Path | None) -> dict[str, Any]:
    done = {n.id: (out is not None and is_done(out, n)) for n in nodes}
    counts: dict[str, dict[str, int]] = {}
    for n in nodes:
        c = counts.setdefault(n.kind, {"total": 0, "done": 0})
        c["total"] += 1
        c["done"] += int(done[n.id])
    remaining = sum(estimate_seconds(n) for n in nodes if not done[n.id])
    return {"name": spec.name, "counts": counts, "estimated_gpu_hours_remaining": round(remaining / 3600, 2),
            "nodes": [n.public(done[n.id]) for n in nodes]}
