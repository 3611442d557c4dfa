"""The encoder's last layer computed for the first position only, when the head reads nothing else.

Classification and multiple-choice heads read `last_hidden_state[:, 0]` (through the pooler where the encoder has
one: modeling/model.py `pooled`). The last layer's output at position 0
depends on the keys and values of every position, but on the query, attention output, feed-forward block and layer
norms of position 0 alone; the other positions' outputs reach no loss, so their gradients are exactly zero. Within
`first_position_only(encoder)` the last layer therefore computes keys and values for all positions and everything else
for position 0: of that layer's matmuls only the key and value projections (2 of 12 per token) remain, i.e. 10/12 of
one layer's FLOPs saved (14% of a 6-layer encoder's, 7% of a 12-layer one's), forward and backward. The outputs the
head reads and every gradient are those of the full computation (up to float summation order); with dropout the masks
of the last layer are drawn for fewer positions, so a run's random stream differs from one without this.

Applied to BERT-layout encoders (BERT, RoBERTa, XLM-R, CamemBERT, ELECTRA: `encoder.layer[-1].attention.self` with
query/key/value projections and the attention-function interface) with absolute positions, no decoder or cross
attention, no gradient checkpointing (which would re-run the layer's forward outside this context) and not compiled
(the swapped forwards would invalidate the compiled graph); any other encoder runs unchanged. The last layer's two forwards are swapped for the duration of one encoder call only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from xstilts.modeling.forwards import swapped_forwards

ENABLED = True  # the benchmark's ablation switch (benchmarks/train_throughput.py)
MODEL_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "electra"})


def _attention_function(self_attention: Any) -> Callable[..., Any] | None:
    """The attention function the module itself would call (transformers' registry, or its module's eager one)."""
    impl = getattr(self_attention.config, "_attn_implementation", None) or "eager"
    if impl == "eager":
        return getattr(sys.modules[type(self_attention).__module__], "eager_attention_forward", None)
    try:
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    except ImportError:  # pragma: no cover - transformers without the registry
        return None
    if impl == "sdpa" or impl.startswith("xstilts_"):
        return ALL_ATTENTION_FUNCTIONS[impl] if impl in ALL_ATTENTION_FUNCTIONS else None
    return None  # flash / flex attention: their own mask layouts; not rewritten here


def _checkpointing(encoder: nn.Module) -> bool:
    """Whether activation (gradient) checkpointing is on, by the name transformers 5 prefers where it exists."""
    name = "is_activation_checkpointing" if hasattr(type(encoder), "is_activation_checkpointing") else None
    return bool(getattr(encoder, name or "is_gradient_checkpointing", False))


def last_layer(encoder: nn.Module) -> Any:
    """The encoder's last layer (a transformers module) when it can be computed for the first position alone, else
    None."""
    found = _layer_and_attention(encoder)
    return found[0] if found else None


def _layer_and_attention(encoder: nn.Module) -> tuple[Any, Callable[..., Any]] | None:
    """The last layer and the attention function its self-attention calls, when the layer qualifies."""
    config = getattr(encoder, "config", None)
    if (
        config is None
        or getattr(config, "model_type", None) not in MODEL_TYPES
        or getattr(config, "is_decoder", False)
        or getattr(config, "add_cross_attention", False)
        or getattr(config, "position_embedding_type", "absolute") != "absolute"
        or _checkpointing(encoder)
        or getattr(encoder, "_compiled_call_impl", None) is not None  # torch.compile: swapped forwards would recompile
    ):
        return None
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not layers:
        return None
    layer: Any = layers[-1]
    attention = getattr(layer, "attention", None)
    self_attention, output = getattr(attention, "self", None), getattr(attention, "output", None)
    if (
        self_attention is None
        or output is None
        or not all(isinstance(getattr(self_attention, n, None), nn.Linear) for n in ("query", "key", "value"))
        or not isinstance(getattr(self_attention, "attention_head_size", None), int)
    ):
        return None
    attend = _attention_function(self_attention)
    return None if attend is None else (layer, attend)


def _first_query_forward(self_attention: Any, attend: Callable[..., Any]) -> Callable[..., Any]:
    """The self-attention module's forward with queries for position 0 only (keys and values for all positions)."""

    def forward(
        hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if kwargs.pop("cache", None) is not None or kwargs.pop("encoder_hidden_states", None) is not None:
            raise RuntimeError("first_position_only is for encoders without cache or cross attention")
        b, n = hidden_states.shape[0], hidden_states.shape[1]
        d = self_attention.attention_head_size
        query = self_attention.query(hidden_states[:, :1]).view(b, 1, -1, d).transpose(1, 2)
        key = self_attention.key(hidden_states).view(b, n, -1, d).transpose(1, 2)
        value = self_attention.value(hidden_states).view(b, n, -1, d).transpose(1, 2)
        if attention_mask is not None and attention_mask.dim() == 4 and attention_mask.shape[-2] > 1:
            attention_mask = attention_mask[:, :, :1]  # the query rows of a (B, 1 | H, L, L) mask
        out, weights = attend(
            self_attention,
            query,
            key,
            value,
            attention_mask,
            dropout=self_attention.dropout.p if self_attention.training else 0.0,
            scaling=getattr(self_attention, "scaling", d**-0.5),
            **kwargs,
        )
        return out.reshape(b, 1, -1).contiguous(), weights

    return forward


def _residual_sliced(output: Any) -> Callable[..., Any]:
    """The attention output block's forward with its residual input cut to the positions computed."""
    plain = type(output).forward

    def forward(hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return plain(output, hidden_states, input_tensor[:, : hidden_states.shape[1]])

    return forward


@contextmanager
def first_position_only(encoder: nn.Module, wanted: bool = True) -> Iterator[bool]:
    """Within the block, the encoder's last layer computes position 0 only (last_hidden_state is (B, 1, H)) when
    `wanted`, enabled and supported; yields whether it does."""
    found = _layer_and_attention(encoder) if wanted and ENABLED else None
    if found is None:
        yield False
        return
    layer, attend = found
    self_attention, output = layer.attention.self, layer.attention.output
    with swapped_forwards(
        [(self_attention, _first_query_forward(self_attention, attend)), (output, _residual_sliced(output))]
    ):
        yield True
