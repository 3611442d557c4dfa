"""The uniform local layout: `<dir>/<split>.<lang>.jsonl`, one example per line, fields as in families/examples.py.

Used by the demo data, by user-provided data (translated intermediate data, CCG, ...) and by tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

from xstilts.errors import UserError
from xstilts.families import family_ops
from xstilts.families.examples import Answer, SpanExample


def local_path(directory: str | Path, split: str, lang: str) -> Path:
    return Path(directory) / f"{split}.{lang}.jsonl"


def _check_types(cls: type, obj: dict[str, Any], path: Path, lineno: int) -> None:
    names = {f.name for f in dc_fields(cls)}
    required = {f.name for f in dc_fields(cls) if f.default is f.default_factory}  # no default at all
    unknown = set(obj) - names
    if unknown:
        raise UserError(
            f"unexpected field(s) {sorted(unknown)} for a {cls.__name__}; expected {sorted(names)}",
            path=str(path),
            line=lineno,
        )
    missing = {n for n in required if n not in obj}
    if missing:
        raise UserError(f"missing field(s) {sorted(missing)}; expected {sorted(names)}", path=str(path), line=lineno)


def parse_example(family: str, obj: Any, path: Path, lineno: int, labels: list[str] | None = None):
    """Turn one JSON object into the family's example, with errors naming file and line. `labels`: the task's label
    set (classification labels or tags), checked when given."""
    ops = family_ops(family)
    cls = ops.example_type
    if not isinstance(obj, dict):
        raise UserError(f"expected a JSON object for a {cls.__name__}", path=str(path), line=lineno)
    _check_types(cls, obj, path, lineno)
    try:
        if cls is SpanExample:
            answers = [Answer(text=a["text"], answer_start=int(a["answer_start"])) for a in obj.get("answers", [])]
            ex = SpanExample(**{**obj, "answers": answers})
        else:
            ex = cls(**obj)
    except (TypeError, KeyError, ValueError) as e:
        raise UserError(f"malformed {cls.__name__}: {e}", path=str(path), line=lineno) from None
    problem = ops.check(ex, labels) if ops.check is not None else None
    if problem:
        raise UserError(problem, path=str(path), line=lineno)
    return ex


def read_text(path: str | Path) -> str:
    """A UTF-8 text file; invalid UTF-8 is an error naming the file and the line."""
    p = Path(path)
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        raise UserError(
            f"invalid UTF-8 (byte 0x{data[e.start]:02x} at column {e.start - line_start + 1}); expected UTF-8 text",
            path=str(p),
            line=data.count(b"\n", 0, e.start) + 1,
        ) from None
    return text


def read_text_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file (split on \\n only: U+2028 and friends are valid inside JSON strings)."""
    return read_text(path).split("\n")


def read_jsonl(path: str | Path, family: str, labels: list[str] | None = None) -> Iterator[Any]:
    p = Path(path)
    if not p.is_file():
        raise UserError("data file not found", path=str(p))
    empty = True
    for lineno, line in enumerate(read_text_lines(p), start=1):
        if not line.strip():
            continue
        empty = False
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(
                f"invalid JSON ({e.msg}); expected one JSON object per line", path=str(p), line=lineno
            ) from None
        yield parse_example(family, obj, p, lineno, labels)
    if empty:
        raise UserError("empty file (no examples); expected one JSON object per line", path=str(p))


def read_local(directory: str | Path, split: str, lang: str, family: str, labels: list[str] | None = None) -> list[Any]:
    return list(read_jsonl(local_path(directory, split, lang), family, labels))


def write_jsonl(path: str | Path, examples: list[Any]) -> None:
    from dataclasses import asdict

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(asdict(ex), ensure_ascii=False) + "\n")
