"""The XTREME submission layout, `<task>/<split>-<lang>.tsv|json`, read and written as the official scorer expects.

- labels (xnli, pawsx, tatoeba): one label per line;
- tagging (udpos, panx): one tag per line, a blank line after each sentence;
- bucc2018: `src_id<TAB>tgt_id` per line;
- QA predictions: JSON `{qid: answer_text}`; QA labels: SQuAD-format JSON (`data` / `paragraphs` / `qas`).

Readers follow the official `read_label` / `read_tag` / `read_squad` rules (lines stripped; for tags, every blank line
closes a sentence, even an empty one) and raise UserError naming the file and line on malformed input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from xstilts.errors import UserError

QA_SUFFIX, TSV_SUFFIX = "json", "tsv"


def _read_lines(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise UserError("file not found", path=str(path))
    try:
        with path.open(encoding="utf-8") as f:
            return list(f)
    except UnicodeDecodeError as err:
        raise UserError(f"not UTF-8 text ({err.reason} at byte {err.start})", path=str(path)) from None


def _write_lines(path: str | Path, lines: Iterable[str]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")


def _one_line(value: object, path: str | Path) -> str:
    text = str(value)
    if "\n" in text or "\r" in text:
        raise UserError(f"value {text!r} contains a line break", path=str(path))
    return text


# --- one label per line (xnli, pawsx, tatoeba) -----------------------------------------------------------------


def write_labels_tsv(path: str | Path, labels: Iterable[object]) -> None:
    """One label per line."""
    _write_lines(path, (_one_line(label, path) for label in labels))


def read_labels(path: str | Path) -> list[str]:
    """One label per line, stripped (official `read_label`; a blank line is an empty label)."""
    return [line.strip() for line in _read_lines(path)]


# --- tagging (udpos, panx) ----------------------------------------------------------------------------------------


def write_tagging(path: str | Path, sentences: Iterable[Sequence[str]]) -> None:
    """One tag per line and a blank line after each sentence (so an empty sentence reads back as empty)."""

    def lines() -> Iterable[str]:
        for sent in sentences:
            for tag in sent:
                tag = _one_line(tag, path)
                if not tag.strip():
                    raise UserError("empty tag", path=str(path))
                yield tag
            yield ""

    _write_lines(path, lines())


def read_tagging(path: str | Path) -> list[list[str]]:
    """Sentences of tags (official `read_tag`): every blank line closes the current sentence, even an empty one."""
    sentences: list[list[str]] = []
    current: list[str] = []
    for line in _read_lines(path):
        tag = line.strip()
        if tag:
            current.append(tag)
        else:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def tagging_line_of_sentence(sentences: Sequence[Sequence[str]], index: int) -> int:
    """1-based line where sentence `index` starts in a file written by `write_tagging` (for error messages)."""
    return 1 + sum(len(s) + 1 for s in sentences[:index])


# --- BUCC pairs ---------------------------------------------------------------------------------------------------


def write_bucc(path: str | Path, pairs: Iterable[Sequence[str]]) -> None:
    """One mined pair per line: `src_id<TAB>tgt_id`."""
    out = []
    for pair in pairs:
        if len(pair) != 2:
            raise UserError(f"a BUCC pair has two ids, got {tuple(pair)!r}", path=str(path))
        out.append("\t".join(_one_line(x, path) for x in pair))
    _write_lines(path, out)


def read_bucc(path: str | Path) -> list[tuple[str, str]]:
    """Mined pairs; each non-blank line must be `src_id<TAB>tgt_id`."""
    pairs: list[tuple[str, str]] = []
    for lineno, line in enumerate(read_labels(path), start=1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise UserError(f"expected 'src_id<TAB>tgt_id', got {line!r}", path=str(path), line=lineno)
        pairs.append((fields[0], fields[1]))
    return pairs


# --- QA (xquad, mlqa, tydiqa) -------------------------------------------------------------------------------------


def _read_json(path: str | Path) -> Any:
    text = "".join(_read_lines(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"bad JSON: {err.msg} (column {err.colno})", path=str(path), line=err.lineno) from None


def _write_json(path: str | Path, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def write_qa_predictions(path: str | Path, predictions: Mapping[str, str]) -> None:
    """`{qid: answer_text}` JSON."""
    _write_json(path, {str(q): str(a) for q, a in predictions.items()})


def read_qa_predictions(path: str | Path) -> dict[str, str]:
    """`{qid: answer_text}`; each answer must be a string."""
    obj = _read_json(path)
    if not isinstance(obj, dict):
        raise UserError("expected a JSON object {question_id: answer_text}", path=str(path), line=1)
    for qid, answer in obj.items():
        if not isinstance(answer, str):
            raise UserError(f"answer of question '{qid}' is {type(answer).__name__}, expected a string", path=str(path))
    return obj


def _answer_text(answer: Any) -> tuple[str, int]:
    """(text, answer_start) from an Answer-like object, a (text, start) pair, a SQuAD dict, or a plain string."""
    if isinstance(answer, str):
        return answer, -1
    if isinstance(answer, Mapping):
        return str(answer["text"]), int(answer.get("answer_start", -1))
    if hasattr(answer, "text"):
        return str(answer.text), int(getattr(answer, "answer_start", -1))
    text, start = answer
    return str(text), int(start)


def write_qa_labels(path: str | Path, examples: Iterable[Any]) -> None:
    """SQuAD-format labels: one article per example, `data[i].paragraphs[0].qas[0]` with id, question, answers.

    An example is (qid, context, question, answers) or a SpanExample; an answer is an Answer, (text, start),
    a SQuAD answer dict or a plain string (answer_start -1 when unknown).
    """
    data = []
    for ex in examples:
        if hasattr(ex, "guid"):
            qid, context, question, answers = ex.guid, ex.context, ex.question, ex.answers
        else:
            qid, context, question, answers = ex
        qas = [
            {
                "id": str(qid),
                "question": str(question),
                "answers": [{"text": t, "answer_start": s} for t, s in map(_answer_text, answers)],
            }
        ]
        data.append({"title": "", "paragraphs": [{"context": str(context), "qas": qas}]})
    _write_json(path, {"version": "1.1", "data": data})


def squad_articles(obj: Any, path: str | Path) -> list[dict[str, Any]]:
    """The article list of a SQuAD JSON (official `read_squad`: the `data` field when present, else the object)."""
    articles = obj["data"] if isinstance(obj, dict) and "data" in obj else obj
    if not isinstance(articles, list):
        raise UserError("expected SQuAD JSON with a 'data' list of articles", path=str(path))
    return articles


def gold_answers(articles: Sequence[Mapping[str, Any]], path: str | Path = "<labels>") -> list[tuple[str, list[str]]]:
    """(qid, [gold answer texts]) for every question, in file order."""
    out: list[tuple[str, list[str]]] = []
    try:
        for article in articles:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    out.append((str(qa["id"]), [str(a["text"]) for a in qa["answers"]]))
    except (KeyError, TypeError) as err:
        raise UserError(
            f"not SQuAD format (data/paragraphs/qas/answers): missing or bad {err}", path=str(path)
        ) from None
    return out


def read_qa_labels(path: str | Path) -> list[tuple[str, list[str]]]:
    """(qid, [gold answer texts]) per question of a SQuAD-format label file."""
    return gold_answers(squad_articles(_read_json(path), path), path)
