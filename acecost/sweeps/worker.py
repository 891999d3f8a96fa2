"""What runs where a point is priced: the model is imported once per process.

Functions here are what an executor sends to a worker process (a local
pool's or a Dask worker's); they return plain, picklable dicts. A point
that fails returns its one-line error instead of raising, so a bad point
never stops a sweep.
"""
from __future__ import annotations

import collections
import contextlib
import json
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
    #: the sweep it belongs to: points share traces and walks within one sweep only
    run: str = ""


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
    """Price one point; ``report`` is its :func:`point_report`, or ``error`` says why not."""
    start = time.perf_counter()
    report, error, files = None, None, None
    try:
        model = loaded(spec)
        # what the model prints must not land in the table; what it imports keys its cache entry
        with contextlib.redirect_stdout(sys.stderr), sources.recording(model.sources):
            result = reused(model, task)
        result.meta["target"] = spec.label
        result.meta["params"] = dict(task.params)
        report = point_report(result)
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


# ------------------------------------------------------------ reuse of a walk
#
# Points that differ only in options that leave the jaxpr unchanged share one trace, and
# those that differ only in options a walk's records can be priced again under share one
# walk (each option's ``reuse`` in acecost.options.OPTIONS). Kept per process: a worker
# that gets several points of one model traces it once.

#: graphs (traces) and walks kept in this process, the most recent last
_TRACES: collections.OrderedDict = collections.OrderedDict()
_WALKS: collections.OrderedDict = collections.OrderedDict()
#: how many of each are kept (a large model's jaxpr and report are tens of MB)
KEPT = 4


def _key(*parts) -> str:
    return json.dumps(parts, sort_keys=True, default=repr)


def _keep(store: collections.OrderedDict, key, value):
    store[key] = value
    store.move_to_end(key)
    while len(store) > KEPT:
        store.popitem(last=False)
    return value


def graph_key(task: Task) -> str:
    """What a point's trace depends on: its parameters, build options and the options traced again."""
    from acecost.options import RETRACE, by_reuse

    return _key(task.params, task.build, by_reuse(task.analysis)[RETRACE])


def graph_count(tasks: list[Task]) -> int:
    """How many traces ``tasks`` need: more processes than that only trace the same graphs again."""
    return len({graph_key(t) for t in tasks})


def reused(model: LoadedModel, task: Task):
    """The report of ``task``: re-priced from a walk of the same graph where that is exact,
    else the graph's trace walked again, else built and traced (docs/sweep.md, "Reuse")."""
    from acecost.api import analyze_target, trace_target, walk_traced
    from acecost.load.target import validate
    from acecost.options import REPRICE, REWALK, by_reuse
    from acecost.report.reprice import NotRepriceable

    kinds = by_reuse(task.analysis)
    kwargs = {OPTION[k].api_name if k in OPTION else k: v for k, v in task.analysis.items()}  # bits -> overrides
    graph = (task.run, id(model), graph_key(task))
    walk = (graph, _key(kinds[REWALK]))
    kept = _TRACES.get(graph)
    if kept is None or kept[0] is not model:  # the model object too: an edited file is imported anew
        target = model.build(task.params, task.build)
        validate(target)
        kept = _keep(_TRACES, graph, (model, trace_target(target) if kwargs.get("mode", "inference") == "inference"
                                      else target))  # a training step is traced in two parts: traced again
        _WALKS.pop(walk, None)
    traced = kept[1]
    walked = _WALKS.get(walk)
    if walked is None:
        # walked with every re-priced option at its default: what ``Report.reprice`` takes (by the
        # options' names) sets them per point
        repriced = {OPTION[k].api_name for k in kinds[REPRICE]}
        base = {k: v for k, v in kwargs.items() if k not in repriced}
        walked = _keep(_WALKS, walk, _walk(traced, base, walk_traced, analyze_target))
    try:
        return walked.reprice(**kinds[REPRICE])
    except NotRepriceable:
        return _walk(traced, kwargs, walk_traced, analyze_target)


def _walk(traced, kwargs: dict, walk_traced, analyze_target):
    if hasattr(traced, "closed"):
        return walk_traced(traced, **{k: v for k, v in kwargs.items() if k != "mode"})
    return analyze_target(traced, **kwargs)


def point_report(report) -> dict:
    """What a sweep keeps of a point's report: everything but its per-layer and per-parameter
    detail (a ResNet-50's layers and parameters make it 70 kB and take 8 ms to write)."""
    from dataclasses import asdict

    from acecost.report.model import SCHEMA_VERSION

    return {"schema_version": SCHEMA_VERSION, "meta": dict(report.meta), "totals": asdict(report.totals),
            "warnings": list(report.warnings), "unsupported": list(report.unsupported),
            "loops": list(report.loops), "branches": list(report.branches),
            **({"phases": dict(report.phases)} if report.phases else {})}
