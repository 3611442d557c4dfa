"""Multilingual masked-LM co-training during intermediate training (Phang et al. 2020's first alternative)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xstilts.data.examples import TextExample
from xstilts.data.featurize import Collator, featurize_text
from xstilts.errors import UserError
from xstilts.modeling.model import HeadSpec
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


def mlm_train_task(model: Any, tokenizer: Any, cfg: Any) -> TrainTask:
    """Add an MLM head (tied to the word embeddings) and a training stream with its own masking collator."""
    if tokenizer.mask_token_id is None:
        raise UserError("MLM co-training needs a tokenizer with a mask token")
    settings = cfg.resolved_settings(None)
    model.add_head(HeadSpec(task=MLM_TASK, family="mlm"))
    model.heads[MLM_TASK].to(next(model.encoder.parameters()).device)
    examples = read_corpus(cfg.mlm_corpus, settings.get("max_train_examples"))
    feats = featurize_text(examples, tokenizer, int(settings["max_seq_length"]))
    collate = Collator(pad_id=tokenizer.pad_token_id or 0, mask_id=tokenizer.mask_token_id,
                       vocab_size=model.encoder.config.vocab_size, mlm_probability=0.15, seed=cfg.seed)
    return TrainTask(name=MLM_TASK, feats=feats, collate=collate)
