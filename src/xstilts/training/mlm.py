"""Multilingual masked-LM co-training during intermediate training (Phang et al. 2020's first alternative)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from xstilts.errors import UserError
from xstilts.families.examples import TextExample
from xstilts.families.featurize import Collator, featurize_text
from xstilts.families.heads import MaskedLMHead
from xstilts.modeling.model import HeadSpec, is_checkpoint
from xstilts.training.loop import TrainTask

MLM_TASK = "mlm"


def read_corpus(path: str | Path, max_lines: int | None = None) -> list[TextExample]:
    """Plain text, one sentence per line (a file, or every *.txt file of a directory, sorted); blank lines skipped."""
    p = Path(path)
    files = sorted(p.glob("*.txt")) if p.is_dir() else [p]
    if not files or not all(f.is_file() for f in files):
        raise UserError("MLM corpus not found (a text file, or a directory of *.txt files)", path=str(p))
    out: list[TextExample] = []
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                out.append(TextExample(guid=f"{f.name}:{n}", text=line.strip()))
            if max_lines and len(out) >= max_lines:
                return out
    if not out:
        raise UserError("MLM corpus is empty", path=str(p))
    return out


# Where each architecture's AutoModelForMaskedLM keeps its LM head: (head prefix, dense, LayerNorm, output bias).
_LM_HEADS = {
    "cls.predictions.": ("transform.dense", "transform.LayerNorm", "bias"),  # BERT (mBERT, e5, MiniLM)
    "lm_head.": ("dense", "layer_norm", "bias"),  # RoBERTa / XLM-R
}


def _submodule(root: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        root = getattr(root, part)
    return root


def load_pretrained_lm_head(head: MaskedLMHead, source: str, trust_remote_code: bool = False) -> str | None:
    """Copy the LM-head weights (dense, LayerNorm, output bias) of `source`'s AutoModelForMaskedLM into `head`.

    Returns None when the model has them all, else why not (no masked-LM class, or a folder saved without the head, as
    phase checkpoints' encoders are): the caller then keeps the random head and records that.
    """
    from transformers import AutoModelForMaskedLM

    try:
        lm, info = AutoModelForMaskedLM.from_pretrained(
            source, use_safetensors=True, output_loading_info=True, trust_remote_code=trust_remote_code
        )
    except (ValueError, OSError, KeyError) as e:
        return f"no masked-LM model: {type(e).__name__}"
    names = {n for n, _ in lm.named_parameters()} | {n for n, _ in lm.named_buffers()}
    for prefix, (dense, norm, bias) in _LM_HEADS.items():
        if not any(n.startswith(prefix) for n in names):
            continue
        missing = sorted(k for k in info.get("missing_keys", ()) if k.startswith(prefix))
        if missing:
            return "checkpoint has no LM head weights (" + ", ".join(missing[:3]) + ")"
        base = _submodule(lm, prefix.rstrip("."))
        with torch.no_grad():
            head.dense.load_state_dict(_submodule(base, dense).state_dict())
            head.norm.load_state_dict(_submodule(base, norm).state_dict())
            head.bias.copy_(_submodule(base, bias))
        return None
    return f"unknown LM head layout for {type(lm).__name__}"


def mlm_train_task(model: Any, tokenizer: Any, cfg: Any) -> TrainTask:
    """Add an MLM head (tied to the word embeddings) and a training stream with its own masking collator.

    The head starts from the start model's pretrained LM head where it has one (as jiant's X-STILTs runs did), with the
    encoder config's LayerNorm eps and activation; `TrainTask.info["head_init"]` says "pretrained" or "random" (and why).
    """
    if tokenizer.mask_token_id is None:
        raise UserError("MLM co-training needs a tokenizer with a mask token")
    settings = cfg.resolved_settings(None)
    config = model.encoder.config
    model.add_head(HeadSpec(task=MLM_TASK, family="mlm"))
    head = MaskedLMHead(
        model.hidden_size,
        model.encoder.get_input_embeddings(),
        eps=float(getattr(config, "layer_norm_eps", 1e-12)),
        activation=str(getattr(config, "hidden_act", "gelu")),
    )
    source = str(Path(cfg.start) / "encoder") if is_checkpoint(cfg.start) else cfg.start
    why_random = load_pretrained_lm_head(head, source, trust_remote_code=getattr(cfg, "trust_remote_code", False))
    model.heads[MLM_TASK] = head.to(next(model.encoder.parameters()).device)
    examples = read_corpus(cfg.mlm_corpus, settings.get("max_train_examples"))
    feats = featurize_text(examples, tokenizer, int(settings["max_seq_length"]))
    collate = Collator(
        pad_id=tokenizer.pad_token_id or 0,
        mask_id=tokenizer.mask_token_id,
        vocab_size=model.encoder.config.vocab_size,
        mlm_probability=0.15,
        seed=cfg.seed,
    )
    info = {"head_init": "random" if why_random else "pretrained", "head_source": source}
    if why_random:
        info["head_random_reason"] = why_random
    return TrainTask(name=MLM_TASK, feats=feats, collate=collate, info=info)
