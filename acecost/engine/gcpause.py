"""The cyclic garbage collector kept out of tracing and the walk.

Tracing a model and walking its jaxpr allocate millions of small objects
and almost no garbage cycles, so every collection the allocations trigger
scans the whole live heap (jax's and the model's) for nothing: 10-20% of
the CPU of a large trace. Acyclic garbage is still freed at once by
reference counting; only the cycle search waits until the block ends.
"""
from __future__ import annotations

import atexit
import contextlib
import gc

_registered = False


@contextlib.contextmanager
def paused():
    """The collector off inside the block, back to its previous state after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_at_exit() -> None:
    """Skip the collection of the whole heap a command-line process makes as it exits.

    The interpreter collects all generations at shutdown; freezing first
    (once the command's output is written) moves the live objects out of
    the collector's reach, and the process's memory is returned anyway.
    Registered once, so it runs after the handlers of modules imported later
    (atexit runs last-registered first).
    """
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
