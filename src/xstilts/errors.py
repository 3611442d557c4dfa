"""User-facing errors: the CLI prints them as one line and exits with code 2 (no traceback)."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """Bad input from the user: a missing file, an unknown task, a malformed row.

    The message names the file, the line (when known) and what was expected.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


def validation_message(error: Any, what: str) -> str:
    """One line for a pydantic ValidationError of a `what` file (task, benchmark): its first error's field and
    message."""
    first = error.errors()[0]
    loc = ".".join(str(x) for x in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    return f"{what} field '{loc}': {msg}" if loc else f"{what}: {msg}"
