"""Cost every point of a design space: ``acecost.sweep`` and ``acecost sweep``.

``space`` parses grids, space files and samples; ``model`` builds one
point's target; ``worker`` prices it; ``executors`` run points here, in a
process pool or on a Dask cluster; ``cache`` keeps each point's report
(``plan``: what a fully cached sweep needs); ``rows`` holds the result table
without pandas, ``table`` its files and the ``DataFrame``.
"""
from __future__ import annotations

from typing import Any, Callable

from acecost.errors import AcecostError


def sweep(model: str | Callable, grid: dict | list | None = None, *, points: list[dict] | None = None,
          space: str | None = None, sample: int | None = None, seed: int = 0, jobs: int | None = None,
          executor: str | None = None, cache: bool = True, cache_dir: str | None = None,
          entry: str | None = None, pareto: tuple[str, str] | bool | None = None, **options: Any):
    """Price every point of a design space; one row per point as a :class:`pandas.DataFrame`.

    ``model`` is a model file, ``pkg.module:attr``, ``zoo:NAME`` (the
    families ``zoo:pokebnn`` and ``zoo:resnet50`` take ``width`` and
    ``abits``/``wbits``), or a callable taking the parameters as keywords
    and returning ``(fn, args)`` or a :class:`acecost.Target`. ``grid`` maps
    a name to its values (or is a list of ``'name=v1,v2'`` strings);
    ``points`` lists explicit points; ``space`` names a TOML/JSON space
    file. A name that is not a parameter of the model but an option
    (``float_bits``, ``bits``, ``mode``, ``batch``, ...) varies that option;
    ``options`` fix options for every point. ``jobs`` (default: CPU count
    for a target string, 1 for a callable) or ``executor`` (``"dask://HOST:PORT"``)
    say where points run. A failed point is a row with its ``error``.
    ``df.attrs`` holds ``parameters`` and the counts ``computed``,
    ``cached`` and ``failed``.
    """
    from acecost.sweeps.cache import Cache
    from acecost.sweeps.executors import make_executor
    from acecost.sweeps.model import ModelSpec
    from acecost.sweeps.run import run_sweep
    from acecost.sweeps.space import make_space
    from acecost.sweeps import table

    if callable(model):
        spec = ModelSpec(fn=model)
        jobs = 1 if jobs is None and executor is None else jobs
    elif isinstance(model, str):
        spec = ModelSpec.of(model, entry)
    else:
        raise AcecostError(f"model must be a target string or a callable, got {type(model).__name__}")
    the_space = make_space(grid, space, points)
    runner = make_executor(executor, jobs)
    outcome = run_sweep(spec, the_space, fixed=options, sample=sample, seed=seed, executor=runner,
                        cache=Cache(cache_dir) if cache else None)
    df = outcome.rows.frame()
    if pareto:
        x, y = ("ace", "size_bits") if pareto is True else pareto
        df = table.pareto(df, x, y)
    df.attrs.update(parameters=outcome.parameters, computed=outcome.computed, cached=outcome.cached,
                    failed=outcome.failed)
    return df


__all__ = ["sweep"]
