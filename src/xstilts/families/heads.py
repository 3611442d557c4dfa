"""Task heads, one small module per family, all reading the shared encoder's hidden states; each family's FamilyOps
entry names its builder."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


class ClassificationHead(nn.Module):
    """Sentence classifier on the pooled vector (modeling/model.py `pooled`): dropout, dense, tanh, dropout, linear, as
    jiant's ClassificationHead (the paper's code); num_labels == 1 means regression."""

    reads_pooled = True  # (B, H) vectors in; the encoder's last layer may compute position 0 alone (first_position.py)

    def __init__(self, hidden: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, num_labels)
        self.num_labels = num_labels

    def scores(self, vectors: torch.Tensor) -> torch.Tensor:
        x = self.dropout(torch.tanh(self.dense(self.dropout(vectors))))
        return self.out(x)

    def forward(self, vectors: torch.Tensor, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        logits = self.scores(vectors)
        out = {"logits": logits}
        if "labels" in batch:
            if self.num_labels == 1:
                out["loss"] = F.mse_loss(logits.squeeze(-1).float(), batch["labels"].float())
            else:
                out["loss"] = F.cross_entropy(logits.float(), batch["labels"])
        return out


class MultipleChoiceHead(ClassificationHead):
    """Scores each (context, choice) sequence's pooled vector with one logit, through the classification head's layers
    (jiant's choice-scoring head); the batch is flattened to (B*C, L) by the model."""

    def __init__(self, hidden: int, dropout: float = 0.1):
        super().__init__(hidden, 1, dropout)

    def forward(self, vectors: torch.Tensor, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        logits = self.scores(vectors).view(-1, batch["num_choices"])
        if "choice_mask" in batch:  # rows with fewer choices than the batch's widest (e.g. ARC's 3- and 5-choice rows)
            logits = logits.masked_fill(batch["choice_mask"] == 0, -1e4)
        out = {"logits": logits}
        if "labels" in batch:
            out["loss"] = F.cross_entropy(logits.float(), batch["labels"])
        return out


class SpanHead(nn.Module):
    """Extractive QA: start and end logits per token; padding and question tokens are masked at decoding time."""

    def __init__(self, hidden: int):
        super().__init__()
        self.out = nn.Linear(hidden, 2)

    def forward(self, hidden: torch.Tensor, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        start, end = self.out(hidden).float().unbind(-1)
        mask = batch["attention_mask"] == 0
        start = start.masked_fill(mask, -1e4)
        end = end.masked_fill(mask, -1e4)
        out = {"start_logits": start, "end_logits": end}
        if "start_positions" in batch:
            out["loss"] = (
                F.cross_entropy(start, batch["start_positions"]) + F.cross_entropy(end, batch["end_positions"])
            ) / 2
        return out


class TaggingHead(nn.Module):
    """Token tagging: labels only on each word's first sub-token (others -100)."""

    def __init__(self, hidden: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, num_labels)

    def forward(self, hidden: torch.Tensor, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        logits = self.out(self.dropout(hidden))
        out = {"logits": logits}
        if "labels" in batch:
            out["loss"] = F.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=-100)
        return out


class MaskedLMHead(nn.Module):
    """BERT-style MLM head (dense + activation + LayerNorm + decoder tied to the encoder's word embeddings).

    `eps` and `activation` should be the encoder config's `layer_norm_eps` / `hidden_act` (XLM-R: 1e-5, gelu); see
    training/mlm.py, which also loads the checkpoint's pretrained LM-head weights into it where the model has them.
    """

    reads_word_embeddings = True  # the whole matrix, every step: no lazy per-row optimizer (training/lazy_rows.py)

    def __init__(self, hidden: int, word_embeddings: nn.Embedding, eps: float = 1e-12, activation: str = "gelu"):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.bias = nn.Parameter(torch.zeros(word_embeddings.num_embeddings))
        self._embeddings = [word_embeddings]  # a list, so the tied weight is not registered (saved) twice
        self.activation = activation

    def forward(self, hidden: torch.Tensor, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        labels = batch.get("labels")
        if labels is not None:
            hidden = hidden[labels != -100]  # only masked positions: saves the vocab-sized matmul elsewhere
        x = self.dense(hidden)
        if self.activation == "gelu":
            x = F.gelu(x)
        else:
            from transformers.activations import get_activation

            x = get_activation(self.activation)(x)
        x = self.norm(x)
        logits = x @ self._embeddings[0].weight.t() + self.bias
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = F.cross_entropy(logits.float(), labels[labels != -100])
        return out


# The FamilyOps `head` of each family: (hidden size, number of labels or None, encoder word embeddings) -> module.


def classification_head(hidden: int, num_labels: int | None, word_embeddings: nn.Embedding) -> nn.Module:
    assert num_labels, "classification needs labels"
    return ClassificationHead(hidden, num_labels)


def regression_head(hidden: int, num_labels: int | None, word_embeddings: nn.Embedding) -> nn.Module:
    return ClassificationHead(hidden, 1)


def multiple_choice_head(hidden: int, num_labels: int | None, word_embeddings: nn.Embedding) -> nn.Module:
    return MultipleChoiceHead(hidden)


def span_qa_head(hidden: int, num_labels: int | None, word_embeddings: nn.Embedding) -> nn.Module:
    return SpanHead(hidden)


def tagging_head(hidden: int, num_labels: int | None, word_embeddings: nn.Embedding) -> nn.Module:
    assert num_labels, "tagging needs labels"
    return TaggingHead(hidden, num_labels)


def mlm_head(hidden: int, num_labels: int | None, word_embeddings: nn.Embedding) -> nn.Module:
    return MaskedLMHead(hidden, word_embeddings)
