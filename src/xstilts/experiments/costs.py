"""What a plan costs before it runs: GPU-hours per kind of node, and the disk the run directory needs at its peak and at
the end, from each model's parameter count, each phase's training mode (full, LoRA merged or kept as an adapter), the
checkpoints' dtype and the retention policy (`checkpoints:` in the spec). Torch-free: `xstilts plan` imports no torch.

Parameter counts: a table of known hub ids (below), a local model folder's safetensors headers (exact) or its
config.json (the BERT-layout formula), else unknown (the disk then counts only what is known, and says so). A model cut
to its first `layers` layers loses those layers' weights; one whose vocabulary is pruned at run time is counted with its
whole vocabulary until its derived folder exists (an upper bound).

GPU-hours: `plan.estimate_seconds` (a base-size model on one GPU) scaled by the model's parameters over a base-size
model's (XLM-R Base, 278M), and by LORA_TIME for a LoRA phase. Coarse, as the estimate it scales.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xstilts.experiments.plan import Node, estimate_seconds

BASE_PARAMETERS = 278e6  # XLM-R Base: the model size plan.estimate_seconds assumes
# A LoRA phase computes no gradient for the frozen weights (about a third of a training step's FLOPs); Hu et al. 2021
# report 25% higher training throughput for LoRA on GPT-3 175B: 0.75 of the full phase's time.
LORA_TIME = 0.75
TOKENIZER_BYTES_PER_ENTRY = 68  # tokenizer.json per vocabulary entry (XLM-R's 250k: 16.9 MB)
RECORD_BYTES = 1_000_000  # a training node's record and metrics (losses per micro-batch, dev history); coarse
EVALUATION_BYTES = 2_000_000  # an evaluation node's record, predictions, labels and metrics; coarse
GB = 1e9


@dataclass(frozen=True)
class ModelSize:
    """What the cost arithmetic needs of a model (None: unknown)."""

    parameters: float | None
    hidden: int | None = None
    layers: int | None = None
    vocab: int | None = None
    source: str = "unknown"


# Known hub ids: parameters (from the hub's safetensors), hidden size, layers, vocabulary.
KNOWN_MODELS: dict[str, ModelSize] = {
    "bert-base-multilingual-cased": ModelSize(178e6, 768, 12, 119547, "table"),
    "google-bert/bert-base-multilingual-cased": ModelSize(178e6, 768, 12, 119547, "table"),
    "xlm-roberta-base": ModelSize(278e6, 768, 12, 250002, "table"),
    "FacebookAI/xlm-roberta-base": ModelSize(278e6, 768, 12, 250002, "table"),
    "xlm-roberta-large": ModelSize(560e6, 1024, 24, 250002, "table"),
    "FacebookAI/xlm-roberta-large": ModelSize(560e6, 1024, 24, 250002, "table"),
    "embedded": ModelSize(117.6e6, 384, 12, 250037, "table"),  # multilingual-e5-small
    "embedded-english": ModelSize(22.7e6, 384, 6, 30522, "table"),  # all-MiniLM-L6-v2
}


def _safetensors_parameters(folder: Path) -> float | None:
    """The number of weights in a folder's *.safetensors, from their headers (no tensor is read)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for f in files:
        with f.open("rb") as handle:
            (n,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(n))
        for name, t in header.items():
            if name != "__metadata__":
                count = 1
                for d in t["shape"]:
                    count *= int(d)
                total += count
    return float(total)


def _layer_parameters(h: int, inner: int) -> float:
    """One BERT-layout layer: q, k, v, o projections, the feed-forward block, two layer norms."""
    return 4 * (h * h + h) + (h * inner + inner) + (inner * h + h) + 4 * h


def _config_parameters(c: dict[str, Any]) -> float:
    h, v, n = int(c["hidden_size"]), int(c["vocab_size"]), int(c["num_hidden_layers"])
    inner = int(c.get("intermediate_size", 4 * h))
    emb = (v + int(c.get("max_position_embeddings", 512)) + int(c.get("type_vocab_size", 2))) * h + 2 * h
    return float(emb + n * _layer_parameters(h, inner) + h * h + h)


def folder_size(folder: Path) -> ModelSize | None:
    config = folder / "config.json"
    if not config.is_file():
        return None
    c = json.loads(config.read_text(encoding="utf-8"))
    counted = _safetensors_parameters(folder)
    params: float | None
    try:
        params = counted if counted is not None else _config_parameters(c)
    except (KeyError, TypeError, ValueError):
        params = counted
    return ModelSize(
        params,
        c.get("hidden_size"),
        c.get("num_hidden_layers"),
        c.get("vocab_size"),
        "safetensors" if counted is not None else "config.json",
    )


def _alias_folder(path: str) -> Path | None:
    """The folder an alias resolves to, where it already exists (never converted here)."""
    from xstilts.paths import default_home

    if path == "embedded":
        return default_home() / "models" / "multilingual-e5-small"
    return None


def model_size(model: dict[str, Any], out: Path | None = None) -> ModelSize:
    """The size of a node's model job: the derived folder where it exists, else the source, less any cut layers."""
    if model.get("derived") and out is not None:
        found = folder_size(Path(out) / model["folder"])
        if found is not None:
            return found
    path = str(model["path"])
    local = Path(path).expanduser()
    size = (folder_size(local) if local.is_dir() else None) or (
        folder_size(_alias_folder(path)) if _alias_folder(path) is not None else None  # type: ignore[arg-type]
    )
    if size is None:
        size = KNOWN_MODELS.get(path, ModelSize(None))
    keep = model.get("layers")
    if keep and size.parameters is not None and size.hidden and size.layers and int(keep) < size.layers:
        cut = (size.layers - int(keep)) * _layer_parameters(size.hidden, 4 * size.hidden)
        size = ModelSize(size.parameters - cut, size.hidden, int(keep), size.vocab, size.source + ", layers cut")
    if model.get("prune_vocabulary"):
        size = ModelSize(size.parameters, size.hidden, size.layers, size.vocab, size.source + ", vocabulary unpruned")
    return size


def checkpoint_bytes(node: Node, size: ModelSize) -> float | None:
    """The bytes of a training node's checkpoint: the encoder at the stored dtype and its tokenizer, or a LoRA adapter
    (the A and B matrices of every target module, the pooler); None when the model's size is unknown."""
    phase = node.job.get("phase", {})  # an alignment phase writes the whole encoder
    loop = phase.get("loop", {})
    if size.parameters is None:
        return None
    tokenizer = (size.vocab or 0) * TOKENIZER_BYTES_PER_ENTRY
    if loop.get("finetune") == "lora" and loop.get("lora_store") == "adapter":
        if not (size.hidden and size.layers):
            return None
        per_layer = len(loop.get("lora_target_modules") or []) * int(loop["lora_rank"]) * 2 * size.hidden
        return float(4 * (size.layers * per_layer + size.hidden * size.hidden + size.hidden))
    width = 2 if phase.get("checkpoint_dtype") == "bfloat16" else 4
    return float(size.parameters * width + tokenizer)


def plan_costs(
    nodes: list[Node], done: dict[str, bool], retention: str, out: Path | None = None, workers: int = 1
) -> dict[str, Any]:
    """GPU-hours per kind (remaining) and the run directory's disk at the peak and at the end (all nodes; `needed_gb`:
    what the remaining nodes add at their peak), under a retention policy ('keep' or 'drop_after_eval'). `workers`
    target checkpoints are alive at once under drop_after_eval (each target is evaluated, then dropped)."""
    sizes: dict[str, ModelSize] = {}
    hours: dict[str, float] = {}
    kept = kept_left = 0.0  # bytes that stay (all nodes / the remaining nodes)
    transient = 0.0  # the largest target checkpoint dropped after its evaluation
    unknown: set[str] = set()
    derived: dict[str, float] = {}
    for n in nodes:
        model = n.job["model"]
        size = sizes.setdefault(model["name"], model_size(model, out))
        if size.parameters is None:
            unknown.add(model["name"])
        if model.get("derived") and size.parameters is not None:
            derived[model["folder"]] = size.parameters * 4 + (size.vocab or 0) * TOKENIZER_BYTES_PER_ENTRY
        if not done[n.id]:
            scale = (size.parameters or BASE_PARAMETERS) / BASE_PARAMETERS
            if "phase" in n.job and n.job["phase"]["loop"].get("finetune") == "lora":
                scale *= LORA_TIME
            hours[n.kind] = hours.get(n.kind, 0.0) + estimate_seconds(n) * scale / 3600
        if n.kind == "evaluation":
            stays, drops = float(EVALUATION_BYTES), 0.0
        else:
            ckpt = checkpoint_bytes(n, size) or 0.0
            dropped = n.kind == "target" and retention == "drop_after_eval"
            stays, drops = (RECORD_BYTES, ckpt) if dropped else (ckpt + RECORD_BYTES, 0.0)
        kept += stays
        transient = max(transient, drops)
        if not done[n.id]:
            kept_left += stays
    models = sum(derived.values())
    disk = {
        "peak": models + kept + workers * transient,
        "end": models + kept,
        "needed": kept_left + workers * transient,
    }
    return {
        "gpu_hours": {k: round(v, 2) for k, v in hours.items()},
        "gpu_hours_total": round(sum(hours.values()), 2),
        "disk_peak_gb": round(disk["peak"] / GB, 2),
        "disk_end_gb": round(disk["end"] / GB, 2),
        "disk_needed_gb": round(disk["needed"] / GB, 2),
        "disk_bytes": {k: int(v) for k, v in disk.items()},
        "retention": retention,
        "models": {
            name: {"parameters": s.parameters, "source": s.source, "layers": s.layers, "vocab": s.vocab}
            for name, s in sizes.items()
        },
        "unknown_models": sorted(unknown),
    }


def disk_warning(costs: dict[str, Any], out: Path) -> str | None:
    """A line when the remaining nodes' estimated peak exceeds the free space of the run directory's file system."""
    import shutil

    where = Path(out).resolve()
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free / GB
    need = costs["disk_bytes"]["needed"] / GB
    if need <= free:
        return None
    return (
        f"the run needs about {need:.1f} GB more at its peak (estimate: `xstilts plan`), but {where} has "
        f"{free:.1f} GB free; free space, or set checkpoints: {{target: drop_after_eval, dtype: bfloat16}} or "
        "finetune: lora with lora_store: adapter"
    )


def run_disk_warning(spec: Any, out: Path, only: dict[str, list[str]] | None = None, workers: int = 1) -> str | None:
    """`disk_warning` for the nodes a run of `spec` into `out` has still to compute (`xstilts run`, before it starts)."""
    from xstilts.experiments.plan import build_plan, is_done, select_nodes

    nodes = select_nodes(build_plan(spec), only)
    done = {n.id: is_done(Path(out), n) for n in nodes}
    return disk_warning(plan_costs(nodes, done, spec.checkpoints.target, Path(out), workers), Path(out))


def describe(costs: dict[str, Any]) -> list[str]:
    """The lines `xstilts plan` prints about the costs."""
    hours = ", ".join(f"{k} {v:g}" for k, v in costs["gpu_hours"].items()) or "nothing left"
    lines = [
        f"GPU-hours left by kind: {hours} (total {costs['gpu_hours_total']:g}; scaled by each model's parameters, "
        f"LoRA phases x{LORA_TIME:g}; coarse)",
        f"disk of the run directory: {costs['disk_peak_gb']:g} GB at the peak, {costs['disk_end_gb']:g} GB at the end "
        f"(checkpoints.target: {costs['retention']}); the remaining nodes add {costs['disk_needed_gb']:g} GB at most",
    ]
    if costs["unknown_models"]:
        lines.append(f"unknown size (not counted): {', '.join(costs['unknown_models'])}")
    return lines
