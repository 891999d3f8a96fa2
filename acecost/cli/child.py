"""What a command asks of the supervisor and tells it, from inside the process it watches.

:mod:`acecost.cli.supervisor` runs the commands that import models in a
child process. A command only needs to know whether it is that child,
whether SIGINT is already owned here, and to announce the model code it is
about to run. That state lives here, importing nothing, so the commands
never import the supervisor (which imports the click group, to run it in
the child).
"""
from __future__ import annotations

import os

_state: dict = {"handled": False, "report_fd": None}


def own_signals() -> None:
    """Record that the supervisor installed its signal handlers in this process."""
    _state["handled"] = True


def report_to(fd: int) -> None:
    """Make this process the supervised child, reporting to the supervisor on ``fd``."""
    _state["report_fd"] = fd


def signals_handled() -> bool:
    """Whether the supervisor owns SIGINT here (the contract then installs no handler of its own)."""
    return _state["handled"] or _state["report_fd"] is not None


def in_child() -> bool:
    """Whether this process is the supervised child of the ``acecost`` command."""
    return _state["report_fd"] is not None


def phase(text: str) -> None:
    """Tell the supervisor what the child is about to run (a model's code): its error names it."""
    fd = _state["report_fd"]
    if fd is not None:
        _say(fd, "phase " + " ".join(text.split()))


def done(code: int) -> None:
    """Tell the supervisor the command finished with ``code`` (its output already flushed)."""
    _say(_state["report_fd"], f"done {code}")


def _say(fd: int, line: str) -> None:
    data = (line + "\n").encode("utf-8", "replace")
    while data:
        data = data[os.write(fd, data):]
