"""What runs where a point is priced: the model is imported once per process.

Functions here are what an executor sends to a worker process (a local
pool's or a Dask worker's); they return plain, picklable dicts. A point
that fails returns its one-line error instead of raising, so a bad point
never stops a sweep.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from acecost.errors import AcecostError
from acecost.sweeps.model import LoadedModel, ModelSpec

_LOADED: dict = {}
_POOL_SPEC: ModelSpec | None = None


@dataclass(frozen=True)
class Task:
    """One point to price: the model's parameters and the options of both stages."""

    index: int
    params: dict
    build: dict
    analysis: dict


def loaded(spec: ModelSpec) -> LoadedModel:
    """The model of ``spec``, imported on first use in this process."""
    key = (spec.spec, spec.entry, spec.files, spec.fn)
    if key not in _LOADED:
        _LOADED[key] = LoadedModel(spec)
    return _LOADED[key]


def init_pool(spec: ModelSpec) -> None:
    """Process-pool initializer: import jax, acecost and the model before the first point."""
    global _POOL_SPEC
    import acecost.api  # noqa: F401  (jax comes with it)

    _POOL_SPEC = spec
    try:
        loaded(spec)
    except Exception:  # noqa: BLE001 - each point reports it
        pass


def price_in_pool(task: Task) -> dict:
    return price(_POOL_SPEC, task)


def price(spec: ModelSpec, task: Task) -> dict:
    """Build and analyse one point; ``report`` is ``Report.to_dict()``, or ``error`` says why not."""
    from acecost.api import analyze_target

    start = time.perf_counter()
    report, error = None, None
    try:
        target = loaded(spec).build(task.params, task.build)
        kwargs = dict(task.analysis)
        if "bits" in kwargs:
            kwargs["overrides"] = kwargs.pop("bits")
        result = analyze_target(target, **kwargs)
        result.meta["target"] = spec.label
        result.meta["params"] = dict(task.params)
        report = result.to_dict()
    except AcecostError as exc:
        error = str(exc)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the model's own code, reported per point
        text = str(exc).strip()
        error = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
    return {"index": task.index, "report": report, "error": error,
            "seconds": round(time.perf_counter() - start, 6)}
