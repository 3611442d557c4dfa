"""The XTREME scorer: a drop-in for the official google-research/xtreme `evaluate.py`.

`score_predictions(pred_dir, label_dir)` reads `<task>/<split>-<lang>.tsv|json` for every XTREME task folder present
in pred_dir and returns the official result layout: group scores and `all_task` (only when all nine tasks are present)
at top level, and per task `{metric: {lang: value}, avg_<metric>: value, avg_metric: value}`.
Reading, metrics and averaging are chosen by table (as in the official script); numbers match it exactly.

Unlike the official script, malformed input is an error naming file and line (UserError) instead of a traceback or,
for tag files whose sentences differ in length from the gold ones, a silently shifted score.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from xstilts.errors import UserError
from xstilts.families import metric_for
from xstilts.families import submission as S
from xstilts.families.metrics import Metric
from xstilts.languages import XTREME_GROUP2TASK, XTREME_TASK2LANGS

BENCHMARKS = {"xtreme": (XTREME_TASK2LANGS, XTREME_GROUP2TASK)}

# How each task's files are read: (file suffix, prediction reader, label reader).
_LABEL_READER = (S.TSV_SUFFIX, S.read_labels, S.read_labels)
_TAG_READER = (S.TSV_SUFFIX, S.read_tagging, S.read_tagging)
_QA_READER = (S.QA_SUFFIX, S.read_qa_predictions, S.read_qa_labels)
READERS: dict[str, tuple[str, Callable[[Path], Any], Callable[[Path], Any]]] = {
    "xnli": _LABEL_READER,
    "pawsx": _LABEL_READER,
    "tatoeba": _LABEL_READER,
    "bucc2018": _LABEL_READER,
    "udpos": _TAG_READER,
    "panx": _TAG_READER,
    "xquad": _QA_READER,
    "mlqa": _QA_READER,
    "tydiqa": _QA_READER,
}


QA_TASKS = tuple(XTREME_GROUP2TASK["qa"])


def _qa_inputs(predictions: Mapping[str, str], labels: Any) -> tuple[list[str | None], list[list[str]]]:
    """Predictions aligned to the gold questions (None = unanswered, scored 0 as officially)."""
    if isinstance(labels, Mapping):
        gold = [(str(q), list(a)) for q, a in labels.items()]
    elif labels and isinstance(labels[0], Mapping):  # SQuAD articles
        gold = S.gold_answers(labels)
    else:
        gold = [(str(q), list(a)) for q, a in labels]
    return [predictions.get(qid) for qid, _ in gold], [answers for _, answers in gold]


def _aligned(task: str, predictions: Any, labels: Any) -> tuple[Any, Any]:
    """The read files as the aligned (predictions, golds) lists a metric takes: QA predictions follow the gold
    questions; the other tasks' files are line-aligned (or, for BUCC, sets of pairs) already."""
    if task in QA_TASKS:
        return _qa_inputs(predictions, labels)
    return list(predictions), list(labels)


# The metric (name, family) of each XTREME task, as its task YAML declares it (a test checks they agree).
XTREME_TASK_METRIC: dict[str, tuple[str, str]] = {
    "xnli": ("accuracy", "classification"),
    "pawsx": ("accuracy", "classification"),
    "udpos": ("f1", "tagging"),
    "panx": ("f1", "tagging"),
    "xquad": ("squad_em_f1", "span_qa"),
    "mlqa": ("mlqa_em_f1", "span_qa"),
    "tydiqa": ("squad_em_f1", "span_qa"),
    "bucc2018": ("bucc_f1", "retrieval"),
    "tatoeba": ("retrieval_accuracy", "retrieval"),
}

# Metric per task: the family table's metric that the task's YAML names.
METRICS: dict[str, Metric] = {task: metric_for(*metric) for task, metric in XTREME_TASK_METRIC.items()}


def task_score(task: str, scores: dict[str, float]) -> float:
    """The single number of a task (official `avg_metric`): (EM + F1) / 2 for QA, else F1, else accuracy.

    XTREME tasks use their metric's headline; for other task names the rule is read off the score names."""
    if task in XTREME_TASK_METRIC:
        return METRICS[task].headline(scores)
    if "f1" in scores:
        return scores["f1"]
    if "accuracy" in scores:
        return scores["accuracy"]
    raise ValueError(f"no task metric among {sorted(scores)} for task '{task}'")


def score_task_lang(task: str, predictions: Any, labels: Any, lang: str) -> dict[str, float]:
    """One task in one language, in memory, with the official metric(s) x100.

    predictions / labels: label strings (xnli, pawsx, tatoeba); tag lists per sentence (udpos, panx);
    `src<TAB>tgt` lines or (src, tgt) pairs (bucc2018); for QA, predictions `{qid: text}` and labels SQuAD articles,
    `{qid: [answers]}` or [(qid, [answers])].
    """
    if task not in METRICS:
        raise UserError(f"unknown XTREME task '{task}' (known: {', '.join(METRICS)})")
    return METRICS[task].compute(*_aligned(task, predictions, labels), lang)


def task_file(root: str | Path, task: str, lang: str, split: str = "test") -> Path:
    """Path of one task/language file in the submission layout."""
    return Path(root) / task / f"{split}-{lang}.{READERS[task][0]}"


def _check_aligned(task: str, preds: Any, labels: Any, pred_file: Path, label_file: Path) -> None:
    """Line-aligned tasks must have one prediction per label, and tag files the same sentence lengths."""
    if task in QA_TASKS or task == "bucc2018":
        return  # sets and id-keyed dicts: no alignment to check (as officially)
    if len(preds) != len(labels):
        unit = "sentences" if task in ("udpos", "panx") else "lines"
        raise UserError(
            f"{len(preds)} {unit} but {len(labels)} in {label_file}",
            path=str(pred_file),
            line=min(len(preds), len(labels)) + 1 if task not in ("udpos", "panx") else None,
        )
    if task in ("udpos", "panx"):
        for i, (p, g) in enumerate(zip(preds, labels, strict=True)):
            if len(p) != len(g):
                raise UserError(
                    f"sentence {i + 1} has {len(p)} tags but {len(g)} in {label_file}",
                    path=str(pred_file),
                    line=S.tagging_line_of_sentence(preds, i),
                )


def score_task(
    pred_dir: str | Path, label_dir: str | Path, task: str, langs: Sequence[str], split: str = "test"
) -> dict[str, Any]:
    """Per-language metrics of one task, their averages over languages and the task score `avg_metric`."""
    _, read_pred, read_gold = READERS[task]
    per_metric: dict[str, dict[str, float]] = {}
    for lang in langs:
        pred_file, label_file = task_file(pred_dir, task, lang, split), task_file(label_dir, task, lang, split)
        if not pred_file.is_file():
            raise UserError(f"missing prediction file for {task} {lang}", path=str(pred_file))
        if not label_file.is_file():
            raise UserError(f"missing label file for {task} {lang}", path=str(label_file))
        preds, labels = read_pred(pred_file), read_gold(label_file)
        _check_aligned(task, preds, labels, pred_file, label_file)
        try:
            scores = score_task_lang(task, preds, labels, lang)
        except ValueError as err:  # e.g. an empty label file
            raise UserError(str(err), path=str(label_file)) from None
        for metric, value in scores.items():
            per_metric.setdefault(metric, {})[lang] = value
    result: dict[str, Any] = dict(per_metric)
    for metric, values in per_metric.items():
        result[f"avg_{metric}"] = sum(values.values()) / len(values)
    averages = {m: result[f"avg_{m}"] for m in per_metric}
    result["avg_metric"] = task_score(task, averages)
    return result


def score_predictions(
    pred_dir: str | Path,
    label_dir: str | Path,
    benchmark: str = "xtreme",
    split: str = "test",
    languages: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Score every benchmark task folder found in pred_dir against label_dir, in the official output layout.

    `languages` restricts a task to a subset of its official languages (a run on some languages only); its averages are
    then over that subset, so group scores and `all_task` (official-comparable only over all languages) are left out."""
    if benchmark not in BENCHMARKS:
        raise UserError(f"unknown benchmark '{benchmark}' (known: {', '.join(BENCHMARKS)})")
    task2langs, group2task = BENCHMARKS[benchmark]
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
            raise UserError(f"task '{task}' has no language '{unknown[0]}' in {benchmark}")
        partial = partial or set(langs) != set(task2langs[task])
        detailed[task] = score_task(pred_dir, label_dir, task, langs, split)
    overall: dict[str, Any] = {}
    if partial:
        return detailed
    if set(detailed) == set(task2langs):
        overall["all_task"] = sum(detailed[t]["avg_metric"] for t in task2langs) / len(task2langs)
    for group, group_tasks in group2task.items():
        if all(t in detailed for t in group_tasks):
            overall[group] = sum(detailed[t]["avg_metric"] for t in group_tasks) / len(group_tasks)
    overall.update(detailed)
    return overall


def run_score_cli(
    predictions: str,
    labels: str,
    output: str,
    benchmark: str = "xtreme",
    split: str = "test",
    languages: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Score a submission folder and write the result JSON to `output`; returns the result."""
    result = score_predictions(predictions, labels, benchmark=benchmark, split=split, languages=languages)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result
