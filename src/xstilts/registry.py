"""`Registry[T]`: a named table of one kind of extension (selection methods, executors, ...), in one idiom.

    METHODS: Registry[Method] = Registry("selection method")

    @METHODS.register("size")          # as a decorator
    def size(...): ...

    METHODS.register("family", entry)  # or as a call

    METHODS.get("sise")  # UserError: unknown selection method 'sise'; known: size, family

Names keep their registration order (`names()`, iteration), which is the order commands list and run them in.
A plugin or a test registers an entry the same way the toolkit does; `unregister` takes it away again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from xstilts.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind by name; `kind` names them in errors ("unknown <kind> 'x'; known: a, b")."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, entry: T) -> T: ...

    def register(self, name: str, entry: T | None = None) -> T | Callable[[T], T]:
        """Add `entry` under `name` (a name is registered once); without `entry`, a decorator that adds what it
        decorates and returns it unchanged."""
        if entry is None:
            return lambda e: self.register(name, e)
        if not name or name != name.strip():
            raise ValueError(f"{self.kind} name must be a non-empty word, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> T:
        """Remove an entry and return it (tests and plugins that registered one)."""
        return self._entries.pop(self._checked(name))

    def get(self, name: str) -> T:
        """The entry registered under `name`; a one-line UserError naming the known ones otherwise."""
        return self._entries[self._checked(name)]

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def check(self, name: str) -> str:
        """`name` itself when it is registered (for validators); the same UserError as `get` otherwise."""
        return self._checked(name)

    def _checked(self, name: str) -> str:
        if name not in self._entries:
            raise UserError(f"unknown {self.kind} '{name}'; known: {', '.join(self._entries) or '(none)'}")
        return name

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
