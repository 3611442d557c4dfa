"""The alignment loss and its training loop, as Cao et al. (2020) define them and Efimov et al.'s code runs them
(alignment/bert_finetuning_alignment.py): for each language and each slice of `sub_batch` sentence pairs,

    loss = mean_{(i, j) linked} ||f(x)_i - f(e)_j||^2  +  regularizer * mean_{all English words w} ||f(e)_w - f0(e)_w||^2

(mean squared error over the vector elements, as torch's mse_loss), f the encoder being aligned, f0 a frozen copy of
where it started; the losses of every slice and language of a step are summed, then one Adam step (betas 0.9/0.98,
eps 1e-9, no clipping) with a linear warmup over the first `warmup_ratio` of the steps and a constant rate after.
Languages of different sizes are cycled through, the step count following the largest.

The continual-learning variant (their run_*_multi_task_no_trainer.py) adds `continual_weight` x the first term (and
`continual_regularizer` x the second, 0 by default) of one random batch of `continual_batch_size` pairs to every
micro-batch loss of the following target phase.
"""

from __future__ import annotations

import copy
import math
import random
import time
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from xstilts.alignment.corpus import Pair
from xstilts.alignment.vectors import encode_words, linked_rows


def pair_loss(
    encoder: Any,
    base: Any | None,
    tokenizer: Any,
    pairs: list[Pair],
    settings: dict[str, Any],
    align_weight: float = 1.0,
    regularizer: float | None = None,
) -> torch.Tensor:
    """The loss of one slice of pairs: linked-word distance, plus the English-stays-put term against `base`."""
    mode, specials, length = (
        settings["word_vectors"],
        bool(settings["include_specials"]),
        int(settings["max_seq_length"]),
    )
    reg = float(settings["regularizer"] if regularizer is None else regularizer)
    va = encode_words(encoder, tokenizer, [p.words for p in pairs], mode, None, specials, length)
    vb = encode_words(encoder, tokenizer, [p.english for p in pairs], mode, None, specials, length)
    ia, ib = linked_rows(va, vb, [p.links or [] for p in pairs])
    loss = align_weight * F.mse_loss(va.vectors[ia], vb.vectors[ib]) if len(ia) else va.vectors.sum() * 0.0
    if reg > 0 and base is not None:
        with torch.no_grad():
            v0 = encode_words(base, tokenizer, [p.english for p in pairs], mode, None, specials, length)
        keep = vb.present & v0.present
        loss = loss + reg * F.mse_loss(vb.vectors[keep], v0.vectors[keep])
    return loss


def frozen_copy(encoder: Any) -> Any:
    """A copy of the encoder that never trains (the regularizer's reference)."""
    base = copy.deepcopy(encoder).eval()
    base.requires_grad_(False)
    return base


def align_encoder(
    encoder: Any,
    tokenizer: Any,
    corpora: dict[str, list[Pair]],
    settings: dict[str, Any],
    seed: int,
    progress: bool = True,
    base: Any | None = None,
) -> dict[str, Any]:
    """Align `encoder` in place on every language's linked pairs; returns what the loop did (steps, losses, seconds).

    `base`: the frozen start (a copy is made when None)."""
    t0 = time.time()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    order = {lang: rng.sample(pairs, len(pairs)) for lang, pairs in corpora.items()}  # their random.sample
    base = frozen_copy(encoder) if base is None else base
    if settings.get("freeze_embeddings"):
        encoder.get_input_embeddings().requires_grad_(False)
    params = [p for p in encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=float(settings["learning_rate"]), betas=(0.9, 0.98), eps=1e-9)
    batch, sub = int(settings["batch_size"]), int(settings["sub_batch"])
    largest = max(len(p) for p in order.values())
    steps = max(1, math.ceil(float(settings["num_epochs"]) * largest / batch))
    warmup = int(float(settings["warmup_ratio"]) * steps)
    lr = float(settings["learning_rate"])
    losses: list[float] = []
    encoder.train()
    for step in tqdm(range(steps), desc="align " + ",".join(corpora), disable=not progress, leave=False):
        for group in optimizer.param_groups:
            group["lr"] = lr * (step + 1) / warmup if step < warmup else lr
        total = None
        for _lang, pairs in order.items():
            start = (step * batch) % len(pairs)  # cyclic: languages of different sizes
            chunk = [pairs[(start + k) % len(pairs)] for k in range(min(batch, len(pairs)))]
            for s in range(0, len(chunk), sub):
                loss = pair_loss(encoder, base, tokenizer, chunk[s : s + sub], settings)
                loss.backward()  # the slices' losses summed: their gradients accumulate
                total = float(loss.detach()) + (total or 0.0)
        if total is None or not math.isfinite(total):
            raise FloatingPointError(f"alignment loss {total} at step {step + 1}")
        losses.append(total)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if settings.get("freeze_embeddings"):
        encoder.get_input_embeddings().requires_grad_(True)
    return {
        "steps": steps,
        "warmup_steps": warmup,
        "pairs_per_step": batch * len(order),
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "losses": losses,
        "seconds": time.time() - t0,
    }


class ContinualAlignment:
    """Alignment batches mixed into a target phase: `loss()` is the weighted alignment loss of one random batch."""

    def __init__(
        self, encoder: Any, tokenizer: Any, corpora: dict[str, list[Pair]], settings: dict[str, Any], seed: int
    ):
        self.encoder, self.tokenizer, self.settings = encoder, tokenizer, settings
        self.pairs = [p for lang in sorted(corpora) for p in corpora[lang]]
        self.rng = random.Random(seed)
        reg = float(settings["continual_regularizer"])
        self.base = frozen_copy(encoder) if reg > 0 else None
        self.batches = 0

    def loss(self) -> torch.Tensor:
        chunk = self.rng.sample(self.pairs, min(int(self.settings["continual_batch_size"]), len(self.pairs)))
        self.batches += 1
        return pair_loss(
            self.encoder,
            self.base,
            self.tokenizer,
            chunk,
            self.settings,
            align_weight=float(self.settings["continual_weight"]),
            regularizer=float(self.settings["continual_regularizer"]),
        )
