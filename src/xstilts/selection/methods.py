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

Each method is one entry of `SELECTION_METHODS` (a `SelectionMethod`: what it needs, such as the brief fine-tune, the
target's labels or its non-English text, and how it scores). A plugin or a test adds one with
`SELECTION_METHODS.register(name, SelectionMethod(...))`; `xstilts select`, `xstilts select-eval` and a spec's
`selection.method` then know it, with no other edit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from xstilts.errors import UserError
from xstilts.registry import Registry
from xstilts.selection.logme import logme
from xstilts.selection.samples import cosine, dev_inputs, example_text, train_sample
from xstilts.tasks import get_task
from xstilts.tasks.spec import TaskSpec

if TYPE_CHECKING:  # the model side (torch) is imported by whoever builds the Workbench, not by the method table
    from xstilts.selection.probe import Workbench

R = TypeVar("R")
Measure = Callable[["Selector", TaskSpec], tuple[Any, int]]  # (selector, candidate) -> (value, examples read)
Scores = Callable[["Selector", str], dict[str, float]]  # (selector, method name) -> {candidate: score}


@dataclass(frozen=True)
class SelectionMethod:
    """One entry of `SELECTION_METHODS`: what a method needs, and how it scores the candidates (higher = better).

    - `measure(selector, candidate) -> (value, examples)`: with `needs_finetune`, taken on the model right after the
      candidate's brief fine-tune (one fine-tune per candidate, shared by every method that asks for it and charged in
      full to each); without, on the base model, once per candidate. The value is the score unless `scores` is given.
    - `scores(selector, name) -> {candidate: score}`: the method's own scoring. It reaches work through
      `selector.measured` (this method's measure of a candidate), `selector.shared` (work cached by key, e.g. a
      vector of the target) and `selector.timed`, which charge the cost to the ranking.
    - `needs_labels`: reads the target's gold labels, so it is not defined for a retrieval target (empty ranking, note).
    - `reads_target_text`: reads the target's non-English text (never its labels): the cross-lingual methods.
    - `trains_on`: its measurement trains the fine-tuned model further, so it is taken after every other one.
    - `expected_random`: select-eval scores the exact expectation over random orders instead of this one draw.
    """

    summary: str
    measure: Measure | None = None
    scores: Scores | None = None
    needs_finetune: bool = False
    needs_labels: bool = False
    reads_target_text: bool = False
    trains_on: bool = False
    expected_random: bool = False

    def __post_init__(self) -> None:
        if self.measure is None and self.scores is None:
            raise ValueError("a selection method needs `measure` (per candidate) or `scores` (all candidates)")
        if self.needs_finetune and self.measure is None:
            raise ValueError("a selection method that needs the brief fine-tune gives the `measure` taken after it")


SELECTION_METHODS: Registry[SelectionMethod] = Registry("selection method")

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
    expected_random: bool = False  # select-eval scores the exact expectation over random orders instead

    def to_json(self) -> dict[str, Any]:
        """The ranking as stored in the file `xstilts select --out` writes."""
        return {
            "method": self.method,
            "target": self.target,
            "model": self.model,
            "candidates": self.candidates,
            "cost": self.cost,
            "note": self.note,
            "expected_random": self.expected_random,
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
        self._used: list[_Work] = []  # the work charged to the ranking being made

    @property
    def target_has_labels(self) -> bool:
        """Whether the target has gold labels to measure against (a retrieval target has none)."""
        return not self.target.ops.is_retrieval

    # ------------------------------------------------------------------ shared work, charged to the ranking

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

    def shared(self, key: tuple[str, ...], fn: Callable[[], tuple[Any, int]]) -> Any:
        """The value of `fn() -> (value, examples)`, computed once per Selector (cached by `key`, shared by every
        method that asks) and charged to the ranking being made."""
        work = self._do(key, fn)
        self._used.append(work)
        return work.value

    def measured(self, cand: TaskSpec, method: str) -> Any:
        """`method`'s measure of a candidate: after the candidate's brief fine-tune when the method needs it (the
        fine-tune is charged too), else on the base model; cached either way."""
        entry = SELECTION_METHODS.get(method)
        measure = entry.measure
        if measure is None:
            raise ValueError(f"selection method '{method}' has no measure")
        if not entry.needs_finetune:
            return self.shared((method, cand.name), lambda: measure(self, cand))
        works = self._after_finetune(cand, {method: lambda: measure(self, cand)})
        self._used.extend(works)
        return works[-1].value

    def timed(self, fn: Callable[[], R]) -> R:
        """fn(), its seconds charged to the ranking being made (no examples)."""
        t0 = time.time()
        out = fn()
        self._used.append(_Work(time.time() - t0, 0, None))
        return out

    def prefetch(self, methods: list[str]) -> None:
        """Fine-tune each candidate once and take every measurement the methods need (those that train on last)."""
        entries = [(name, SELECTION_METHODS.get(name)) for name in methods]
        wanted = [
            (name, m) for name, m in entries if m.needs_finetune and (self.target_has_labels or not m.needs_labels)
        ]
        wanted.sort(key=lambda item: item[1].trains_on)  # stable: few-shot (it trains on) after the others
        for cand in self.candidates:
            measures: dict[str, Callable[[], tuple[Any, int]]] = {
                name: partial(m.measure, self, cand) for name, m in wanted if m.measure is not None
            }
            if measures:
                self._after_finetune(cand, measures)

    # ------------------------------------------------------------------ methods

    def run(self, method: str) -> Ranking:
        """One method's ranking with its cost."""
        entry = SELECTION_METHODS.get(method)
        if entry.needs_labels and not self.target_has_labels:
            return Ranking(
                method,
                self.target.name,
                self.model_name,
                cost={"seconds": 0.0, "examples": 0},
                note=f"{method} needs target labels; '{self.target.name}' is a retrieval task without any",
            )
        self._used = []
        if entry.scores is not None:
            scores = entry.scores(self, method)
        else:
            scores = {c.name: float(self.measured(c, method)) for c in self.candidates}
        used, self._used = self._used, []
        missing = [c.name for c in self.candidates if c.name not in scores]
        if missing:
            raise ValueError(f"selection method '{method}' gave no score for {', '.join(missing)}")
        order = sorted(self.candidates, key=lambda c: (-scores[c.name], c.name))
        cost = {"seconds": round(sum(w.seconds for w in used), 3), "examples": int(sum(w.examples for w in used))}
        return Ranking(
            method,
            self.target.name,
            self.model_name,
            [{"name": c.name, "score": float(scores[c.name])} for c in order],
            cost,
            expected_random=entry.expected_random,
        )

    # ------------------------------------------------------------------ measurements several methods use

    def target_train_sample(self) -> list[Any]:
        """The target's English training sample LogME reads (`target_examples`)."""
        return train_sample(self.target, int(self.budget["target_examples"]), int(self.budget["seed"]) + 1)

    def fisher_of(self, task: TaskSpec) -> tuple[np.ndarray, int]:
        """TaskEmb's Fisher vector of the current model on a sample of `task` (`fisher_examples`)."""
        sample = train_sample(task, int(self.budget["fisher_examples"]), int(self.budget["seed"]) + 2)
        return self.bench.fisher(task, sample), len(sample)

    def target_fisher(self) -> tuple[np.ndarray, int]:
        """The target's own Fisher vector, after a brief fine-tune on its sample (the model is reset around it)."""
        b, seed = self.bench, int(self.budget["seed"])
        b.reset()
        sample = train_sample(self.target, int(self.budget["intermediate_examples"]), seed + 3)
        b.finetune(self.target, sample, seed)
        vec, n = self.fisher_of(self.target)
        b.reset()
        return vec, n + len(sample)

    def own_pairs(self) -> dict[str, list[Any]]:
        """Gold translation pairs from the target's own dev split, per selection language (a retrieval target)."""
        n = int(self.budget["parallel_pairs"])
        out = {}
        for lang in self.languages:
            rows = [r for r in dev_inputs(self.target, lang, 10 * n) if r.source and r.target][:n]
            if rows:
                out[lang] = rows
        return out

    def parallel_pairs(self) -> dict[str, list[Any]]:
        """Gold translation pairs: the target's own when it is a retrieval task, else the `parallel_task`'s."""
        if self.target.ops.is_retrieval:
            return self.own_pairs()
        par = get_task(str(self.budget["parallel_task"]))
        n = int(self.budget["parallel_pairs"])
        langs = [lang for lang in self.languages if lang in par.languages] or [
            lang for lang in par.languages if lang != "en"
        ][: int(self.budget["max_languages"])]
        return {lang: [r for r in dev_inputs(par, lang, 10 * n) if r.source and r.target][:n] for lang in langs}

    def retrieval_score(self, pairs: dict[str, list[Any]]) -> tuple[float, int]:
        """Mean retrieval accuracy of the current model on gold pairs, and the sentences it embedded."""
        if not pairs:
            raise UserError(f"no parallel pairs for the languages {self.languages}")
        from xstilts.defaults import default_retrieval_layer

        layer = self.budget.get("retrieval_layer") or default_retrieval_layer(self.bench.num_layers)
        acc = self.bench.retrieval_accuracy(pairs, int(layer))
        return float(np.mean(list(acc.values()))), 2 * sum(len(v) for v in pairs.values())

    def texts_vector(self, task: TaskSpec) -> tuple[np.ndarray, int]:
        """TextEmb's mean sentence vector of a task's inputs (`text_examples`) on the base model."""
        n = int(self.budget["text_examples"])
        if task.ops.is_retrieval:
            rows = [r for rows in self.own_pairs().values() for r in rows][:n]
            texts = [r.target for r in rows]
        else:
            texts = [example_text(e) for e in train_sample(task, n, int(self.budget["seed"]) + 4)]
        return self.bench.sentence_vectors(texts).mean(0), len(texts)


# ---------------------------------------------------------------------- the methods, in the order `all` runs them


def _logme(sel: Selector, cand: TaskSpec) -> tuple[float, int]:
    sample = sel.target_train_sample()
    x, y, regression = sel.bench.logme_inputs(sel.target, sample)
    return logme(x, y, regression=regression), len(sample)


def _textemb(sel: Selector, name: str) -> dict[str, float]:
    target = sel.shared(("textvec", sel.target.name), lambda: sel.texts_vector(sel.target))
    return {
        c.name: cosine(sel.shared(("textvec", c.name), partial(sel.texts_vector, c)), target) for c in sel.candidates
    }


def _taskemb(sel: Selector, name: str) -> dict[str, float]:
    target = sel.shared(("target-fisher",), sel.target_fisher)
    return {c.name: cosine(sel.measured(c, name), target) for c in sel.candidates}


def _fewshot(sel: Selector, cand: TaskSpec) -> tuple[float, int]:
    from xstilts.evaluation.task_eval import evaluate_examples

    b, seed = sel.bench, int(sel.budget["seed"])
    if sel.target.ops.is_retrieval:
        return sel.retrieval_score(sel.own_pairs())
    for name in list(b.model.heads.keys()):  # the target phase starts from the encoder, as in the grid
        del b.model.heads[name]
        b.model.head_specs.pop(name, None)
    sample = train_sample(sel.target, int(sel.budget["fewshot_target_examples"]), seed + 3)
    task, _ = b.finetune(sel.target, sample, seed)
    dev = dev_inputs(training_or_self(sel.target), "en", int(sel.budget["dev_examples"]))
    metrics = evaluate_examples(b.model, b.tokenizer, task, dev, b.settings, b.device)[1]
    return float(metrics["score"]), len(sample) + len(dev)


def _random(sel: Selector, name: str) -> dict[str, float]:
    rng = np.random.default_rng(int(sel.budget["seed"]))
    return {c.name: float(v) for c, v in zip(sel.candidates, rng.random(len(sel.candidates)), strict=True)}


def _sizes(sel: Selector) -> dict[str, float]:
    return {c.name: float(c.size or len(train_sample(c, None, 0))) for c in sel.candidates}


def _size(sel: Selector, name: str) -> dict[str, float]:
    return sel.timed(lambda: _sizes(sel))


def _family(sel: Selector, name: str) -> dict[str, float]:
    def scores() -> dict[str, float]:
        sizes = _sizes(sel)
        top = max(sizes.values()) or 1.0
        return {c.name: float(c.family == sel.target.family) + sizes[c.name] / top / 2 for c in sel.candidates}

    return sel.timed(scores)


def _xalign(sel: Selector, cand: TaskSpec) -> tuple[float, int]:
    return sel.retrieval_score(sel.parallel_pairs())


def _xlangid(sel: Selector, cand: TaskSpec) -> tuple[float, int]:
    if sel.target.ops.is_retrieval:
        pairs = sel.own_pairs()
        en_texts = [r.target for rows in pairs.values() for r in rows]
        per_lang = {lang: [r.source for r in rows] for lang, rows in pairs.items()}
    else:
        n = int(sel.budget["dev_examples"])
        en_texts = (
            [example_text(e) for e in dev_inputs(sel.target, "en", n)]
            if "en" in sel.target.languages
            else [example_text(e) for e in train_sample(sel.target, n, 0)]
        )
        per_lang = {lang: [example_text(e) for e in dev_inputs(sel.target, lang, n)] for lang in sel.languages}
    en = sel.bench.sentence_vectors(en_texts)
    gaps, count = [], len(en_texts)
    for texts in per_lang.values():
        other = sel.bench.sentence_vectors(texts)
        x = np.concatenate([en, other])
        y = np.r_[np.zeros(len(en), int), np.ones(len(other), int)]
        gaps.append(logme(x, y))
        count += len(texts)
    return -float(np.mean(gaps)), count


for _name, _method in {
    "logme": SelectionMethod(
        "LogME of the target's labels on features after the brief fine-tune",
        measure=_logme,
        needs_finetune=True,
        needs_labels=True,
    ),
    "textemb": SelectionMethod("cosine of mean sentence vectors of the inputs (base model)", scores=_textemb),
    "taskemb": SelectionMethod(
        "cosine of Fisher task embeddings after the brief fine-tunes",
        measure=lambda sel, cand: sel.fisher_of(cand),
        scores=_taskemb,
        needs_finetune=True,
        needs_labels=True,
    ),
    "fewshot": SelectionMethod(
        "target dev score after the brief fine-tune and a short target fine-tune",
        measure=_fewshot,
        needs_finetune=True,
        trains_on=True,
    ),
    "random": SelectionMethod("a seeded random order", scores=_random, expected_random=True),
    "size": SelectionMethod("larger training set first", scores=_size),
    "family": SelectionMethod("the target's family first, then by size", scores=_family),
    "xalign": SelectionMethod(
        "retrieval accuracy on gold translation pairs after the brief fine-tune",
        measure=_xalign,
        needs_finetune=True,
        reads_target_text=True,
    ),
    "xlangid": SelectionMethod(
        "negated LogME of language identity (English vs each target language) after the brief fine-tune",
        measure=_xlangid,
        needs_finetune=True,
        reads_target_text=True,
    ),
}.items():
    SELECTION_METHODS.register(_name, _method)


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
