"""Model -> closed jaxpr, abstractly: nothing is compiled, run or allocated."""
from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from acecost.errors import TargetError


@dataclass(frozen=True)
class Leaf:
    path: str
    shape: tuple[int, ...]
    dtype: np.dtype
    is_param: bool


def abstractify(args):
    """Arrays and ShapeDtypeStructs -> ShapeDtypeStructs (no data is touched)."""

    def leaf(x):
        if isinstance(x, jax.ShapeDtypeStruct):
            return x
        if hasattr(x, "shape") and hasattr(x, "dtype"):
            return jax.ShapeDtypeStruct(tuple(x.shape), x.dtype)
        return x

    return jax.tree_util.tree_map(leaf, args)


def path_str(path) -> str:
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    if len(parts) > 1 and parts[-1] in ("value", "raw_value"):
        parts.pop()
    return "/".join(parts)


def leaves_of(args, params_argnums) -> list[Leaf]:
    out = []
    for i, arg in enumerate(args):
        for path, x in jax.tree_util.tree_flatten_with_path(arg)[0]:
            name = path_str(path) or f"arg{i}"
            shape = tuple(getattr(x, "shape", ()))
            dtype = np.dtype(getattr(x, "dtype", np.asarray(x).dtype))
            out.append(Leaf(name if i in params_argnums else name, shape, dtype, i in params_argnums))
    return out


def trace(fn, args):
    """The closed jaxpr of ``fn(*args)`` on abstract values."""
    if not callable(fn):
        raise TargetError(f"the target is not callable (got {type(fn).__name__})")
    try:
        return jax.make_jaxpr(fn)(*abstractify(args))
    except TargetError:
        raise
    except Exception as exc:  # the user's model raised while being traced
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise TargetError(f"tracing the model failed: {type(exc).__name__}: {msg}") from exc
