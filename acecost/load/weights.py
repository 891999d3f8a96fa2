"""Concrete weights from a checkpoint (``--weights FILE``) or a mapping given in Python.

The engine reads them as a read-only ``Mapping[str, numpy.ndarray]`` keyed
by parameter path (the paths ``acecost analyze`` prints, ``params/fc1/kernel``).
A checkpoint's mapping reads a tensor from disk on each lookup and keeps
nothing, so a pass over a large checkpoint holds one tensor at a time.
(Parameters the model itself gives as arrays are gathered by
:func:`acecost.load.trace.concrete_params`.)

A checkpoint key names the parameter of the same path. When every parameter
path starts with the same first part (``params/`` of a Flax variables dict)
and no key does, the keys are read under it: a file of ``fc1/kernel`` keys
(``flax.serialization.to_bytes(params)``) fills ``params/fc1/kernel``; and
the other way round, keys that all start with a first part no parameter has
(``{"params": ...}`` saved for a model of bare ``fc1/kernel``) are read
without it. Every parameter needs a key and every key a parameter, of the
same shape and the same dtype; the one exception is a ``.npz`` member stored
as raw bytes (``|V2``: numpy's way of saving bfloat16), read as the
parameter's narrow float dtype of the same width.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any, Iterator

import jax
import numpy as np

from acecost.errors import ConfigError
from acecost.load.checkpoints import Checkpoint, Tensor, open_checkpoint
from acecost.load.trace import path_str

__all__ = ["Weights", "ArrayWeights", "open_checkpoint", "bind", "digest"]


class Weights(Mapping):
    """Parameter path -> its array, read from the checkpoint at each lookup (never cached)."""

    def __init__(self, checkpoint: Checkpoint, keys: dict[str, str], dtypes: dict[str, np.dtype]):
        self.checkpoint = checkpoint
        self._keys = keys  # parameter path -> checkpoint key
        self._dtypes = dtypes

    @property
    def source(self) -> str:
        return f"{self.checkpoint.path} ({self.checkpoint.format})"

    def __getitem__(self, path: str) -> np.ndarray:
        key = self._keys[path]
        array = self.checkpoint.read(key)
        if array.dtype != self._dtypes[path]:  # raw bytes of a narrow float (npz's |V2 bfloat16)
            array = array.view(self._dtypes[path])
        array.flags.writeable = False
        return array

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"<Weights {len(self)} parameters from {self.source}>"


class ArrayWeights(Mapping):
    """Parameter path -> a read-only view of an array the model itself holds."""

    source = "the model's arrays"

    def __init__(self, arrays: dict[str, Any]):
        self._arrays = arrays

    def __getitem__(self, path: str) -> np.ndarray:
        view = np.asarray(self._arrays[path]).view()
        view.flags.writeable = False
        return view

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def __repr__(self) -> str:
        return f"<ArrayWeights {len(self)} parameters>"


def _where(source: Checkpoint | str) -> str:
    return source.path if isinstance(source, Checkpoint) else source


def _shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _same_dtype(stored: np.dtype, wanted: np.dtype) -> bool:
    if stored == wanted:
        return True
    # numpy saves ml_dtypes' bfloat16 and float8 as raw bytes ('|V2'): the same width reads as them
    narrow = type(wanted).__module__.startswith("ml_dtypes") or wanted.type.__module__.startswith("ml_dtypes")
    return stored.kind == "V" and stored.fields is None and stored.itemsize == wanted.itemsize and narrow


def _prefix(names: list[str], others: list[str]) -> str:
    """The first part every one of ``names`` has and none of ``others`` has (``params/``), else ''."""
    firsts = {n.split("/", 1)[0] for n in names}
    if len(firsts) != 1 or not all("/" in n for n in names):
        return ""
    first = firsts.pop() + "/"
    return first if others and not any(o.startswith(first) for o in others) else ""


def bind(source: Checkpoint | Mapping, leaves, label: str | None = None) -> Mapping:
    """The parameters of ``leaves`` (``trace.Leaf``) from ``source`` (a checkpoint, or a mapping of
    arrays given in Python), checked: a missing or extra key, or a shape or dtype that differs from
    the model's, is one error naming the key."""
    params = {lf.path: lf for lf in leaves if lf is not None and lf.is_param}
    if isinstance(source, Checkpoint):
        where, entries = f"weights {source.path}", dict(source.tensors)
    else:
        where = label or "weights"
        entries, values = {}, {}
        # flat ({"fc1/kernel": w}) or nested ({"fc1": {"kernel": w}}): a pytree's paths either way
        for keys, value in jax.tree_util.tree_flatten_with_path(dict(source))[0]:
            key = path_str(keys)
            shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
            entries[key] = Tensor(tuple(shape), np.dtype(dtype)) if shape is not None and dtype is not None \
                else Tensor(None, None, what=type(value).__name__)
            values[key] = value
    add = _prefix(list(params), list(entries))  # keys without the parameters' common first part
    strip = "" if add else _prefix(list(entries), list(params))  # or keys under one more
    keys: dict[str, str] = {}
    by_path = {add + k[len(strip):]: k for k in entries}
    for path, leaf in params.items():
        key = by_path.get(path)
        if key is None:
            raise ConfigError(f"{where}: no key '{strip}{path[len(add):]}' for the parameter {path} "
                              f"({leaf.dtype.name}{_shape(leaf.shape)})")
        t = entries[key]
        if t.shape is None:
            raise ConfigError(f"{where}: '{key}' holds {t.what or 'no array'}, not the array of the parameter "
                              f"{path} ({leaf.dtype.name}{_shape(leaf.shape)})")
        if t.shape != tuple(leaf.shape):
            raise ConfigError(f"{where}: '{key}' has shape {_shape(t.shape)}; the parameter {path} has "
                              f"{_shape(leaf.shape)}")
        if not _same_dtype(t.dtype, np.dtype(leaf.dtype)):
            raise ConfigError(f"{where}: '{key}' is {t.dtype.name}; the parameter {path} is {leaf.dtype.name} "
                              "(the dtypes must match: convert the file or give the model that dtype)")
        keys[path] = key
    extra = [k for k in entries if add + k[len(strip):] not in params]
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise ConfigError(f"{where}: key '{extra[0]}'{more} names no parameter of the model "
                          f"(its {len(params)} parameters are named like '{next(iter(params), '')}')")
    if isinstance(source, Checkpoint):
        return Weights(source, keys, {p: np.dtype(lf.dtype) for p, lf in params.items()})
    return ArrayWeights({p: values[k] for p, k in keys.items()})


_DIGESTS: dict[tuple, str] = {}


def digest(path: str) -> str:
    """sha256 of a checkpoint file, or of an Orbax directory's files (names and contents), kept per
    (path, size, modification time) for the life of the process."""
    p = os.path.abspath(path)
    files = [p] if not os.path.isdir(p) else sorted(
        os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs)
    try:
        stamp = (p, *((f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files))
    except OSError as e:
        raise ConfigError(f"weights {path}: cannot read: {e.strerror or e}") from None
    if stamp not in _DIGESTS:
        h = hashlib.sha256()
        for f in files:
            h.update(os.path.relpath(f, p).encode())
            with open(f, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
        _DIGESTS[stamp] = h.hexdigest()
    return _DIGESTS[stamp]
