"""Run a sweep: check every point, serve what the cache has, price the rest.

Everything a user can get wrong (a parameter the model does not take, an
option value, the output path, the executor address) is checked before
the first point is priced, so bad input costs a second and one error line.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from acecost.errors import AcecostError
from acecost.options import cache_defaults
from acecost.sweeps import plan as plans
from acecost.sweeps import table
from acecost.sweeps.cache import Cache, model_identity, point_key
from acecost.sweeps.model import LoadedModel, ModelSpec
from acecost.sweeps.space import BUILD, MAX_POINTS, OPTION_AXES, Space, fixed_axis, group_axis, option_name
from acecost.sweeps.worker import Task, loaded

#: Analysis options every point has unless given (so the cache key names them): from their table.
ANALYSIS_DEFAULTS = cache_defaults()
#: Build options and the kinds of model that use them.
BUILD_USERS = {"resolution": ("family", "zoo"), "batch": ("family", "zoo"),
               "input_shape": ("linen", "discover"), "dtype": ("linen", "discover")}


@dataclass
class Outcome:
    """What a sweep did: the table, and how many points were computed, cached and failed."""

    rows: table.Rows
    computed: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0
    executor: str = ""
    parameters: list[str] = field(default_factory=list)


def split_fixed(fixed: dict) -> tuple[dict, dict]:
    """Options that hold for every point -> (build, analysis); None means 'not given'."""
    build, analysis = dict(), dict(ANALYSIS_DEFAULTS)
    for name, value in fixed.items():
        name = option_name(name)
        if value is None or value == ():
            continue
        axis = fixed_axis(name)
        if axis is None:
            raise AcecostError(f"unknown option {name!r} (options: {', '.join(OPTION_AXES)})")
        value = _checked(axis, name, value)  # a repeatable option's: a list of items
        (build if axis.stage == BUILD else analysis)[name] = value
    return build, analysis


def _repriced(name: str) -> bool:
    """Whether an axis of this name is an option every value of which re-prices one walk (unless the
    model takes a parameter of that name, which only loading it tells)."""
    from acecost.options import OPTION, REPRICE

    opt = option_name(name)
    return bool(group_axis(name)) or opt in OPTION and OPTION[opt].reuse == REPRICE


def _checked(axis, name, value):
    return axis.check(value)  # its error names the option and the value


def classify(model: LoadedModel, names: list[str]) -> dict[str, str]:
    """Each axis name -> 'param' or 'option'; an unknown name is an error."""
    accepted = model.parameters()
    out = {}
    for name in names:
        if group_axis(name):
            out[name] = "option"
        elif accepted is None or name in accepted:
            out[name] = "param"
        elif option_name(name) in OPTION_AXES:
            out[name] = "option"
        else:
            takes = f"takes {', '.join(accepted)}" if accepted else "takes no parameters"
            hint = ""
            if model.kind == "zoo":
                hint = f" (the families {', '.join('zoo:' + f for f in _families())} take parameters)"
            raise AcecostError(f"unknown parameter {name!r}: {model.label} {takes}{hint}; options that can "
                               f"vary: {', '.join(OPTION_AXES)}")
    table.check_columns(names)
    return out


def resolved(params: dict, defaults: dict) -> dict:
    """A point's parameters with the model's defaults filled in: spelling a default out is the same point.

    Only plain defaults (numbers, strings, None and lists of them) are filled in: another object's
    text may change from run to run (``<function relu at 0x...>``) and would defeat the cache."""
    filled = {n: d for n, d in defaults.items() if _plain(d)}
    return {**filled, **params}


def _plain(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, (list, tuple)) and all(_plain(v) for v in value)


def _families():
    from acecost.sweeps.model import ZOO_FAMILIES

    return list(ZOO_FAMILIES)


def make_tasks(model: LoadedModel, points: list[dict], kinds: dict, fixed_build: dict,
               fixed_analysis: dict) -> list[Task]:
    tasks = []
    run = uuid.uuid4().hex  # points of this sweep share traces and walks (worker.reused)
    for i, point in enumerate(points):
        params, build, analysis = {}, dict(fixed_build), dict(fixed_analysis)
        for name, value in point.items():
            if kinds[name] == "param":
                params[name] = value
                continue
            group = group_axis(name)
            opt = group[0] if group else option_name(name)
            axis = OPTION_AXES[opt]
            if group:  # bits[REGEX] = "A,W": the override REGEX=A,W
                value = [f"{group[1]}={v}" for v in (value if isinstance(value, list) else [value])]
            value = _checked(axis, name, value)
            if axis.multiple:  # e.g. bits: a fixed --bits and an axis's overrides all apply
                analysis[opt] = [*analysis.get(opt, []), *value]
            else:
                (build if axis.stage == BUILD else analysis)[opt] = value
        for name in build:
            if model.kind not in BUILD_USERS.get(name, ()):
                raise AcecostError(f"{name} does not apply to {model.label}: "
                                   + ("make it a parameter of the model" if model.kind == "fn" else
                                      "it applies to " + ("zoo models" if name in ("resolution", "batch")
                                                          else "Flax Modules")))
        if analysis.get("weights") is not None and not isinstance(analysis["weights"], str):
            raise AcecostError("a sweep reads its weights from a checkpoint file (its points may be priced in "
                               "other processes): give weights as a path")
        tasks.append(Task(i, params, build, analysis, run))
    return tasks


def keyed(analysis: dict) -> dict:
    """A point's analysis options as its cache key names them: a checkpoint by its contents too,
    so a file rewritten in place is priced again."""
    if analysis.get("weights") is None:
        return analysis
    from acecost.load.weights import digest

    path = analysis["weights"]
    return {**analysis, "weights": {"path": os.path.abspath(path), "sha256": digest(path)}}


def _served(space: Space, sample, seed, cache: Cache, key: str) -> tuple[list, list] | None:
    """The points and their cache entries when a stored plan answers every point, else None."""
    plan = plans.load(cache, key)
    if plan is None or sorted(plan.kinds) != sorted(space.names()):
        return None
    hits = []
    for point_key_ in plan.keys:  # each entry checks the files its model loaded
        hit = cache.get(point_key_)
        if hit is None:
            return None
        hits.append(hit)
    space.as_parameters([n for n in space.names() if plan.kinds[n] == "param"])  # as the full path does
    points = list(space.iter_points(sample, seed))
    return (points, hits) if len(points) == len(hits) else None


def run_sweep(spec: ModelSpec, space: Space, *, fixed: dict | None = None, sample: int | None = None,
              seed: int = 0, executor=None, cache: Cache | None = None,
              on_start: Callable[[int, int], None] | None = None,
              on_result: Callable[[dict], None] | None = None,
              on_model: Callable[[], None] | None = None) -> Outcome:
    """Price the points of ``space`` for ``spec``; see :func:`acecost.sweep` for the options.

    ``on_model`` is called once the cache cannot answer every point, before the model is
    imported (the command line tells its supervisor there, :func:`acecost.cli.child.phase`)."""
    from acecost.sweeps.executors import make_executor

    start = time.perf_counter()
    points: list[dict] = []
    if executor is None or isinstance(executor, (str, int)):
        executor = make_executor(executor if isinstance(executor, str) else None,
                                 executor if isinstance(executor, int) else None)
    # every point cached and its files unchanged: the table from the entries, importing nothing
    key = plans.plan_key(spec, space, fixed, sample, seed) if cache is not None else None
    try:
        served = _served(space, sample, seed, cache, key) if key is not None else None
        if served is not None:
            points, hits = served
            if on_start:
                on_start(len(points), len(points))
            rows = [table.row(point, hit, True) for point, hit in zip(points, hits)]
            return Outcome(table.Rows.of(space.names(), rows), cached=len(points),
                           seconds=time.perf_counter() - start, executor=getattr(executor, "name", ""),
                           parameters=space.names())
        if on_model:
            on_model()
        if hasattr(executor, "prestart"):  # workers import jax while this process imports the model
            # how many points there will be (a model parameter named like an option may add some)
            expected = min(sample, space.size) if sample else space.size if space.size <= MAX_POINTS else 0
            # one graph, however many points, when every axis re-prices: one process traces it
            graphs = 1 if all(_repriced(n) for n in space.names()) else None
            executor.prestart(spec, expected, cached=cache is not None, graphs=graphs)
        with contextlib.redirect_stdout(sys.stderr):  # what the model prints at import is not the table
            model = loaded(spec)  # imports the model here: a broken file fails before any point
        names = space.names()
        kinds = classify(model, names)
        space.as_parameters([n for n in names if kinds[n] == "param"])  # the model's parameter wins
        points = list(space.iter_points(sample, seed))
        fixed_build, fixed_analysis = split_fixed(fixed or {})
        tasks = make_tasks(model, points, kinds, fixed_build, fixed_analysis)
        identity = model_identity(spec) if cache is not None else None
        files = plans.key_files(spec, identity, tasks) if key is not None and identity is not None else None
        defaults = model.parameters() or {}
        results: dict[int, tuple[dict, bool]] = {}
        keys: dict[int, str] = {}
        todo = []
        for task in tasks:
            if identity is not None:
                keys[task.index] = point_key(identity, spec.entry, resolved(task.params, defaults),
                                             {"build": task.build, "analysis": keyed(task.analysis)})
                hit = cache.get(keys[task.index])
                if hit is not None:
                    results[task.index] = (hit, True)
                    continue
            todo.append(task)
        if files is not None and len(keys) == len(tasks):  # what the next run needs to skip all of the above
            plans.store(cache, key, plans.Plan(kinds, [keys[t.index] for t in tasks], files))
        if on_start:
            on_start(len(tasks), len(tasks) - len(todo))
        for result in executor.run(spec, todo):
            i = result["index"]
            results[i] = (result, False)
            if result["error"] is None and i in keys:
                cache.put(keys[i], result)
            if on_result:
                on_result(result)
    finally:
        executor.close()
    rows = [table.row(points[i], *results[i]) for i in range(len(points))]
    result = table.Rows.of(names, rows)
    return Outcome(result, computed=len(todo), cached=len(tasks) - len(todo), failed=len(result.failed),
                   seconds=time.perf_counter() - start, executor=getattr(executor, "name", ""),
                   parameters=names)
