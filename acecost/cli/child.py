"""What a command asks of the supervisor and tells it, from inside the process it watches.

:mod:`acecost.cli.supervisor` runs the commands that import models in a
child process. A command only needs to know whether it is that child,
whether SIGINT is already owned here, and to announce the model code it is
about to run. That state lives here, importing nothing, so the commands
never import the supervisor (which imports the click group, to run it in
the child).

A sweep whose every point is cached runs no model code, so the supervisor
first runs it in its own process (*probing*, a second interpreter costs a
third of such a sweep's time); the moment the command announces model code
(:func:`phase`), :class:`HandOff` unwinds it, and the supervisor runs the
whole command again in a child, as for any other command.
"""
from __future__ import annotations

import os

_state: dict = {"handled": False, "report_fd": None, "probing": False}


class HandOff(BaseException):
    """Raised by :func:`phase` in a probing supervisor: this command runs model code, in a child.

    A ``BaseException``, as ``SystemExit`` is: no command's error handling may catch it."""


def probe(on: bool = True) -> None:
    """Run the command here until it announces model code (the supervisor's process only)."""
    _state["probing"] = on


def probing() -> bool:
    """Whether this is the supervisor's own process, answering only what needs no model code."""
    return _state["probing"]


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
    """Tell the supervisor what the child is about to run (a model's code): its error names it.

    In the probing supervisor, nothing has been written yet: :class:`HandOff` ends the probe."""
    if _state["probing"]:
        raise HandOff(text)
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
