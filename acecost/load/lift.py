"""Shapes a target's function closes over, made arguments so they can be traced.

``params, static = eqx.partition(model, eqx.is_array)`` on a model built with
``eqx.filter_eval_shape`` puts every weight in ``static``: a
``jax.ShapeDtypeStruct`` is not an array. The function
``lambda p, x: eqx.combine(p, static)(x)`` then computes with the structs
themselves and tracing fails. Those structs are the parameters; passed as an
extra argument (their tree paths as names) they are traced, named and sized
like any other. Only a function that fails to trace as given is changed, so
a struct closed over for its shape alone is never counted as a weight.

The structs are looked for where the call reaches them: the function's
closure and globals, through ``__wrapped__`` chains (``functools.wraps``,
``eqx.filter_jit``), in a ``functools.partial``'s arguments and among the
leaves of a callable pytree (the abstract ``eqx.Module`` itself).
"""
from __future__ import annotations

import functools
import inspect
import types
from dataclasses import dataclass

import jax

#: what is never searched for structs: code, not data
_NOT_DATA = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, type,
             functools.partial)


#: the key of a callable whose own pytree leaves are the structs (an abstract eqx.Module)
SELF = object()


@dataclass
class Captured:
    """One closure cell, global or partial argument of the function holding structs among its leaves."""

    name: str
    holder: object  # a cell, the function's globals dict, a functools.partial, or the callable itself
    value: object
    key: object = None  # the partial's argument index or keyword; SELF for a callable pytree

    @property
    def rebuilt(self) -> bool:
        """Held where it cannot be set (a partial, a pytree): the call is made on a new holder."""
        return not isinstance(self.holder, (types.CellType, dict))

    def get(self):
        if isinstance(self.holder, types.CellType):
            return self.holder.cell_contents
        return self.holder[self.name]

    def set(self, value) -> None:
        if isinstance(self.holder, types.CellType):
            self.holder.cell_contents = value
        else:
            self.holder[self.name] = value


def abstractify(args):
    """Arrays and ShapeDtypeStructs -> ShapeDtypeStructs (no data is touched)."""

    def leaf(x):
        if isinstance(x, jax.ShapeDtypeStruct):
            return x
        if hasattr(x, "shape") and hasattr(x, "dtype"):
            return jax.ShapeDtypeStruct(tuple(x.shape), x.dtype)
        return x

    return jax.tree_util.tree_map(leaf, args)


def _has_struct(value) -> bool:
    if isinstance(value, _NOT_DATA):
        return False
    try:
        leaves = jax.tree_util.tree_leaves(value)
    except Exception:  # an object jax cannot flatten holds no structs it could trace
        return False
    return any(_is_struct(leaf) for leaf in leaves)


def _chain(fn) -> list:
    """``fn`` and what it calls on: ``__wrapped__`` and a partial's ``func``, each once."""
    out = []
    while fn is not None and not any(fn is f for f in out):
        out.append(fn)
        try:
            fn = fn.func if isinstance(fn, functools.partial) else getattr(fn, "__wrapped__", None)
        except Exception:  # an object whose attributes raise wraps nothing we can see
            fn = None
    return out


def _positional_names(fn) -> list[str]:
    try:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def _in_partial(p: functools.partial) -> list[Captured]:
    names = _positional_names(p.func)
    found = [Captured(names[i] if i < len(names) else f"args[{i}]", p, v, i)
             for i, v in enumerate(p.args) if _has_struct(v)]
    return found + [Captured(k, p, v, k) for k, v in p.keywords.items() if _has_struct(v)]


def _in_code(fn) -> list[Captured]:
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return []
    found = []
    for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
        try:
            value = cell.cell_contents
        except ValueError:  # a cell not yet filled
            continue
        if _has_struct(value):
            found.append(Captured(name, cell, value))
    scope = getattr(fn, "__globals__", None) or {}
    return found + [Captured(name, scope, scope[name]) for name in code.co_names
                    if name in scope and _has_struct(scope[name])]


def captured_structs(fn, chain=None) -> list[Captured]:
    """Closure cells, globals and partial arguments ``fn`` reaches whose pytree leaves
    include a ShapeDtypeStruct, each holder once."""
    found, seen, pytree = [], set(), False
    for f in chain or _chain(getattr(fn, "_acecost_lifted_from", fn)):
        here = _in_partial(f) if isinstance(f, functools.partial) else _in_code(f)
        # a callable pytree (eqx.Module, eqx.filter_vmap's wrapper) holds what it wraps among its
        # leaves: the outermost one is rebuilt; a jit wrapper is skipped while tracing (_head)
        if not (pytree or isinstance(f, types.FunctionType) or _is_jit(f)) and _has_struct(f):
            here.append(Captured(type(f).__name__, f, f, SELF))
            pytree = True
        for c in here:
            where = (id(c.holder), c.key if c.rebuilt else None if isinstance(c.holder, types.CellType) else c.name)
            if where not in seen:
                seen.add(where)
                found.append(c)
    return found


def _is_struct(leaf) -> bool:
    return isinstance(leaf, jax.ShapeDtypeStruct)


def _structs_only(value):
    """``value`` with every leaf but the structs made None: the tree ``eqx.partition`` by
    struct would give, so the weights keep their paths (``layers/0/weight``) and order."""
    return jax.tree_util.tree_map(lambda leaf: leaf if _is_struct(leaf) else None, value)


def _with_traced(value, tree):
    """``value`` with its structs replaced by the leaves of ``tree`` (a :func:`_structs_only` shape)."""
    leaves, treedef = jax.tree_util.tree_flatten(value)
    traced = jax.tree_util.tree_leaves(tree, is_leaf=lambda x: x is None)
    return treedef.unflatten([t if _is_struct(x) else x for x, t in zip(leaves, traced)])


def _is_jit(fn) -> bool:
    return getattr(fn, "__wrapped__", None) is not None and hasattr(fn, "lower")


def _head(chain: list):
    """What is called past the jit wrappers at the head of ``chain`` (``jax.jit``,
    ``eqx.filter_jit``: a ``__wrapped__`` and a ``lower``). Compiling changes no cost, and a
    jit keys its cache on the function alone: a second trace would reuse the first one's
    tracers of the weights. (A wrapper may make a new object on each ``__wrapped__``, so
    the objects of one walk are compared.)"""
    return next((f for f in chain if not _is_jit(f)), chain[-1])


def _traces(fn, args) -> bool:
    """Whether ``fn`` traces as given. jax caches the trace by function and shapes,
    so the analysis that follows a success does not trace the model again."""
    try:
        jax.eval_shape(fn, *abstractify(args))
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception:
        return False
    return True


def _keys(captured: list[Captured]) -> list[str]:
    """One name per captured value: holders of the same object share it, others differ."""
    keys, by_value = [], {}
    for c in captured:
        if id(c.value) not in by_value:
            key = c.name
            while key in by_value.values():
                key += "_"
            by_value[id(c.value)] = key
        keys.append(by_value[id(c.value)])
    return keys


def _liftable(chain, captured) -> bool:
    """A partial's arguments or a callable pytree's leaves can be replaced only in what is
    called first (``fn`` past its jit wrappers), not inside another wrapper."""
    head = _head(chain)
    return all(c.holder is head for c in captured if c.rebuilt)


def lift(target):
    """``target`` unchanged, or, if it fails to trace because it computes with
    structs it reaches, a Target taking them as one more parameter argument.

    After a lift the parameters are the lifted weights and the arguments the
    target declared as parameters itself, not argument 0 by default: a
    function closing over the whole model takes only its input.
    """
    from acecost.load.target import Target

    fn = target.fn
    chain = _chain(fn)
    captured = captured_structs(fn, chain)
    if not captured or not _liftable(chain, captured) or _traces(fn, target.args):
        return target
    keys = _keys(captured)
    values = {k: c.value for k, c in zip(keys, captured)}
    single = len(values) == 1
    lifted = _structs_only(captured[0].value) if single else {k: _structs_only(v) for k, v in values.items()}
    n, head = len(target.args), _head(chain)
    in_place = [(c, k) for c, k in zip(captured, keys) if not c.rebuilt]
    in_partial = [(c.key, k) for c, k in zip(captured, keys) if c.rebuilt and c.key is not SELF]
    itself = [k for c, k in zip(captured, keys) if c.key is SELF]

    def with_captured(*args):
        trees = {k: _with_traced(v, args[n] if single else args[n][k]) for k, v in values.items()}
        saved = [c.get() for c, _ in in_place]
        try:
            call = head
            if itself:  # the callable is a pytree of the weights: a new one of the tracers
                call = _with_traced(head, trees[itself[0]])
            elif in_partial:  # a partial's arguments cannot be set: call a new one holding the tracers
                pos, kw = list(head.args), dict(head.keywords)
                for where, k in in_partial:
                    if isinstance(where, int):
                        pos[where] = trees[k]
                    else:
                        kw[where] = trees[k]
                call = functools.partial(_head(_chain(head.func)), *pos, **kw)
            for c, k in in_place:
                c.set(trees[k])
            return call(*args[:n])
        finally:
            for (c, _), value in reversed(list(zip(in_place, saved))):
                c.set(value)

    with_captured._acecost_lifted_from = fn  # the hint still finds the structs if this fails to trace
    declared = target.params_argnums if target.params_declared else ()
    return Target(with_captured, (*target.args, lifted), (*declared, n), name=target.name,
                  description=target.description, loss=target.loss, extras=dict(target.extras))


def hint(fn) -> str:
    """Why ``fn`` may have failed to trace, if it reaches structs (for the error line)."""
    chain = _chain(getattr(fn, "_acecost_lifted_from", fn))
    captured = captured_structs(fn, chain)
    if not captured:
        return ""
    names = ", ".join(dict.fromkeys(c.name for c in captured))
    where = ("from a model file they are lifted for you" if _liftable(chain, captured) else
             "held by a partial or callable inside a wrapper they are not lifted for you")
    return (f" (the function closes over jax.ShapeDtypeStruct leaves in {names}: pass them as an argument; "
            f"{where}, e.g. after eqx.partition(model, eqx.is_array))")
