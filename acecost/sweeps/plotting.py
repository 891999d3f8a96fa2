"""Sweep tables as ``acecost plot`` inputs: accuracies joined on the parameter columns.

The accuracy file has one row per trained point, keyed by the sweep's own
parameter columns (``width,abits,top1``), so nobody has to invent a name
per point. Points with no accuracy are left out (and counted in a
warning); a point is named by its parameters, ``width=0.5 abits=2``.

A table records a point's input only where the sweep varied it: an
``input_shape`` column (a Flax Module's input) or a ``resolution`` column (a
zoo family's RGB images, ``resolution``^2). Those points are held against
the reference's input size as an analysis' ``meta.input_shapes`` is
(:mod:`acecost.figures.comparable`); the points of a table without either
column have no recorded input, and ``acecost plot`` says so after its verdict.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from acecost.errors import AcecostError
from acecost.sweeps import table


def is_sweep_table(arg: str) -> bool:
    return Path(arg).suffix.lower() in table.FORMATS


def sweep_points(inputs, accuracy_file: str | None, accuracies, accuracy_column: str,
                 warn: Callable[[str], None]):
    """The plot points of the sweep tables among ``inputs``; None when there are none."""
    tables = [i for i in inputs if is_sweep_table(i)]
    if not tables:
        return None
    if len(tables) != len(inputs):
        raise AcecostError("plot either sweep tables or analyses, not both in one figure")
    if accuracies:
        raise AcecostError("a sweep table takes its accuracies from --accuracy-file, joined on its parameter columns")
    if accuracy_file is None:
        raise AcecostError("no accuracies: give --accuracy-file with the sweep's parameter columns and "
                           f"{accuracy_column!r}")
    acc = _read_accuracies(accuracy_file)
    if accuracy_column not in acc.columns:
        raise AcecostError(f"{accuracy_file}: no column {accuracy_column!r} (columns: {', '.join(acc.columns)}); "
                           "choose one with --accuracy-column")
    from acecost.cli.plot_inputs import accuracy_and_unit, one_unit
    from acecost.figures.pareto_plot import ModelPoint

    points, units = [], []
    for path in tables:
        df = table.read(path)
        params = df.attrs["parameters"]
        keys = [c for c in params if c in acc.columns]
        if not keys:
            raise AcecostError(f"{accuracy_file} has no parameter column of {path} ({', '.join(params)}); "
                               f"give one row per point with those columns and {accuracy_column!r}")
        if acc.duplicated(keys).any():
            raise AcecostError(f"{accuracy_file}: two rows for the same {', '.join(keys)}")
        ok = df[df["error"].isna()]
        try:
            joined = ok.merge(acc[[*keys, accuracy_column]], on=keys, how="inner", suffixes=("", "_accuracy"))
        except (ValueError, TypeError) as exc:
            raise AcecostError(f"cannot join {accuracy_file} to {path} on {', '.join(keys)}: {exc}") from None
        column = accuracy_column if accuracy_column not in df.columns else f"{accuracy_column}_accuracy"
        prefix = f"{Path(path).stem}: " if len(tables) > 1 else ""
        warn(f"{len(joined)} of {len(df)} sweep points have an accuracy in {accuracy_file} "
             f"(joined on {', '.join(keys)})")
        for rec in joined.to_dict("records"):
            name = prefix + " ".join(f"{p}={rec[p]}" for p in params)
            totals = {k: rec[k] for k in table.TOTALS if k in rec}
            totals["complete"] = bool(totals.get("complete", True))
            where = f"{accuracy_file} ({name})"
            value, unit = accuracy_and_unit(rec[column], where)
            units.append((where, str(rec[column]).strip(), unit))
            points.append(replace(ModelPoint.from_report(name, totals, value),
                                  input_shapes=_recorded_input(rec, params)))
    one_unit(units)  # 0.7 beside 70 would draw one of them 100x off
    if not points:
        raise AcecostError(f"no sweep point has an accuracy in {accuracy_file}")
    return points


def _recorded_input(rec: dict, params: list[str]) -> tuple[tuple[int, ...], ...] | None:
    """The point's input shapes, where the table's parameter columns say them; None where they do not."""
    import pandas as pd

    from acecost.errors import ConfigError
    from acecost.options import parse_input_shape, parse_resolution

    try:
        if "input_shape" in params and not _missing(rec.get("input_shape"), pd):
            return (parse_input_shape(rec["input_shape"]),)
        if "resolution" in params and not _missing(rec.get("resolution"), pd):
            value = rec["resolution"]
            r = parse_resolution(int(value) if isinstance(value, float) and value.is_integer() else value)
            return ((r, r, 3),)
    except (ConfigError, TypeError, ValueError):  # a model's own parameter of that name, not a shape
        return None
    return None


def _missing(value, pd) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a list (a JSON-lines shape) is not missing
        return False


def _read_accuracies(path: str):
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise AcecostError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
