"""AdamW for the word-embedding matrix that touches only the rows a batch has ever used, with the same result.

A multilingual vocabulary is mostly rows an English training set never uses: e5-small's 250k x 384 word embeddings are
96M of its 117M parameters, while 2,000 English sentence pairs (demo_wn_entail) use 2,607 rows. Dense AdamW nevertheless reads and
writes every row at every step (parameter, gradient, both moments), and clipping and zeroing read or write the whole
gradient; on a 2-core CPU that memory traffic costs as much as the transformer's matmuls on short sentences.

The same update, done lazily. A row that has never had a gradient has both moments exactly zero, so dense AdamW's step
on it is the decoupled weight decay alone: `p <- p * (1 - lr_t * wd)`. Such rows are left alone and the product of those
factors is kept as one scalar; a row is brought up to date (multiplied by the product) just before the first forward
pass that reads it, and from then on it is *active*: it gets the full AdamW update at every step, with a zero gradient
on steps whose batches do not use it, exactly as the dense optimizer does (its moments keep decaying). `materialize()`
applies the pending decay to every inactive row, before anything outside training reads the weights (a dev evaluation,
a checkpoint). Every weight is trained as the recipe says; the results equal dense AdamW's up to float rounding (the
product is formed in float64 and applied once instead of step by step; tests/test_train_perf.py compares a training
run against torch's AdamW).

Gradients never fill a vocabulary-sized tensor: the lookup's backward hands (row ids, gradient rows) to this object,
which sums them per row at the step, adds their squared norm to the clipping norm, and scales them by the clip factor.
Used on CPU with one process, when the input embedding is a plain `nn.Embedding` whose weight nothing else uses (a
masked-LM head tied to it would need the dense gradient).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from xstilts.modeling.forwards import swap_forward


class _Lookup(torch.autograd.Function):
    """The embedding lookup; its backward passes the rows' gradients to the LazyRowAdamW instead of a dense `.grad`."""

    @staticmethod
    def forward(ctx: Any, ids: torch.Tensor, weight: torch.Tensor, owner: LazyRowAdamW) -> torch.Tensor:
        ctx.save_for_backward(ids)
        ctx.owner = owner
        return torch.nn.functional.embedding(ids, weight, owner.padding_idx)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        (ids,) = ctx.saved_tensors
        ctx.owner.add_grad(ids.reshape(-1), grad.reshape(-1, grad.shape[-1]))
        return None, None, None


class LazyRowAdamW:
    """Torch's AdamW (decoupled weight decay, bias correction, eps outside the square root) on one embedding matrix,
    stepping only the rows ever used. `install()` routes the embedding's forward through it; `uninstall()` restores it."""

    def __init__(self, embedding: torch.nn.Embedding, weight_decay: float, eps: float, betas=(0.9, 0.999)):
        self.embedding, self.weight = embedding, embedding.weight
        self.padding_idx = embedding.padding_idx
        self.weight_decay, self.eps, (self.beta1, self.beta2) = float(weight_decay), float(eps), betas
        vocab, dim = self.weight.shape
        self.position = torch.full((vocab,), -1, dtype=torch.long)  # row -> index in `active`, -1 while inactive
        self.active = torch.empty(0, dtype=torch.long)
        self.exp_avg = self.weight.new_zeros((0, dim))
        self.exp_avg_sq = self.weight.new_zeros((0, dim))
        self.pending = 1.0  # product of (1 - lr*wd) over the steps since the inactive rows were last brought up to date
        self.steps = 0
        self._grads: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._summed: tuple[torch.Tensor, torch.Tensor] | None = None
        self._restore: Callable[[], None] = lambda: None

    # -- forward and backward ------------------------------------------------------------------------------------
    def install(self) -> None:
        embedding, plain = self.embedding, self.embedding.forward

        def forward(ids: torch.Tensor) -> torch.Tensor:
            if torch.is_grad_enabled():
                self.activate(ids)
                return _Lookup.apply(ids, self.weight, self)
            return plain(ids)

        self._restore = swap_forward(embedding, forward)

    def uninstall(self) -> None:
        self.materialize()
        self._restore()

    @torch.no_grad()
    def activate(self, ids: torch.Tensor) -> None:
        """Bring the rows `ids` uses up to date and make them active (before a forward pass reads them)."""
        used = torch.unique(ids.reshape(-1).cpu())
        new = used[self.position[used] < 0]
        if not len(new):
            return
        if self.pending != 1.0:  # index_select/index_copy_: `weight[new] *= x` costs 25x more on CPU
            self.weight.data.index_copy_(0, new, self.weight.data.index_select(0, new).mul_(self.pending))
        self.position.index_copy_(0, new, torch.arange(len(self.active), len(self.active) + len(new)))
        self.active = torch.cat([self.active, new])
        zeros = self.exp_avg.new_zeros((len(new), self.exp_avg.shape[1]))
        self.exp_avg = torch.cat([self.exp_avg, zeros])
        self.exp_avg_sq = torch.cat([self.exp_avg_sq, zeros])

    def add_grad(self, ids: torch.Tensor, rows: torch.Tensor) -> None:
        if self.padding_idx is not None:  # as nn.Embedding: the padding row gets no gradient
            keep = ids != self.padding_idx
            ids, rows = ids[keep], rows[keep]
        self._grads.append((ids, rows.to(self.weight.dtype)))
        self._summed = None

    # -- the step ------------------------------------------------------------------------------------------------
    def _summed_grad(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(active-list indices, gradient rows summed per row) of the micro-batches since the last step."""
        if self._summed is None:
            if self._grads:
                ids = torch.cat([i for i, _ in self._grads])
                rows = torch.cat([r for _, r in self._grads])
                used, where = torch.unique(ids, return_inverse=True)
                summed = rows.new_zeros((len(used), rows.shape[1])).index_add_(0, where, rows)
                self._summed = (self.position[used], summed)
            else:
                self._summed = (torch.empty(0, dtype=torch.long), self.weight.new_zeros((0, self.weight.shape[1])))
        return self._summed

    def grad_norm(self) -> torch.Tensor:
        """The L2 norm of this step's embedding gradient (the dense gradient's norm: its other rows are zero)."""
        return torch.linalg.vector_norm(self._summed_grad()[1])

    @torch.no_grad()
    def step(self, lr: float, clip_coef: torch.Tensor | None = None) -> None:
        """One AdamW step of the active rows (gradients scaled by `clip_coef`, the clip factor of the whole model)."""
        where, summed = self._summed_grad()
        self._grads, self._summed = [], None
        self.steps += 1
        grad = self.exp_avg.new_zeros(self.exp_avg.shape)
        grad.index_add_(0, where, summed if clip_coef is None else summed * clip_coef)
        param = self.weight.data.index_select(0, self.active)
        param.mul_(1 - lr * self.weight_decay)
        self.exp_avg.lerp_(grad, 1 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        bias1, bias2 = 1 - self.beta1**self.steps, 1 - self.beta2**self.steps
        denom = (self.exp_avg_sq.sqrt() / math.sqrt(bias2)).add_(self.eps)
        param.addcdiv_(self.exp_avg, denom, value=-lr / bias1)
        self.weight.data.index_copy_(0, self.active, param)
        self.pending *= 1 - lr * self.weight_decay  # the inactive rows' step: weight decay alone

    @torch.no_grad()
    def materialize(self) -> None:
        """Apply the pending weight decay to every inactive row: the matrix is then what dense AdamW would hold."""
        if self.pending != 1.0:
            active = self.weight.data.index_select(0, self.active)  # most rows are inactive: scale all, put these back
            self.weight.data.mul_(self.pending).index_copy_(0, self.active, active)
            self.pending = 1.0


def plain_embedding(module: Any) -> bool:
    """A trainable nn.Embedding with none of the options that change its gradient (max_norm, scale_grad_by_freq,
    sparse): its backward may be replaced by one that computes the same gradient rows."""
    return (
        type(module) is torch.nn.Embedding
        and module.weight.requires_grad
        and module.max_norm is None
        and not module.scale_grad_by_freq
        and not module.sparse
    )


def lazy_rows_apply(model: Any, embedding: Any) -> bool:
    """Whether `embedding` can take LazyRowAdamW: a plain_embedding whose weight no other module uses (registered as
    its own parameter, or declared by a `reads_word_embeddings` attribute, as the masked-LM head does)."""
    if not plain_embedding(embedding):
        return False
    for m in model.modules():
        if m is embedding:
            continue
        if getattr(m, "reads_word_embeddings", False) or any(
            p is embedding.weight for p in m.parameters(recurse=False)
        ):
            return False
    return True
