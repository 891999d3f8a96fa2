"""How a process ended, in words, for the error a dead process leaves behind."""
from __future__ import annotations

import signal


def ended(returncode: int) -> str:
    """'ended with exit code 0', 'was killed by SIGABRT (Aborted)' (a negative code is a signal)."""
    if returncode >= 0:
        return f"ended with exit code {returncode}"
    try:
        sig = signal.Signals(-returncode)
        name, what = sig.name, signal.strsignal(sig)
    except ValueError:
        name, what = f"signal {-returncode}", None
    return f"was killed by {name}" + (f" ({what})" if what else "")


def ended_by_model(returncode: int, process: str = "the process") -> str:
    """The same, said of a process that was running model code: an exit is the model's doing."""
    if returncode >= 0:
        return f"the model ended {process} (exit code {returncode})"
    return f"{process} {ended(returncode)}"
