"""Row mappers for the English intermediate tasks' hub datasets, and loaders for tasks that are not one hub dataset.

Most tasks use the generic `fields` mapper, driven by the task's `source.fields` (example field -> hub field).
Special mappers exist only where a dataset's row needs real restructuring (lettered answer keys, a blank to fill,
a paragraph list to flatten). Two further registries cover tasks a single HubSource cannot describe:
`LOCAL_READERS` (files the user must supply, e.g. CCGbank) and `TASK_LOADERS` (mixtures such as ANLI+).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from xstilts.data.hub import (
    class_label,
    guid,
    load_hub_examples,
    nearest_occurrence,
    records,
    row_mapper,
    tag_names,
)
from xstilts.errors import UserError
from xstilts.families.examples import Answer, ChoiceExample, SentenceExample, SpanExample, TagExample
from xstilts.families.fields import choice_index
from xstilts.tasks.spec import TaskSpec

LocalReader = Callable[[str | Path, str], list[Any]]
TaskLoader = Callable[..., list[Any]]
LOCAL_READERS: dict[str, LocalReader] = {}
TASK_LOADERS: dict[str, TaskLoader] = {}


def _registrar(registry: dict[str, Any]) -> Callable[[str], Callable[[Any], Any]]:
    """A decorator factory that files a function in `registry` under a task name."""

    def register(name: str) -> Callable[[Any], Any]:
        def deco(fn: Any) -> Any:
            registry[name] = fn
            return fn

        return deco

    return register


local_reader = _registrar(LOCAL_READERS)
task_loader = _registrar(TASK_LOADERS)

# ---------------------------------------------------------------------------------------------------------------
# Small helpers shared by the mappers


def _guid(row: dict[str, Any], task: TaskSpec, index: int) -> str:
    """`<task>-<hub id>` when the task names an id field (fields.guid), else `<task>-<row index>`."""
    assert task.source is not None
    return guid(task.name, index, row, task.source.fields.get("guid"))


def _aligned_answers(context: str, raw: Any) -> list[Answer] | None:
    """Answers whose text sits at its offset in context; misplaced ones are moved to the nearest occurrence.

    Some scripts strip context or answer text without adjusting answer_start (Quoref), so offsets can be off by a
    few characters. Returns None when the row had answers but none occurs in the context (such rows are skipped,
    rather than silently turned into unanswerable questions).
    """
    answers = []
    recs = records(raw)
    for rec in recs:
        text, start = str(rec["text"]), int(rec["answer_start"])
        if context[start : start + len(text)] != text:
            found = nearest_occurrence(context, text, start)
            if found is None:
                continue
            start = found
        answers.append(Answer(text=text, answer_start=start))
    if recs and not answers:
        return None
    return answers


def _letter_index(key: str, labels: list[str]) -> int | None:
    """Index of an answer key ('A'..'E', or '1'..'4' in some ARC rows) among the row's choice labels."""
    key = (key or "").strip()
    return labels.index(key) if key in labels else None


# ---------------------------------------------------------------------------------------------------------------
# The generic mapper


class _HubCodec:
    """The readings of a hub row's values that depend on the task (families.fields.FieldCodec)."""

    def __init__(self, task: TaskSpec):
        self.task = task

    def class_label(self, value: Any) -> str | None:
        return class_label(value, self.task)

    def tag_names(self, values: Any) -> list[str]:
        return tag_names(values, self.task)

    def answers(self, context: str, value: Any) -> list[Answer] | None:
        return _aligned_answers(context, value)


@row_mapper("fields")
def map_fields(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> Any:
    """Map one row by `source.fields`, according to the task's family: the family table's `from_fields`
    entry (families/fields.py), with this task's class names, tag names and answer alignment.

    fields, per family (values are hub field names):
      classification / regression: text_a, text_b (optional), label
      multiple_choice: context, question (optional), choices (a list of fields, or one Sequence field), label;
                       option label_base: 1 for 1-based answer strings ('1'..'3')
      span_qa: question, context, answers (SQuAD-style {text, answer_start}), title (optional)
      tagging: tokens, tags; option drop_tags: tag names whose tokens are removed (e.g. UD's '_' for multiword tokens)
    Option guid names the hub id field. Returns None for rows without a gold label.
    """
    assert task.source is not None
    row_guid = _guid(row, task, index)
    from_fields = task.ops.from_fields
    if from_fields is None:
        raise UserError(f"task '{task.name}': the `fields` mapper does not handle family '{task.family}'")
    return from_fields(row, task.source.fields, row_guid, _HubCodec(task))


# ---------------------------------------------------------------------------------------------------------------
# Special mappers


@row_mapper("keyed_choices")
def map_keyed_choices(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> ChoiceExample | None:
    """CommonsenseQA / ARC / OpenBookQA: choices {label, text} and an answerKey naming one label.

    The question is the context (no separate question), so each choice is scored as (question, choice).
    fields: question, choices, answer_key.
    """
    assert task.source is not None
    f = task.source.fields
    recs = records(row[f["choices"]])
    label = _letter_index(row[f["answer_key"]], [str(r["label"]) for r in recs])
    if label is None:
        return None
    return ChoiceExample(
        guid=_guid(row, task, index), context=row[f["question"]], choices=[r["text"] for r in recs], label=label
    )


@row_mapper("winogrande")
def map_winogrande(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> ChoiceExample | None:
    """WinoGrande: the text before the blank `_` is the context; each choice is the option followed by the rest.

    E.g. 'Ann gave _ a book.' with options Bob/Cal -> context 'Ann gave', choices ['Bob a book.', 'Cal a book.'].
    """
    label = choice_index(row["answer"], base=1)
    if label is None:
        return None
    sentence = row["sentence"]
    blank = sentence.index("_")
    rest = sentence[blank + 1 :]
    choices = [(row[o] + rest).strip() for o in ("option1", "option2")]
    return ChoiceExample(guid=_guid(row, task, index), context=sentence[:blank].strip(), choices=choices, label=label)


# SuperGLUE's COPA prompt: the `question` field names what is asked about the premise.
_COPA_QUESTIONS = {"cause": "What was the cause of this?", "effect": "What happened as a result?"}


@row_mapper("copa")
def map_copa(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> ChoiceExample | None:
    """COPA: premise as context, 'cause'/'effect' turned into a question, choice1/choice2."""
    label = choice_index(row["label"])
    if label is None:
        return None
    return ChoiceExample(
        guid=_guid(row, task, index),
        context=row["premise"],
        question=_COPA_QUESTIONS[row["question"]],
        choices=[row["choice1"], row["choice2"]],
        label=label,
    )


@row_mapper("wic")
def map_wic(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> SentenceExample | None:
    """WiC as sentence-pair classification: the target word leads the first segment ('word: sentence1')."""
    label = class_label(row["label"], task)
    if label is None:
        return None
    return SentenceExample(
        guid=_guid(row, task, index), text_a=f"{row['word']}: {row['sentence1']}", text_b=row["sentence2"], label=label
    )


@row_mapper("multirc")
def map_multirc(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> SentenceExample | None:
    """MultiRC as pair classification: (paragraph, 'question answer'); guid from the nested idx ids."""
    label = class_label(row["label"], task)
    if label is None:
        return None
    idx = row["idx"]
    return SentenceExample(
        guid=f"{task.name}-{idx['paragraph']}-{idx['question']}-{idx['answer']}",
        text_a=row["paragraph"],
        text_b=f"{row['question']} {row['answer']}",
        label=label,
    )


@row_mapper("race")
def map_race(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> ChoiceExample | None:
    """RACE: article as context, four options, answer letter A-D.

    Cloze questions (containing '_') get each option written into the blank and an empty question, so every choice
    reads as a sentence; other questions stay as the question.
    """
    label = _letter_index(row["answer"], ["A", "B", "C", "D"])
    if label is None:
        return None
    question, options = row["question"], list(row["options"])
    if "_" in question:
        options = [question.replace("_", opt, 1) for opt in options]
        question = ""
    return ChoiceExample(
        guid=_guid(row, task, index), context=row["article"], question=question, choices=options, label=label
    )


@row_mapper("hotpotqa")
def map_hotpotqa(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> SpanExample | None:
    """HotpotQA as extractive QA over its gold paragraphs.

    Context: the paragraphs named in supporting_facts, in their order in `context`, each as 'Title: sentences'
    (sentences joined as given; they carry their own leading spaces), separated by a blank line. The answer span is
    the first occurrence of the answer string; yes/no answers and answers not found verbatim return None (skipped).
    """
    answer = (row.get("answer") or "").strip()
    if not answer or answer.lower() in ("yes", "no"):
        return None
    gold_titles = {r["title"] for r in records(row["supporting_facts"])}
    paragraphs = [
        f"{p['title']}: {''.join(p['sentences']).strip()}" for p in records(row["context"]) if p["title"] in gold_titles
    ]
    context = "\n\n".join(paragraphs)
    start = context.find(answer)
    if start < 0:
        return None
    return SpanExample(
        guid=_guid(row, task, index),
        question=row["question"],
        context=context,
        answers=[Answer(text=answer, answer_start=start)],
    )


# ---------------------------------------------------------------------------------------------------------------
# Local readers: tasks whose data is not on the hub


@local_reader("ccg")
def read_ccg(directory: str | Path, split: str) -> list[TagExample]:
    """jiant's CCG files `ccg.{train,dev,test}`: one sentence per line, `words<TAB>supertags`, both space-separated."""
    path = Path(directory) / f"ccg.{split}"
    if not path.is_file():
        raise UserError(f"CCG file not found; expected ccg.{split} with lines 'words<TAB>supertags'", path=str(path))
    examples: list[TagExample] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 2:
                raise UserError(
                    f"expected 'words<TAB>supertags', found {len(parts)} tab-separated field(s)",
                    path=str(path),
                    line=lineno,
                )
            tokens, tags = parts[0].split(" "), parts[1].split(" ")
            if len(tokens) != len(tags):
                raise UserError(
                    f"{len(tokens)} words but {len(tags)} supertags; expected one per word", path=str(path), line=lineno
                )
            examples.append(TagExample(guid=f"{split}-{len(examples)}", tokens=tokens, tags=tags))
    return examples


# ---------------------------------------------------------------------------------------------------------------
# Task loaders: tasks built from several hub datasets


# ANLI+ trains on ANLI R1-R3, MNLI and SNLI together; it is evaluated on ANLI's own dev/test (all rounds).
ANLI_PLUS_TRAIN = ("anli", "mnli", "snli")
ANLI_PLUS_EVAL = ("anli",)


@task_loader("anli_plus")
def load_anli_plus(
    task: TaskSpec, split: str, lang: str = "en", data_files: dict[str, Any] | None = None
) -> list[SentenceExample]:
    """Examples of ANLI+: the concatenation of its component tasks' examples for `split`.

    data_files (for tests or local copies): {component task name: that task's data_files}.
    """
    from xstilts.tasks.registry import get_task

    examples: list[SentenceExample] = []
    for name in ANLI_PLUS_TRAIN if split == "train" else ANLI_PLUS_EVAL:
        part = get_task(name)
        if part.labels != task.labels:
            raise UserError(f"ANLI+ component '{name}' has labels {part.labels}, expected {task.labels}")
        files = None if data_files is None else data_files[name]
        examples.extend(load_hub_examples(part, split, lang, files))
    return examples
