"""Dropout for CPU training with masks built from 23 random bits per element by float arithmetic.

torch's CPU dropout draws its mask with `bernoulli_`, which generates each element from the serial Mersenne-Twister
generator through a double-precision uniform; with 2 cores that was 7.5% of a MiniLM training step (21 masks per
step, benchmarks/RESULTS.md). Here each 64-bit draw of torch's generator (`random_` on int64) gives two elements: the
low 23 bits of each 32-bit half become the mantissa of a float32 u uniform on [1, 2), and ceil(2 - p - u) is 1 where
u < 2 - p and 0 elsewhere, then scaled by 1 / (1 - p) as `nn.Dropout` does. Only vectorized integer and float32
operations follow the draw (a comparison or a bool-to-float conversion costs 4-5x a float multiply here), so a mask
costs about a third of the earlier 24-bit compare-and-convert one. An element is kept with probability
keep_fraction(p) = float32(2 - p) - 1, within 2^-24 of 1 - p (0.89999998 for p = 0.1). The generator is torch's
own, so `torch.manual_seed` makes the masks reproducible; they are not the masks `nn.Dropout` would draw, so a CPU
run's numbers differ from a run without this (as they differ between a CPU and a GPU run anyway).

Used by the training loop on CPU only (CUDA's dropout is one fused kernel already): `install_cpu_dropout(model)` routes
every `nn.Dropout` and the attention-probability dropout of encoders that use the standard attention interface through it
for the duration of training and returns the function that undoes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from xstilts.modeling.forwards import swap_forward

_MANTISSA = 0x007FFFFF  # the 23 mantissa bits of a float32
_ONE = 0x3F800000  # the sign and exponent bits of 1.0f


def keep_fraction(p: float) -> float:
    """The exact probability that an element is kept: float32(2 - p) - 1 (u < float32(2 - p), u on a 2^-23 grid)."""
    return float(np.float32(2.0 - p)) - 1.0


def dropout_scale_mask(shape: torch.Size, p: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """0 where dropped, 1 / (1 - p) where kept."""
    n = math.prod(shape)
    words = torch.empty((n + 1) // 2, dtype=torch.int64, device=device).random_()  # 63 random bits: two int32 halves
    mask = scale_mask_from_bits(words.view(torch.int32)[:n], p).view(shape)
    return mask if dtype == torch.float32 else mask.to(dtype)


def scale_mask_from_bits(bits: torch.Tensor, p: float) -> torch.Tensor:
    """In place on `bits` (int32): its low 23 bits k give u = 1 + k 2^-23; 1 / (1 - p) where u < float32(2 - p), else 0
    (the float32 result is `bits`' storage)."""
    u = bits.bitwise_and_(_MANTISSA).bitwise_or_(_ONE).view(torch.float32)  # uniform on [1, 2)
    return u.neg_().add_(2.0 - p).ceil_().mul_(1.0 / (1.0 - p))  # ceil(2 - p - u): 1 iff u < 2 - p (exact in float32)


class _MaskedScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float) -> torch.Tensor:
        scale = dropout_scale_mask(x.shape, p, x.dtype, x.device)
        ctx.save_for_backward(scale)
        return x * scale

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (scale,) = ctx.saved_tensors
        return grad * scale, None


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Drop-in for `F.dropout(x, p, training)` (never in place)."""
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return torch.zeros_like(x)
    return _MaskedScale.apply(x, p)


def _attention_with_dropout(plain: Callable[..., Any]) -> Callable[..., Any]:
    """An attention function of transformers' interface whose probability dropout is `dropout` above; without dropout
    (evaluation) it is `plain`, the model's own (SDPA's fused kernels)."""

    def attend(
        module: nn.Module,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None,
        scaling: float | None = None,
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if (
            not dropout
            or getattr(module, "is_causal", False)
            or kwargs.get("is_causal")
            or kwargs.get("head_mask") is not None
        ):
            return plain(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
        scale = query.shape[-1] ** -0.5 if scaling is None else scaling
        scores = torch.matmul(query, key.transpose(2, 3)) * scale
        if attention_mask is not None:
            if attention_mask.dtype == torch.bool:
                scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
            else:
                scores = scores + attention_mask
        probs = _dropout_fn(torch.softmax(scores, dim=-1), dropout)
        return torch.matmul(probs, value).transpose(1, 2).contiguous(), None

    return attend


def _dropout_fn(x: torch.Tensor, p: float) -> torch.Tensor:
    """`dropout`, under a name the attention interface's `dropout` argument does not shadow."""
    return dropout(x, p, True)


def install_cpu_dropout(model: nn.Module) -> Callable[[], None]:
    """Route `model`'s dropouts through this module's mask until the returned function is called."""
    undo: list[Callable[[], None]] = []
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            undo.append(swap_forward(module, _module_forward(module)))
    undo.extend(_patch_attention(model))

    def uninstall() -> None:
        for u in reversed(undo):
            u()

    return uninstall


def _module_forward(module: nn.Dropout) -> Callable[[torch.Tensor], torch.Tensor]:
    def forward(x: torch.Tensor) -> torch.Tensor:
        return dropout(x, module.p, module.training)

    return forward


def _patch_attention(model: nn.Module) -> list[Callable[[], None]]:
    """Encoders whose attention reads `config._attn_implementation` from transformers' attention registry (BERT,
    XLM-R and the like in transformers 5): a registered attention function with this dropout, and the plain one's mask
    function, under a name of their own."""
    try:
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, AttentionInterface
    except ImportError:  # pragma: no cover - transformers without the registries
        return []
    undo: list[Callable[[], None]] = []
    seen: set[int] = set()
    for module in model.modules():
        config = getattr(module, "config", None)
        impl = getattr(config, "_attn_implementation", None)
        if (
            config is None
            or id(config) in seen
            or not isinstance(impl, str)
            or impl not in ALL_ATTENTION_FUNCTIONS
            or impl not in ALL_MASK_ATTENTION_FUNCTIONS
        ):
            continue
        seen.add(id(config))
        name = f"xstilts_cpu_dropout_{impl}"
        AttentionInterface.register(name, _attention_with_dropout(ALL_ATTENTION_FUNCTIONS[impl]))
        AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[impl])
        undo.append(_config_setter(config, impl, name))
    return undo


def _config_setter(config: Any, impl: str, name: str) -> Callable[[], None]:
    config._attn_implementation_internal = name

    def undo() -> None:
        config._attn_implementation_internal = impl

    return undo
