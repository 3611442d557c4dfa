"""What a phase trains: the one place that sets `requires_grad` on a MultiTaskModel, and the LoRA update's lifetime.

`prepare(model, tasks, settings)` decides, before the optimizer is built:
- `finetune: full` (the paper's): every encoder weight and every head trains, except the word embeddings under
  `freeze_embeddings`;
- `finetune: lora`: a peft LoRA update (rank `lora_rank`, scale `lora_alpha / lora_rank`, dropout `lora_dropout`) on the
  encoder's `lora_target_modules`; every other encoder weight is frozen; the heads train fully;
- in both, the encoder's pooler trains only in a phase where some head reads it (classification, multiple choice:
  `MultiTaskModel.reads_pooled`); elsewhere it stays as it is (no gradient, no weight decay), which also keeps a tagging
  or QA phase valid under DDP (no parameter without a gradient).

`Trainable.finish()` at the end of training merges a LoRA update into the encoder (peft `merge_and_unload`: W + scale *
B A), so whatever follows (the checkpoint, the next phase, retrieval, evaluation) reads a plain Hugging Face encoder.
With `lora_store: adapter` it first keeps the update as `model.adapter` (the LoRA matrices and the pooler), which
`modeling.model.save_checkpoint` writes instead of the encoder's weights, next to a reference to the phase's start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from xstilts.modeling.model import LoraAdapter

LORA_KEYS = ("lora_rank", "lora_alpha", "lora_dropout", "lora_target_modules")


def lora_config(settings: dict[str, Any]) -> Any:
    """The peft LoraConfig a phase's hyperparameters describe (no bias trained, as Hu et al. 2021)."""
    from peft import LoraConfig

    return LoraConfig(
        r=int(settings["lora_rank"]),
        lora_alpha=int(settings["lora_alpha"]),
        lora_dropout=float(settings["lora_dropout"]),
        target_modules=list(settings["lora_target_modules"]),
        bias="none",
    )


@dataclass
class Trainable:
    """The decision `prepare` made for one phase, and the LoRA wrapper to merge at its end (None: full fine-tuning)."""

    model: Any
    finetune: str = "full"
    store: str = "merge"
    lora: Any = None  # peft LoraModel around model.encoder (the same module object, LoRA layers injected in place)
    settings: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def finish(self) -> dict[str, Any]:
        """End of training: a LoRA update merged into the encoder (kept as `model.adapter` too with `lora_store:
        adapter`). Returns what phase.json records about it."""
        info: dict[str, Any] = {"finetune": self.finetune, **self.counts}
        if self.lora is None:
            return info
        encoder = self.model.encoder
        if self.store == "adapter":
            lora = {k: v.detach().to("cpu", copy=True) for k, v in encoder.state_dict().items() if ".lora_" in k}
            pooler = getattr(encoder, "pooler", None)
            kept = (
                {}
                if pooler is None
                else {f"pooler.{k}": v.detach().to("cpu", copy=True) for k, v in pooler.state_dict().items()}
            )
            self.model.adapter = LoraAdapter(config={k: self.settings[k] for k in LORA_KEYS}, lora=lora, kept=kept)
        self.model.encoder = self.lora.merge_and_unload()  # the same encoder object, plain layers again
        self.lora = None
        info.update(lora_store=self.store, **{k: self.settings[k] for k in LORA_KEYS})
        return info


def _count(model: Any) -> dict[str, int]:
    params = list(model.parameters())
    return {
        "parameters": sum(p.numel() for p in params),
        "trained_parameters": sum(p.numel() for p in params if p.requires_grad),
    }


def prepare(model: Any, tasks: Iterable[str], settings: dict[str, Any]) -> Trainable:
    """Set what trains in a phase of `tasks` (see the module docstring); call before the optimizer is built."""
    tasks = list(tasks)
    finetune = str(settings.get("finetune", "full"))
    model.adapter = None
    model.requires_grad_(True)  # the heads, and in a full phase the encoder
    lora = None
    if finetune == "lora":
        from peft.tuners.lora import LoraModel

        # freezes every encoder weight but the injected LoRA matrices (a head tied to the word embeddings included)
        lora = LoraModel(model.encoder, lora_config(settings), "default")
    elif settings.get("freeze_embeddings"):
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    pooler = getattr(model.encoder, "pooler", None)
    if pooler is not None:  # trained in the phases whose heads read it, kept as it is (no decay) in the others
        pooler.requires_grad_(any(model.reads_pooled(t) for t in tasks))
    return Trainable(
        model=model,
        finetune=finetune,
        store=str(settings.get("lora_store", "merge")),
        lora=lora,
        settings=dict(settings),
        counts=_count(model),
    )
