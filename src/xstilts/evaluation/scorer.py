"""The benchmark scorer: for XTREME a drop-in for the official google-research/xtreme `evaluate.py`.

`score_predictions(pred_dir, label_dir, benchmark)` reads `<task>/<split>-<lang>.tsv|json` for every task folder of the
benchmark present in pred_dir and returns the official result layout: group scores and `all_task` (only when every task
is present) at top level, and per task `{metric: {lang: value}, avg_<metric>: value, avg_metric: value}`.
What is read, which metric and how the average is taken come from the benchmark file (xstilts.benchmarks:
`tasks/benchmarks/xtreme.yaml` for XTREME) and the family table's metrics; XTREME numbers match the official ones exactly.
Torch-free: `xstilts score` imports no model code.

Unlike the official script, malformed input is an error naming file and line (UserError) instead of a traceback or,
for tag files whose sentences differ in length from the gold ones, a silently shifted score.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from xstilts.benchmarks import XTREME, Benchmark, BenchmarkTask, Submission, get_benchmark
from xstilts.errors import UserError
from xstilts.families import metric_for
from xstilts.families import submission as S
from xstilts.families.metrics import Metric

Reader = tuple[str, Callable[[Path], Any], Callable[[Path], Any]]

# How each submission format (a benchmark task's `submission:`) is read: (file suffix, prediction reader, label reader).
SUBMISSION_READERS: dict[Submission, Reader] = {
    "labels": (S.TSV_SUFFIX, S.read_labels, S.read_labels),
    "tags": (S.TSV_SUFFIX, S.read_tagging, S.read_tagging),
    "qa": (S.QA_SUFFIX, S.read_qa_predictions, S.read_qa_labels),
    "pairs": (S.TSV_SUFFIX, S.read_labels, S.read_labels),  # BUCC: `src<TAB>tgt` lines, scored as a set of pairs
}

# Views of the XTREME benchmark file (tasks/benchmarks/xtreme.yaml), for code that names XTREME's tables.
READERS: dict[str, Reader] = {name: SUBMISSION_READERS[t.submission] for name, t in XTREME.tasks.items()}
QA_TASKS = tuple(name for name, t in XTREME.tasks.items() if t.submission == "qa")
# The metric (name, family) of each XTREME task, as its task YAML declares it (a test checks they agree).
XTREME_TASK_METRIC: dict[str, tuple[str, str]] = {name: (t.metric, t.family) for name, t in XTREME.tasks.items()}
# Metric per task: the family table's metric that the task's YAML names.
METRICS: dict[str, Metric] = {task: metric_for(*metric) for task, metric in XTREME_TASK_METRIC.items()}


def _benchmark(benchmark: str | Benchmark) -> Benchmark:
    return benchmark if isinstance(benchmark, Benchmark) else get_benchmark(benchmark)


def _task(bench: Benchmark, task: str) -> BenchmarkTask:
    if task not in bench.tasks:
        raise UserError(f"unknown {bench.label} task '{task}' (known: {', '.join(bench.tasks)})")
    return bench.tasks[task]


def _metric(bench: Benchmark, task: str) -> Metric:
    """The family table's metric of a benchmark task (a UserError naming benchmark and task when there is none)."""
    spec = _task(bench, task)
    try:
        return metric_for(spec.metric, spec.family)
    except ValueError as e:
        raise UserError(f"benchmark '{bench.name}' task '{task}': {e}") from None


def _qa_inputs(predictions: Mapping[str, str], labels: Any) -> tuple[list[str | None], list[list[str]]]:
    """Predictions aligned to the gold questions (None = unanswered, scored 0 as officially)."""
    if isinstance(labels, Mapping):
        gold = [(str(q), list(a)) for q, a in labels.items()]
    elif labels and isinstance(labels[0], Mapping):  # SQuAD articles
        gold = S.gold_answers(labels)
    else:
        gold = [(str(q), list(a)) for q, a in labels]
    return [predictions.get(qid) for qid, _ in gold], [answers for _, answers in gold]


def _aligned(submission: Submission, predictions: Any, labels: Any) -> tuple[Any, Any]:
    """The read files as the aligned (predictions, golds) lists a metric takes: QA predictions follow the gold
    questions; the other tasks' files are line-aligned (or, for BUCC, sets of pairs) already."""
    if submission == "qa":
        return _qa_inputs(predictions, labels)
    return list(predictions), list(labels)


def task_score(task: str, scores: dict[str, float], benchmark: str | Benchmark = "xtreme") -> float:
    """The single number of a task (official `avg_metric`): (EM + F1) / 2 for QA, else F1, else accuracy.

    A benchmark's tasks use their metric's headline; for other task names the rule is read off the score names."""
    bench = _benchmark(benchmark)
    if task in bench.tasks:
        return _metric(bench, task).headline(scores)
    if "f1" in scores:
        return scores["f1"]
    if "accuracy" in scores:
        return scores["accuracy"]
    raise ValueError(f"no task metric among {sorted(scores)} for task '{task}'")


def score_task_lang(
    task: str, predictions: Any, labels: Any, lang: str, benchmark: str | Benchmark = "xtreme"
) -> dict[str, float]:
    """One task in one language, in memory, with the official metric(s) x100.

    predictions / labels: label strings (xnli, pawsx, tatoeba); tag lists per sentence (udpos, panx);
    `src<TAB>tgt` lines or (src, tgt) pairs (bucc2018); for QA, predictions `{qid: text}` and labels SQuAD articles,
    `{qid: [answers]}` or [(qid, [answers])].
    """
    bench = _benchmark(benchmark)
    metric = _metric(bench, task)
    return metric.compute(*_aligned(bench.tasks[task].submission, predictions, labels), lang)


def task_file(
    root: str | Path, task: str, lang: str, split: str = "test", benchmark: str | Benchmark = "xtreme"
) -> Path:
    """Path of one task/language file in the submission layout."""
    suffix = SUBMISSION_READERS[_task(_benchmark(benchmark), task).submission][0]
    return Path(root) / task / f"{split}-{lang}.{suffix}"


def _check_aligned(submission: Submission, preds: Any, labels: Any, pred_file: Path, label_file: Path) -> None:
    """Line-aligned tasks must have one prediction per label, and tag files the same sentence lengths."""
    if submission in ("qa", "pairs"):
        return  # sets and id-keyed dicts: no alignment to check (as officially)
    tags = submission == "tags"
    if len(preds) != len(labels):
        unit = "sentences" if tags else "lines"
        raise UserError(
            f"{len(preds)} {unit} but {len(labels)} in {label_file}",
            path=str(pred_file),
            line=min(len(preds), len(labels)) + 1 if not tags else None,
        )
    if tags:
        for i, (p, g) in enumerate(zip(preds, labels, strict=True)):
            if len(p) != len(g):
                raise UserError(
                    f"sentence {i + 1} has {len(p)} tags but {len(g)} in {label_file}",
                    path=str(pred_file),
                    line=S.tagging_line_of_sentence(preds, i),
                )


def score_task(
    pred_dir: str | Path,
    label_dir: str | Path,
    task: str,
    langs: Sequence[str],
    split: str = "test",
    benchmark: str | Benchmark = "xtreme",
) -> dict[str, Any]:
    """Per-language metrics of one task, their averages over languages and the task score `avg_metric`."""
    bench = _benchmark(benchmark)
    submission = _task(bench, task).submission
    _, read_pred, read_gold = SUBMISSION_READERS[submission]
    per_metric: dict[str, dict[str, float]] = {}
    for lang in langs:
        pred_file, label_file = (task_file(d, task, lang, split, bench) for d in (pred_dir, label_dir))
        if not pred_file.is_file():
            raise UserError(f"missing prediction file for {task} {lang}", path=str(pred_file))
        if not label_file.is_file():
            raise UserError(f"missing label file for {task} {lang}", path=str(label_file))
        preds, labels = read_pred(pred_file), read_gold(label_file)
        _check_aligned(submission, preds, labels, pred_file, label_file)
        try:
            scores = score_task_lang(task, preds, labels, lang, bench)
        except ValueError as err:  # e.g. an empty label file
            raise UserError(str(err), path=str(label_file)) from None
        for metric, value in scores.items():
            per_metric.setdefault(metric, {})[lang] = value
    result: dict[str, Any] = dict(per_metric)
    for metric, values in per_metric.items():
        result[f"avg_{metric}"] = sum(values.values()) / len(values)
    averages = {m: result[f"avg_{m}"] for m in per_metric}
    result["avg_metric"] = task_score(task, averages, bench)
    return result


def score_predictions(
    pred_dir: str | Path,
    label_dir: str | Path,
    benchmark: str | Benchmark = "xtreme",
    split: str = "test",
    languages: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Score every benchmark task folder found in pred_dir against label_dir, in the official output layout.

    `benchmark`: a benchmark's name (xstilts.benchmarks), a benchmark YAML file, or a Benchmark. `languages` restricts a
    task to a subset of its official languages (a run on some languages only); its averages are then over that subset,
    so group scores and `all_task` (official-comparable only over all languages) are left out."""
    bench = _benchmark(benchmark)
    task2langs = bench.task2langs()
    for task in bench.tasks:
        _metric(bench, task)  # a benchmark file naming a metric its family lacks fails before any file is read
    pred_dir, label_dir = Path(pred_dir), Path(label_dir)
    for d in (pred_dir, label_dir):
        if not d.is_dir():
            raise UserError("not a directory", path=str(d))
    tasks = [t for t in task2langs if (pred_dir / t).is_dir()]
    if not tasks:
        raise UserError(f"no task folder ({', '.join(task2langs)}) found", path=str(pred_dir))
    detailed: dict[str, dict[str, Any]] = {}
    partial = False
    for task in tasks:
        if not (label_dir / task).is_dir():
            raise UserError(f"no labels for task '{task}'", path=str(label_dir / task))
        langs = list((languages or {}).get(task, task2langs[task]))
        unknown = [lang for lang in langs if lang not in task2langs[task]]
        if unknown:
            raise UserError(f"task '{task}' has no language '{unknown[0]}' in {bench.name}")
        partial = partial or set(langs) != set(task2langs[task])
        detailed[task] = score_task(pred_dir, label_dir, task, langs, split, bench)
    overall: dict[str, Any] = {}
    if partial:
        return detailed
    task_scores = {t: detailed[t]["avg_metric"] for t in detailed}
    all_task = bench.overall(task_scores)  # the benchmark file's `average:` (XTREME: the mean over its nine tasks)
    if all_task is not None:
        overall["all_task"] = all_task
    overall.update(bench.group_scores(task_scores))
    overall.update(detailed)
    return overall


def run_score_cli(
    predictions: str,
    labels: str,
    output: str,
    benchmark: str | Benchmark = "xtreme",
    split: str = "test",
    languages: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Score a submission folder and write the result JSON to `output`; returns the result."""
    result = score_predictions(predictions, labels, benchmark=benchmark, split=split, languages=languages)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result
