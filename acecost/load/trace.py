"""Model -> closed jaxpr, abstractly: nothing is compiled, run or allocated."""
from __future__ import annotations

import re
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from acecost.engine.values.levels import dtype_bits

from acecost.errors import TargetError
from acecost.load.lift import abstractify, hint


@dataclass(frozen=True)
class Leaf:
    path: str
    shape: tuple[int, ...]
    dtype: np.dtype
    is_param: bool
    #: bit-width the argument tree declares for this leaf (a quantized array's qtype)
    declared_bits: int | None = None
    declared_why: str = ""


def path_str(path) -> str:
    parts = []
    # NNX keeps a Variable's array in the attribute ``.value``; a dict key
    # named "value" (AQT's legacy Freezer) is a real name and stays.
    wrapped = bool(path) and isinstance(path[-1], jax.tree_util.GetAttrKey)
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    if wrapped and len(parts) > 1 and parts[-1] in ("value", "raw_value"):
        parts.pop()
    return "/".join(parts)


def _is_quantized_array(node) -> bool:
    """A node that keeps integer codes with their logical type (Qwix ``QArray``)."""
    return (not isinstance(node, (jax.Array, jax.ShapeDtypeStruct, np.ndarray))
            and hasattr(node, "qvalue") and getattr(node, "qtype", None) is not None)


def qtype_bits(qtype) -> int | None:
    """Bits of a logical quantized type: a dtype, or a name such as 'int2', 'nf4', 'mxfp8'."""
    try:
        return dtype_bits(jnp.dtype(qtype))
    except TypeError:
        match = re.search(r"(\d+)", str(qtype))
        return int(match.group(1)) if match else None


def declared_widths(arg) -> list[tuple[int | None, str]]:
    """Per leaf of ``arg`` (flattening order): the width its quantized array declares.

    Qwix PTQ weights are ``QArray(qvalue, scale, qtype='int2')``: the codes sit
    in an int4 container and only the static ``qtype`` says they are 2-bit.
    """
    out: list[tuple[int | None, str]] = []
    for node in jax.tree_util.tree_leaves(arg, is_leaf=_is_quantized_array):
        if not _is_quantized_array(node):
            out.append((None, ""))
            continue
        bits = qtype_bits(node.qtype)
        label = getattr(node.qtype, "__name__", None) or str(node.qtype)
        for path, _ in jax.tree_util.tree_flatten_with_path(node)[0]:
            is_code = bool(path) and getattr(path[0], "name", None) == "qvalue"
            out.append((bits, f"declared {label} ({type(node).__name__}.qtype)") if is_code and bits
                       else (None, ""))
    return out


def leaves_of(args, params_argnums, fn=None) -> list[Leaf]:
    """One :class:`Leaf` per array leaf of ``args``, in flattening order, with names unique across arguments.

    A leaf is named by its path inside its argument (a Keras variable by its own
    path, :func:`own_name`). Two arguments whose paths
    collide (two lists, ``stateless_call(trainable, non_trainable, x)``: both
    ``0``, ``1``, ...) would share names, so one's weights would stand for the
    other's in ``size`` and in layer names; their leaves are named
    ``ARG/path`` instead, ``ARG`` being the argument's name in ``fn``'s
    signature (``argN`` where it has none).
    """
    per_arg = []
    for i, arg in enumerate(args):
        flat = jax.tree_util.tree_flatten_with_path(arg)[0]
        declared = declared_widths(arg)
        if len(declared) != len(flat):
            declared = [(None, "")] * len(flat)
        per_arg.append([(own_name(x) or path_str(path), x, bits, why)
                        for (path, x), (bits, why) in zip(flat, declared)])
    prefixes = _argument_prefixes(per_arg, fn)
    out = []
    for i, leaves in enumerate(per_arg):
        for path, x, bits, why in leaves:
            name = f"{prefixes[i]}/{path}" if prefixes[i] and path else path or f"arg{i}"
            shape = tuple(getattr(x, "shape", ()))
            dtype = getattr(x, "dtype", None)  # not np.asarray(x) first: that would copy an array's data
            dtype = np.dtype(dtype) if dtype is not None else np.asarray(x).dtype
            out.append(Leaf(name, shape, dtype, i in params_argnums, bits, why))
    return out


def concrete_params(args, leaves) -> dict | None:
    """Parameter path -> the array given for it, for the parameters given as arrays (None: none).

    The trace sees shapes alone (:func:`abstractify`); measuring weights
    (``levels="measured"``, ``sparsity="discount"``) reads these values. The arrays
    are the caller's own: nothing is copied.
    """
    flat = jax.tree_util.tree_leaves(args)
    if len(flat) != len(leaves):
        return None
    out = {lf.path: x for lf, x in zip(leaves, flat) if lf is not None and lf.is_param and _is_concrete(x)}
    return out or None


def _is_concrete(x) -> bool:
    if isinstance(x, (np.ndarray, np.generic)):
        return True
    return isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)


def own_name(leaf) -> str | None:
    """The name a leaf carries itself: a Keras variable's path (``dense/kernel``), which a
    list of variables (``model.trainable_variables``) would otherwise lose to its indices."""
    path = getattr(leaf, "path", None)
    return path if isinstance(path, str) and path and type(leaf).__module__.startswith("keras") else None


def _argument_prefixes(per_arg, fn) -> list[str | None]:
    """The name to put before each argument's leaf paths: only for arguments whose paths
    another argument also has (so one model's names do not change when nothing collides)."""
    seen: dict[str, int] = {}
    clash: set[int] = set()
    for i, leaves in enumerate(per_arg):
        for path in dict.fromkeys(p for p, *_ in leaves if p):
            if path in seen and seen[path] != i:
                clash.update((seen[path], i))
            seen.setdefault(path, i)
    names = _argument_names(fn, len(per_arg))
    return [names[i] if i in clash else None for i in range(len(per_arg))]


def _argument_names(fn, n: int) -> list[str]:
    """Positional parameter names of ``fn`` (``argN`` past them, or if they repeat or are unknown)."""
    import inspect

    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)] if fn is not None else []
    except (TypeError, ValueError):
        params = []
    names = [params[i] if i < len(params) else f"arg{i}" for i in range(n)]
    return names if len(set(names)) == n else [f"arg{i}" for i in range(n)]


def trace(fn, args):
    """The closed jaxpr of ``fn(*args)`` on abstract values."""
    if not callable(fn):
        raise TargetError(f"the target is not callable (got {type(fn).__name__})")
    abstract = abstractify(args)
    for path, leaf in jax.tree_util.tree_leaves_with_path(abstract):
        shape = getattr(leaf, "shape", ())
        if any(isinstance(d, int) and d < 0 for d in shape):  # jax traces these, into negative costs
            raise TargetError(f"argument {jax.tree_util.keystr(path) or '0'} has a negative dimension "
                              f"{tuple(shape)}")
    try:
        return jax.make_jaxpr(fn)(*abstract)
    except TargetError:
        raise
    except Exception as exc:  # the user's model raised while being traced
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise TargetError(f"tracing the model failed: {type(exc).__name__}: {msg}{hint(fn)}") from exc
