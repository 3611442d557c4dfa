"""Instance-level forward swaps: the one way xstilts reroutes a module's forward for a while.

Used by the training loop's lazy embedding rows and embedding gradient buffer, the CPU dropout and the first-position
last layer. The replacement is an instance attribute that shadows the class's `forward`; removing it restores the
class's forward (so restoring never depends on what was installed in between).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn


def swap_forward(module: nn.Module, forward: Callable[..., Any]) -> Callable[[], None]:
    """Route `module`'s calls through `forward` until the returned function is called."""
    module.forward = forward

    def restore() -> None:
        module.__dict__.pop("forward", None)  # back to the class's forward

    return restore


@contextmanager
def swapped_forwards(pairs: Iterable[tuple[nn.Module, Callable[..., Any]]]) -> Iterator[None]:
    """Each (module, forward) swapped for the duration of the block."""
    restores = [swap_forward(module, forward) for module, forward in pairs]
    try:
        yield
    finally:
        for restore in reversed(restores):
            restore()
