"""The ``acecost`` command: a thin click group over the library.

The exit-code contract is kept by :mod:`acecost.cli.contract`; run as the
console script, the commands that import models run in a child process
watched by :mod:`acecost.cli.supervisor`, which starts before anything else
is imported. The group itself (:mod:`acecost.cli.group`: click and every
command) is imported when ``main`` is first asked for, after that start.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from acecost.cli import supervisor as _supervisor

if TYPE_CHECKING:
    from acecost.cli.group import main

__all__ = ["main"]

_supervisor.start()  # the console script: signals first, then maybe the command in a child process


def __getattr__(name: str) -> Any:
    """``main``, the click group, imported on first use (after the supervisor has started)."""
    if name == "main":
        from acecost.cli.group import main

        globals()["main"] = main
        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
