"""Ranking methods: each scores every candidate intermediate task for one target and model (higher = better).

Precise definitions (budgets in `SELECT_DEFAULTS`, all samples deterministic by seed):

- `logme`: the cheap proxy of a full intermediate run. The base model is fine-tuned briefly on a small sample of the
  candidate (`intermediate_examples`, one epoch, the selection budget's hyperparameters); its frozen last-layer features
  of the TARGET's English training sample (`target_examples`) are scored with LogME against the target's labels
  (per family, see `Workbench.logme_inputs`). Not defined for retrieval targets (no labels).
- `textemb` (SEmb, Poth et al. 2021): the base model's mean-pooled sentence vectors averaged over `text_examples` inputs
  of each dataset (the target's English training inputs; English sides of dev pairs for retrieval targets); cosine with
  the target's vector.
- `taskemb` (Vu et al. 2020): the diagonal Fisher information of the encoder after the brief fine-tune on each task
  (candidates: the fine-tune `logme` uses; the target: a brief fine-tune on its own sample), over `fisher_examples`
  examples; cosine with the target's. Not defined for retrieval targets.
- `fewshot`: after the brief candidate fine-tune, a short target fine-tune (`fewshot_target_examples`, the target's
  epochs) and the target's score on `dev_examples` English dev examples. Retrieval targets have no target phase: the
  score is then the retrieval accuracy on the target's own dev pairs in the selection languages.
- `random`: a seeded random order (select-eval reports its exact expectation instead of this one draw).
- `size`: larger training set first. `family`: same family as the target first, then by size.
- Cross-lingual (ours; they read target-language text, never its labels):
  - `xalign` (retained alignment): after the brief candidate fine-tune, retrieval accuracy (nearest neighbour, both
    directions) on `parallel_pairs` gold translation pairs per selection language, from the target's own dev pairs when
    it is a retrieval task, else from the parallel task (default demo_tatoeba dev). A task that keeps the encoder's
    languages aligned should transfer better zero-shot.
  - `xlangid` (language gap): after the brief candidate fine-tune, LogME of the *language identity* (English vs each
    selection language) on the features of the target's dev inputs in both languages (unlabeled); the score is its
    negative: the less linearly separable the languages, the better.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xstilts.errors import UserError
from xstilts.selection.logme import logme
from xstilts.selection.probe import Workbench, cosine, dev_inputs, example_text, train_sample
from xstilts.tasks import get_task
from xstilts.tasks.spec import TaskSpec

METHODS = ("logme", "textemb", "taskemb", "fewshot", "random", "size", "family", "xalign", "xlangid")

SELECT_DEFAULTS: dict[str, Any] = {
    "intermediate_examples": 128,  # brief candidate fine-tune
    "target_examples": 200,  # LogME features of the target's English training sample
    "fewshot_target_examples": 128,
    "dev_examples": 100,
    "text_examples": 100,  # TextEmb sample per dataset
    "fisher_examples": 24,  # TaskEmb examples per task (one backward pass each)
    "parallel_pairs": 100,  # xalign pairs per language
    "max_languages": 4,  # cross-lingual methods: at most this many target languages
    "parallel_task": "demo_tatoeba",
    "seed": 0,
    # training budget of the brief fine-tunes (the recipe's other defaults apply)
    "num_epochs": 1.0,
    "batch_size": 16,
    "grad_accumulation": 1,
    "learning_rate": 1e-4,
    "max_seq_length": 64,
    "warmup_ratio": 0.1,
    "eval_every_steps": 100000,
    "freeze_embeddings": True,
    "mixed_precision": "auto",
}


@dataclass
class Ranking:
    """One method's ranking: candidates best first with their scores, the cost, and notes."""

    method: str
    target: str
    model: str
    candidates: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "score"}] best first
    cost: dict[str, float] = field(default_factory=dict)  # seconds, examples (including shared work it needs)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "target": self.target,
            "model": self.model,
            "candidates": self.candidates,
            "cost": self.cost,
            "note": self.note,
        }


@dataclass
class _Work:
    seconds: float
    examples: int
    value: Any


class Selector:
    """Runs methods for one (target, model); shared work (a candidate's brief fine-tune and what is measured right
    after it) is done once and charged in full to every method that needs it, as if each method ran alone."""

    def __init__(
        self,
        bench: Workbench,
        target: str,
        candidates: list[str],
        model_name: str,
        languages: list[str] | None = None,
        budget: dict[str, Any] | None = None,
    ):
        self.bench = bench
        self.target = get_task(target)
        self.candidates = [get_task(c) for c in candidates]
        self.model_name = model_name
        self.budget = {**SELECT_DEFAULTS, **(budget or {})}
        langs = [
            lang for lang in (languages or self.target.languages) if lang != "en" and lang in self.target.languages
        ]
        self.languages = langs[: int(self.budget["max_languages"])]
        self.work: dict[tuple[str, ...], _Work] = {}
        self._after: dict[str, dict[str, _Work]] = {}

    # ------------------------------------------------------------------ shared work

    def _do(self, key: tuple[str, ...], fn: Callable[[], tuple[Any, int]]) -> _Work:
        if key not in self.work:
            t0 = time.time()
            value, n = fn()
            self.work[key] = _Work(time.time() - t0, n, value)
        return self.work[key]

    def _after_finetune(self, cand: TaskSpec, measures: dict[str, Callable[[], tuple[Any, int]]]) -> list[_Work]:
        """Brief fine-tune on the candidate, then every measurement asked for (cached per candidate): a candidate is
        fine-tuned at most once per Selector, whichever methods ask."""
        done = self._after.setdefault(cand.name, {})
        missing = {k: fn for k, fn in measures.items() if k not in done}
        ft_key = ("finetune", cand.name)
        if missing:
            b = self.bench
            b.reset()
            sample = train_sample(cand, int(self.budget["intermediate_examples"]), int(self.budget["seed"]))
            t0 = time.time()
            b.finetune(cand, sample, int(self.budget["seed"]))
            if ft_key not in self.work:
                self.work[ft_key] = _Work(time.time() - t0, len(sample), None)
            for k, fn in missing.items():
                t0 = time.time()
                value, n = fn()
                done[k] = _Work(time.time() - t0, n, value)
            b.reset()
        return [self.work[ft_key], *(done[k] for k in measures)]

    # ------------------------------------------------------------------ measurements

    def _target_logme_sample(self) -> list[Any]:
        return train_sample(self.target, int(self.budget["target_examples"]), int(self.budget["seed"]) + 1)

    def _measure_logme(self) -> tuple[float, int]:
        sample = self._target_logme_sample()
        x, y, regression = self.bench.logme_inputs(self.target, sample)
        return logme(x, y, regression=regression), len(sample)

    def _fisher_of(self, task: TaskSpec) -> tuple[np.ndarray, int]:
        sample = train_sample(task, int(self.budget["fisher_examples"]), int(self.budget["seed"]) + 2)
        return self.bench.fisher(task, sample), len(sample)

    def _measure_fewshot(self) -> tuple[float, int]:
        from xstilts.evaluation.task_eval import evaluate_examples

        b, seed = self.bench, int(self.budget["seed"])
        if self.target.ops.is_retrieval:
            return self._retrieval_score(self._own_pairs())
        for name in list(b.model.heads.keys()):  # the target phase starts from the encoder, as in the grid
            del b.model.heads[name]
            b.model.head_specs.pop(name, None)
        sample = train_sample(self.target, int(self.budget["fewshot_target_examples"]), seed + 3)
        task, _ = b.finetune(self.target, sample, seed)
        dev = dev_inputs(training_or_self(self.target), "en", int(self.budget["dev_examples"]))
        metrics = evaluate_examples(b.model, b.tokenizer, task, dev, b.settings, b.device)[1]
        return float(metrics["score"]), len(sample) + len(dev)

    def _own_pairs(self) -> dict[str, list[Any]]:
        n = int(self.budget["parallel_pairs"])
        out = {}
        for lang in self.languages:
            rows = [r for r in dev_inputs(self.target, lang, 10 * n) if r.source and r.target][:n]
            if rows:
                out[lang] = rows
        return out

    def _parallel_pairs(self) -> dict[str, list[Any]]:
        if self.target.ops.is_retrieval:
            return self._own_pairs()
        par = get_task(str(self.budget["parallel_task"]))
        n = int(self.budget["parallel_pairs"])
        langs = [lang for lang in self.languages if lang in par.languages] or [
            lang for lang in par.languages if lang != "en"
        ][: int(self.budget["max_languages"])]
        return {lang: [r for r in dev_inputs(par, lang, 10 * n) if r.source and r.target][:n] for lang in langs}

    def _retrieval_score(self, pairs: dict[str, list[Any]]) -> tuple[float, int]:
        if not pairs:
            raise UserError(f"no parallel pairs for the languages {self.languages}")
        from xstilts.defaults import default_retrieval_layer

        layer = self.budget.get("retrieval_layer") or default_retrieval_layer(self.bench.num_layers)
        acc = self.bench.retrieval_accuracy(pairs, int(layer))
        return float(np.mean(list(acc.values()))), 2 * sum(len(v) for v in pairs.values())

    def _measure_xlangid(self) -> tuple[float, int]:
        if self.target.ops.is_retrieval:
            pairs = self._own_pairs()
            en_texts = [r.target for rows in pairs.values() for r in rows]
            per_lang = {lang: [r.source for r in rows] for lang, rows in pairs.items()}
        else:
            n = int(self.budget["dev_examples"])
            en_texts = (
                [example_text(e) for e in dev_inputs(self.target, "en", n)]
                if "en" in self.target.languages
                else [example_text(e) for e in train_sample(self.target, n, 0)]
            )
            per_lang = {lang: [example_text(e) for e in dev_inputs(self.target, lang, n)] for lang in self.languages}
        en = self.bench.sentence_vectors(en_texts)
        gaps, count = [], len(en_texts)
        for texts in per_lang.values():
            other = self.bench.sentence_vectors(texts)
            x = np.concatenate([en, other])
            y = np.r_[np.zeros(len(en), int), np.ones(len(other), int)]
            gaps.append(logme(x, y))
            count += len(texts)
        return -float(np.mean(gaps)), count

    def _texts_vector(self, task: TaskSpec) -> tuple[np.ndarray, int]:
        n = int(self.budget["text_examples"])
        if task.ops.is_retrieval:
            rows = [r for rows in self._own_pairs().values() for r in rows][:n]
            texts = [r.target for r in rows]
        else:
            texts = [example_text(e) for e in train_sample(task, n, int(self.budget["seed"]) + 4)]
        return self.bench.sentence_vectors(texts).mean(0), len(texts)

    def prefetch(self, methods: list[str]) -> None:
        """Fine-tune each candidate once and take every measurement the methods need (few-shot last: it trains on)."""
        fns = {
            "logme": self._measure_logme,
            "xalign": lambda: self._retrieval_score(self._parallel_pairs()),
            "xlangid": self._measure_xlangid,
            "fewshot": self._measure_fewshot,
        }
        wanted = [m for m in ("logme", "xalign", "xlangid", "taskemb", "fewshot") if m in methods]
        if self.target.ops.is_retrieval:
            wanted = [m for m in wanted if m not in ("logme", "taskemb")]
        for cand in self.candidates:
            measures = {m: (fns[m] if m != "taskemb" else (lambda cand=cand: self._fisher_of(cand))) for m in wanted}
            if measures:
                self._after_finetune(cand, measures)

    # ------------------------------------------------------------------ methods

    def run(self, method: str) -> Ranking:
        """One method's ranking with its cost."""
        if method not in METHODS:
            raise UserError(f"unknown selection method '{method}'; known: {', '.join(METHODS)}")
        fam = self.target.family
        if self.target.ops.is_retrieval and method in ("logme", "taskemb"):
            return Ranking(
                method,
                self.target.name,
                self.model_name,
                cost={"seconds": 0.0, "examples": 0},
                note=f"{method} needs target labels; '{self.target.name}' is a retrieval task without any",
            )
        scores: dict[str, float] = {}
        used: list[_Work] = []
        if method in ("logme", "fewshot", "xalign", "xlangid", "taskemb"):
            measure: Callable[[], tuple[Any, int]] = {
                "logme": self._measure_logme,
                "fewshot": self._measure_fewshot,
                "xalign": lambda: self._retrieval_score(self._parallel_pairs()),
                "xlangid": self._measure_xlangid,
                "taskemb": lambda: self._fisher_of(cand),
            }[method]
            if method == "taskemb":
                tgt = self._do(("target-fisher",), lambda: self._target_fisher())
                used.append(tgt)
            for cand in self.candidates:
                works = self._after_finetune(cand, {method: measure})
                used.extend(works)
                value = works[-1].value
                scores[cand.name] = cosine(value, tgt.value) if method == "taskemb" else float(value)
        elif method == "textemb":
            tgt = self._do(("textvec", self.target.name), lambda: self._texts_vector(self.target))
            used.append(tgt)
            for cand in self.candidates:
                w = self._do(("textvec", cand.name), lambda cand=cand: self._texts_vector(cand))
                used.append(w)
                scores[cand.name] = cosine(w.value, tgt.value)
        elif method == "random":
            rng = np.random.default_rng(int(self.budget["seed"]))
            scores = {c.name: float(v) for c, v in zip(self.candidates, rng.random(len(self.candidates)), strict=False)}
        elif method in ("size", "family"):
            t0 = time.time()
            sizes = {c.name: float(c.size or len(train_sample(c, None, 0))) for c in self.candidates}
            top = max(sizes.values()) or 1.0
            for c in self.candidates:
                same = 1.0 if (method == "family" and c.family == fam) else 0.0
                scores[c.name] = same + sizes[c.name] / top / 2 if method == "family" else sizes[c.name]
            used.append(_Work(time.time() - t0, 0, None))
        order = sorted(self.candidates, key=lambda c: (-scores[c.name], c.name))
        cost = {"seconds": round(sum(w.seconds for w in used), 3), "examples": int(sum(w.examples for w in used))}
        return Ranking(
            method, self.target.name, self.model_name, [{"name": c.name, "score": scores[c.name]} for c in order], cost
        )

    def _target_fisher(self) -> tuple[np.ndarray, int]:
        b, seed = self.bench, int(self.budget["seed"])
        b.reset()
        sample = train_sample(self.target, int(self.budget["intermediate_examples"]), seed + 3)
        b.finetune(self.target, sample, seed)
        vec, n = self._fisher_of(self.target)
        b.reset()
        return vec, n + len(sample)


def training_or_self(task: TaskSpec) -> TaskSpec:
    """The task whose English dev split scores the few-shot proxy (XNLI -> MNLI's dev)."""
    return get_task(task.train_from) if task.train_from else task


def resolve_candidates(value: str, target: str) -> list[str]:
    """`all` (every bundled English intermediate task), a file (one task per line, or an experiment spec: its
    single-task intermediate settings), or a comma-separated list. The target itself is never a candidate."""
    from pathlib import Path

    from xstilts.tasks import list_tasks

    if value == "all":
        names = sorted(t.name for t in list_tasks("intermediate") if t.local_dir)
    elif Path(value).is_file():
        p = Path(value)
        if p.suffix in (".yaml", ".yml"):
            import yaml  # only the spec's intermediate settings are read: selection sits below experiments

            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
            settings = raw.get("intermediate", []) if isinstance(raw, dict) else []
            names = list(
                dict.fromkeys(s["tasks"][0] for s in settings if isinstance(s, dict) and len(s.get("tasks") or []) == 1)
            )
        else:
            names = [
                line.strip()
                for line in p.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")
            ]
    else:
        names = [x for x in value.replace(",", " ").split() if x]
    for n in names:
        get_task(n)
    names = [n for n in dict.fromkeys(names) if n != target]
    if not names:
        raise UserError(f"no candidate intermediate tasks in '{value}'")
    return names
