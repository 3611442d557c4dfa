"""What the selection methods measure on a model: pooled sentence vectors, per-family LogME features, Fisher task
embeddings, brief fine-tunes (in memory, restored to the base weights between candidates), and retrieval on a small
parallel sample. Everything goes through the toolkit's public functions (featurize, train, evaluate_examples)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from xstilts.errors import UserError
from xstilts.families.examples import BitextExample
from xstilts.families.featurize import Collator, featurize_retrieval
from xstilts.families.table import featurize
from xstilts.modeling.model import MultiTaskModel, load_encoder
from xstilts.selection.samples import cosine, dev_inputs, example_text, train_sample  # re-exported
from xstilts.tasks.spec import TaskSpec
from xstilts.training.phase import head_spec, with_data_labels

EVAL_BATCH = 32
__all__ = ["EVAL_BATCH", "Workbench", "cosine", "dev_inputs", "example_text", "train_sample"]


@dataclass
class Workbench:
    """A base encoder kept in memory; `reset()` restores its weights so every candidate starts from the same model."""

    model: MultiTaskModel
    tokenizer: Any
    settings: dict[str, Any]
    device: Any
    base_state: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str, settings: dict[str, Any]) -> Workbench:
        enc, tok = load_encoder(path)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model = MultiTaskModel(enc).to(device)
        bench = cls(model, tok, settings, device)
        bench.base_state = {k: v.detach().to("cpu", copy=True) for k, v in enc.state_dict().items()}
        return bench

    @property
    def num_layers(self) -> int:
        return int(self.model.encoder.config.num_hidden_layers)

    def reset(self) -> None:
        """Back to the base encoder, no heads, every parameter trainable again."""
        self.model.encoder.load_state_dict(self.base_state)
        for name in list(self.model.heads.keys()):
            del self.model.heads[name]
            self.model.head_specs.pop(name, None)
        for p in self.model.parameters():
            p.requires_grad_(True)
        self.model.eval()

    def finetune(self, task: TaskSpec, examples: list[Any], seed: int) -> tuple[TaskSpec, float]:
        """Train the current model briefly on `examples` of `task` (fresh head); returns the task (labels resolved from
        the data where the spec has none) and the seconds it took."""
        from xstilts.training.loop import TrainTask, train

        t0 = time.time()
        task = with_data_labels(task, examples)
        if task.name in self.model.heads:
            del self.model.heads[task.name]
        torch.manual_seed(seed)
        self.model.add_head(head_spec(task))
        self.model.to(self.device)
        feats = featurize(task.family, examples, self.tokenizer, task.labels, self.settings, train=True)
        collate = Collator(
            pad_id=self.tokenizer.pad_token_id or 0,
            mask_id=self.tokenizer.mask_token_id,
            vocab_size=self.model.encoder.config.vocab_size,
            seed=seed,
        )
        train(self.model, [TrainTask(task.name, feats)], collate, self.settings, seed, progress=False)
        self.model.eval()
        return task, time.time() - t0

    # ------------------------------------------------------------------ features

    def _batches(self, feats: list[dict[str, Any]]):
        collate = Collator(pad_id=self.tokenizer.pad_token_id or 0)
        for i in range(0, len(feats), EVAL_BATCH):
            chunk = feats[i : i + EVAL_BATCH]
            batch = collate(chunk)
            yield chunk, {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}

    @torch.no_grad()
    def sentence_vectors(self, texts: Sequence[str], layer: int | None = None) -> np.ndarray:
        """Mean-pooled (content tokens only) hidden_states[layer] of each text; layer None = the last layer."""
        self.model.eval()
        layer = self.num_layers if layer is None else layer
        feats = featurize_retrieval(list(texts), self.tokenizer, int(self.settings["max_seq_length"]))
        out = [self.model.sentence_vectors(b, layer).cpu().numpy() for _, b in self._batches(feats)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, self.model.hidden_size))

    @torch.no_grad()
    def logme_inputs(self, task: TaskSpec, examples: list[Any]) -> tuple[np.ndarray, np.ndarray, bool]:
        """Frozen last-layer features and LogME targets for a target's labeled examples, by family:
        classification: mean-pooled sentence vector -> class; regression: -> value; tagging: each word's first
        sub-token -> tag; span_qa: each context token -> two indicator columns (is start, is end; regression);
        multiple_choice: each (context, choice) pair's pooled vector -> correct or not."""
        self.model.eval()
        task = with_data_labels(task, examples)
        feats = featurize(task.family, examples, self.tokenizer, task.labels, self.settings, train=True)
        xs: list[np.ndarray] = []
        ys: list[Any] = []
        for chunk, batch in self._batches(feats):
            hidden = self.model.encode(batch).last_hidden_state.float()
            fam = task.family
            if fam in ("classification", "regression", "multiple_choice"):
                mask = batch["attention_mask"]
                if fam == "multiple_choice":
                    mask = mask.flatten(0, 1)
                m = mask.unsqueeze(-1).float()
                pooled = ((hidden * m).sum(1) / m.sum(1).clamp(min=1.0)).cpu().numpy()
                if fam == "multiple_choice":
                    choices = batch["input_ids"].shape[1]
                    valid = batch["choice_mask"].flatten().bool().cpu().numpy()
                    gold = np.zeros((len(chunk), choices))
                    gold[np.arange(len(chunk)), batch["labels"].cpu().numpy()] = 1
                    xs.append(pooled[valid])
                    ys.extend(gold.flatten()[valid].astype(int))
                else:
                    xs.append(pooled)
                    ys.extend(batch["labels"].cpu().numpy().tolist())
            elif fam == "tagging":
                lab = batch["labels"]
                keep = lab != -100
                xs.append(hidden[keep].cpu().numpy())
                ys.extend(lab[keep].cpu().numpy().tolist())
            elif fam == "span_qa":
                for row, f in enumerate(chunk):
                    ctx = [i for i, o in enumerate(f["meta"]["offsets"]) if o is not None]
                    cols = np.zeros((len(ctx), 2))
                    if f["start_positions"] or f["end_positions"]:  # 0/0 = the answer is not in this window
                        cols[ctx.index(f["start_positions"]), 0] = 1.0
                        cols[ctx.index(f["end_positions"]), 1] = 1.0
                    xs.append(hidden[row, ctx].cpu().numpy())
                    ys.extend(cols.tolist())
            else:
                raise UserError(f"LogME is not defined for the '{fam}' family (no labels to predict)")
        x = np.concatenate(xs).astype(np.float64)
        return x, np.asarray(ys), task.family in ("regression", "span_qa")

    def fisher(self, task: TaskSpec, examples: list[Any]) -> np.ndarray:
        """TaskEmb (Vu et al. 2020): the diagonal empirical Fisher information of the encoder's (non-embedding)
        parameters, E[(d loss / d theta)^2] over single examples of the task, with the task's head as trained."""
        task = with_data_labels(task, examples)
        feats = featurize(task.family, examples, self.tokenizer, task.labels, self.settings, train=True)
        params = [p for n, p in self.model.encoder.named_parameters() if "embeddings" not in n]
        for p in self.model.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        total = [torch.zeros_like(p) for p in params]
        collate = Collator(pad_id=self.tokenizer.pad_token_id or 0)
        self.model.eval()  # no dropout: the embedding is deterministic
        for f in feats:
            batch = {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in collate([f]).items()}
            self.model.zero_grad(set_to_none=True)
            self.model(task.name, batch)["loss"].backward()
            for acc, p in zip(total, params, strict=False):
                if p.grad is not None:
                    acc += p.grad.detach() ** 2
        vec = torch.cat([(acc / max(1, len(feats))).flatten().cpu() for acc in total]).numpy().astype(np.float64)
        self.model.zero_grad(set_to_none=True)
        return vec

    def retrieval_accuracy(self, pairs: dict[str, list[BitextExample]], layer: int | None) -> dict[str, float]:
        """Tatoeba-style accuracy (both directions averaged) per language on gold pairs: how aligned the model is."""
        out = {}
        for lang, rows in pairs.items():
            src = _unit(self.sentence_vectors([r.source or "" for r in rows], layer))
            tgt = _unit(self.sentence_vectors([r.target or "" for r in rows], layer))
            sim = src @ tgt.T
            gold = np.arange(len(rows))
            out[lang] = 50.0 * (float((sim.argmax(1) == gold).mean()) + float((sim.argmax(0) == gold).mean()))
        return out


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
