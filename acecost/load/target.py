"""What a loaded target is: a function, its abstract arguments, and which are parameters.

:mod:`acecost.load.resolve` makes one from what the user names (a model
file, ``module:attr``, ``zoo:NAME``); a model's ``acecost_model()`` may
return one itself. :func:`validate` checks what tracing it needs.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Callable

from acecost.errors import TargetError

ENTRY_FUNCTION = "acecost_model"


class _DefaultArgnums(tuple):
    """The default ``params_argnums``, told apart from the same value given on purpose."""


@dataclass
class Target:
    """A function, its positional arguments, and which of them are parameters."""

    fn: Callable
    args: tuple
    params_argnums: tuple[int, ...] = _DefaultArgnums((0,))
    name: str | None = None
    description: str | None = None
    #: for ``--mode train``: model output -> scalar loss (default: sum of squares)
    loss: Callable | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    #: whether ``params_argnums`` was given rather than defaulted (a lift keeps only given ones)
    params_declared: bool = field(default=True, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.params_declared = not isinstance(self.params_argnums, _DefaultArgnums)
        if not callable(self.fn):
            raise TargetError(f"Target.fn is not callable (got {type(self.fn).__name__})")
        if not isinstance(self.args, tuple):
            self.args = tuple(self.args) if isinstance(self.args, list) else (self.args,)
        self.params_argnums = tuple(self.params_argnums)


def validate(target: Target) -> None:
    """Arguments acecost can trace: parameter indices in range, concrete shapes."""
    import jax

    if not isinstance(target, Target):
        raise TargetError(f"expected an acecost.Target, got {type(target).__name__}")
    n = len(target.args)
    for i in target.params_argnums:
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n:
            raise TargetError(f"{target.name or 'target'}: params_argnums {target.params_argnums} names "
                              f"argument {i!r}, but there are {n} argument(s) (0 to {n - 1})")
    for path, leaf in jax.tree_util.tree_leaves_with_path(target.args):
        shape = getattr(leaf, "shape", None)
        if shape is None:
            continue
        if not all(_concrete(d) for d in shape):
            where = jax.tree_util.keystr(path) or "an argument"
            raise TargetError(f"{target.name or 'target'}: argument {where} has a symbolic shape {tuple(shape)}; "
                              "acecost counts concrete shapes: give every dimension a number")
        if any(operator.index(d) < 0 for d in shape):
            where = jax.tree_util.keystr(path) or "an argument"
            raise TargetError(f"{target.name or 'target'}: argument {where} has a negative dimension "
                              f"{tuple(shape)}")


def _concrete(dim) -> bool:
    try:
        operator.index(dim)
    except Exception:  # a symbolic (shape-polymorphic) dimension
        return False
    return True
