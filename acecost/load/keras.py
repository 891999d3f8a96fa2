"""Keras 3 models (JAX backend) as targets, through ``stateless_call``.

A ``keras.Model`` keeps its weights in variables it reads itself; traced as
a plain function they would be constants, neither sized nor named. Keras'
own JAX idiom passes them in: ``model.stateless_call(trainable_variables,
non_trainable_variables, *inputs)``. The target built here does that with
two dicts keyed by each variable's Keras path (``encoder/dense/kernel``),
so parameters and layers carry Keras' names, and no variable's value is
read: ``stateless_call`` computes from the tracers it is handed.

Keras picks its backend once, when it is first imported, from
``KERAS_BACKEND``: :func:`use_jax_backend` sets it before model code runs.
"""
from __future__ import annotations

import os
import sys

from acecost.errors import TargetError

BACKEND_VARIABLE = "KERAS_BACKEND"


def use_jax_backend() -> None:
    """Make a Keras imported from now on use JAX (acecost traces JAX, nothing else).

    Set before any model code is imported; a Keras already imported keeps its
    backend, which :func:`keras_target` checks.
    """
    if "keras" not in sys.modules:
        os.environ[BACKEND_VARIABLE] = "jax"


def is_keras_model(obj) -> bool:
    """A Keras layer or model instance. Asks only a Keras already imported (costs nothing otherwise)."""
    keras = sys.modules.get("keras")
    layer = getattr(keras, "Layer", None) if keras is not None else None
    return isinstance(layer, type) and isinstance(obj, layer)


def _paths(variables) -> list[str]:
    """Each variable's Keras path, made unique with ``#2``, ``#3`` where two share one."""
    out, seen = [], {}
    for v in variables:
        path = str(getattr(v, "path", None) or getattr(v, "name", "variable"))
        seen[path] = seen.get(path, 0) + 1
        out.append(path if seen[path] == 1 else f"{path}#{seen[path]}")
    return out


def keras_target(model, *inputs, name: str | None = None, training: bool = False):
    """A :class:`acecost.Target` for ``model(*inputs)`` on Keras' JAX backend.

    ``inputs`` are what the model is called with (``jax.ShapeDtypeStruct``,
    arrays, or a dict/list of them, as ``model(...)`` takes them). The
    parameters are the model's trainable and non-trainable variables, named
    by their Keras paths; ``training`` is passed to the call (dropout, batch
    statistics).
    """
    import jax

    from acecost.load.target import Target

    label = name or getattr(model, "name", None) or type(model).__name__
    if not is_keras_model(model):
        raise TargetError(f"{label}: not a Keras layer or model (got {type(model).__name__})")
    backend = sys.modules["keras"].backend.backend()
    if backend != "jax":
        raise TargetError(f"{label}: Keras runs on the {backend!r} backend; acecost traces JAX: set "
                          f"{BACKEND_VARIABLE}=jax before keras is imported")
    if not getattr(model, "built", False):
        raise TargetError(f"{label}: the Keras model is not built: build it (model.build(shape), or one "
                          "symbolic call) before handing it to acecost")
    if not inputs:
        raise TargetError(f"{label}: a Keras model needs its input specs, e.g. (model, "
                          "jax.ShapeDtypeStruct((1, 128), 'int32'))")
    trainable, non_trainable = list(model.trainable_variables), list(model.non_trainable_variables)
    t_paths, n_paths = _paths(trainable), _paths(non_trainable)

    def struct(v):
        return jax.ShapeDtypeStruct(tuple(v.shape), v.dtype)

    def call(trainable_variables, non_trainable_variables, *args):
        outputs, _ = model.stateless_call([trainable_variables[p] for p in t_paths],
                                          [non_trainable_variables[p] for p in n_paths],
                                          *args, training=training)
        return outputs

    args = ({p: struct(v) for p, v in zip(t_paths, trainable)},
            {p: struct(v) for p, v in zip(n_paths, non_trainable)}, *inputs)
    return Target(call, args, params_argnums=(0, 1), name=label,
                  description=f"Keras {type(model).__name__} via stateless_call")


def keras_entry(result, name: str):
    """The target for what ``acecost_model()`` returned when that is a Keras model with its
    inputs, ``(model, inputs)`` or ``Target(model, args)``; None for anything else."""
    from acecost.load.target import Target

    if isinstance(result, Target) and is_keras_model(result.fn):
        return keras_target(result.fn, *result.args, name=result.name or name)
    if isinstance(result, tuple) and len(result) == 2 and is_keras_model(result[0]):
        inputs = result[1] if isinstance(result[1], tuple) else (result[1],)
        return keras_target(result[0], *inputs, name=name)
    return None
