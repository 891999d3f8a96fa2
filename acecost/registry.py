"""One way to fill a table of rules keyed by primitive name.

The walker's tables (bit rules, higher-order rules, liveness rules) are all
filled the same way: a decorator that files one function under each name it
is given, so a primitive with a shared rule is one line.
"""
from __future__ import annotations

from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def registrar(table: dict[str, F]) -> Callable[..., Callable[[F], F]]:
    """``@deco("name", ...)`` putting the decorated function in ``table`` under every name."""

    def decorator(*names: str) -> Callable[[F], F]:
        def register(fn: F) -> F:
            for name in names:
                table[name] = fn
            return fn

        return register

    return decorator
