"""What runs where a point is priced: the model is imported once per process.

Functions here are what an executor sends to a worker process (a local
pool's or a Dask worker's); they return plain, picklable dicts. A point
that fails returns its one-line error instead of raising, so a bad point
never stops a sweep.
"""
from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from acecost.errors import AcecostError
from acecost.options import OPTION
from acecost.sweeps import sources
from acecost.sweeps.model import LoadedModel, ModelSpec

_LOADED: dict = {}


@dataclass(frozen=True)
class Task:
    """One point to price: the model's parameters and the options of both stages."""

    index: int
    params: dict
    build: dict
    analysis: dict


def loaded(spec: ModelSpec) -> LoadedModel:
    """The model of ``spec``, imported on first use in this process (again if its sources changed,
    including a module it loaded from outside its directory)."""
    stamp = _stamp(spec)
    key = (spec.spec, spec.entry, spec.files, spec.fn, stamp)
    if key in _LOADED and sources.stale(_LOADED[key].sources):
        sources.forget(_LOADED.pop(key).sources)
    if key not in _LOADED:
        _forget([Path(path) for path, *_ in stamp])
        found: sources.Sources = {}
        with sources.recording(found, before_too=True):
            model = LoadedModel(spec)
        model.sources = found
        _LOADED[key] = model
    return _LOADED[key]


def _stamp(spec: ModelSpec) -> tuple:
    """Modification times of a model file's local sources: an edited file is imported anew."""
    if spec.files or not spec.is_file:
        return ()
    from acecost.sweeps.cache import local_sources

    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in local_sources(Path(spec.spec)))


def _forget(paths: list[Path]) -> None:
    """Drop imported modules named like the model's local sources, so their edits (or another
    directory's file of the same name) are not reused."""
    import sys

    if not paths:
        return
    root = paths[0].parent  # paths[0] is the model file itself
    for path in paths[1:]:
        rel = path.relative_to(root).with_suffix("").parts
        name = ".".join(rel[:-1] if rel[-1] == "__init__" else rel)
        if name and sys.modules.get(name) is not None:
            del sys.modules[name]


def serve(conn, spec: ModelSpec) -> None:
    """A local worker process: import jax and the model, say 'ready', then price what arrives."""
    import acecost.api  # noqa: F401  (jax comes with it)

    try:
        loaded(spec)
    except Exception:  # noqa: BLE001 - each point reports it
        pass
    conn.send("ready")
    while True:
        try:
            task = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if task is None:
            return
        conn.send(price(spec, task))


def price(spec: ModelSpec, task: Task) -> dict:
    """Build and analyse one point; ``report`` is ``Report.to_dict()``, or ``error`` says why not."""
    from acecost.api import analyze_target

    start = time.perf_counter()
    report, error, files = None, None, None
    try:
        from acecost.load.target import validate

        model = loaded(spec)
        # what the model prints must not land in the table; what it imports keys its cache entry
        with contextlib.redirect_stdout(sys.stderr), sources.recording(model.sources):
            target = model.build(task.params, task.build)
            validate(target)
            kwargs = {OPTION[k].api_name: v for k, v in task.analysis.items()}  # bits -> overrides
            result = analyze_target(target, **kwargs)
        result.meta["target"] = spec.label
        result.meta["params"] = dict(task.params)
        report = result.to_dict()
        files = sources.stored(model.sources)
    except AcecostError as exc:
        error = str(exc)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the model's own code, reported per point
        text = str(exc).strip()
        error = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
    return {"index": task.index, "report": report, "error": error,
            "seconds": round(time.perf_counter() - start, 6), "sources": files}
