"""A sweep table as lines: metrics against one numeric parameter, a line per value of the others.

``acecost plot sweep.csv --x L --y ace`` draws what :func:`sweep_lines`
returns (:mod:`acecost.figures.sweep_plot`). The metrics are the table of
metrics' (:data:`acecost.metrics.TABLE`) whose column the table holds, so a
metric added there is drawable as soon as the sweep writes its column.

Values are kept raw (one MAC, one bit, one second) as the table holds them;
the figure chooses the unit its axis is written in. A failed point (its
``error`` cell set) and a point whose metric is unknown (an empty cell) are
left out and counted, never drawn as 0.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from acecost.errors import AcecostError
from acecost.metrics import TABLE, Metric, by_name


@dataclass(frozen=True)
class Line:
    """The points of one value of the ``by`` parameters, sorted by x; per metric, those it knows."""

    label: str  # "batch=2 abits=4"; "" when no other parameter varies
    values: tuple  # the by parameters' values, in ``by`` order
    points: dict[str, tuple[list[float], list[float]]]  # metric key -> (xs, ys), raw units


@dataclass(frozen=True)
class SweepLines:
    """What a cost-against-parameter figure draws, and what it left out."""

    source: str  # the table's file, for the caption
    x: str
    metrics: list[Metric]
    by: list[str]
    lines: list[Line]
    fixed: dict[str, object] = field(default_factory=dict)  # parameters with one value in the table
    rows: int = 0
    failed: int = 0
    unknown: dict[str, int] = field(default_factory=dict)  # metric key -> points with an empty cell
    incomplete: int = 0  # drawn points whose analysis is a lower bound


def drawable(columns) -> dict[str, Metric]:
    """The metrics of the table of metrics whose column ``columns`` holds, by key."""
    return {k: m for k, m in TABLE.items() if m.totals_key and m.totals_key in columns}


def plain(value):
    """A cell as a Python value: numpy scalars unwrapped, missing as None."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict, str)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # a list or array cell is not missing
        pass
    return value


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _parses(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _text(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _varying(df, params: list[str]) -> list[str]:
    return [p for p in params if len({repr(plain(v)) for v in df[p]}) > 1]


def _pick_x(df, path: str, x: str | None, params: list[str]) -> str:
    shown = ", ".join(params) or "none"
    if x is None:
        varying = _varying(df, params)
        if len(varying) != 1:
            raise AcecostError(f"give --x PARAM, the parameter for the horizontal axis "
                               f"({'varying' if varying else 'parameters'}: {', '.join(varying) or shown})")
        return varying[0]
    if x in params:
        return x
    if x in df.columns:
        raise AcecostError(f"--x {x!r} is a result column of {path}; with --y, --x names a parameter "
                           f"(parameters: {shown})")
    raise AcecostError(f"{path}: no parameter column {x!r} (parameters: {shown})")


def _pick_metrics(df, path: str, ys: list[str]) -> list[Metric]:
    have = drawable(df.columns)
    out: list[Metric] = []
    for key in ys:
        m = by_name(key.strip().lower()) or by_name(key.strip())
        if m is None:
            raise AcecostError(f"unknown --y {key!r}; use one of {', '.join(have)}")
        if not m.totals_key:
            raise AcecostError(f"--y {key}: {m.name} is not a total of a report, so no sweep table holds it; "
                               f"use one of {', '.join(have)}")
        if m.key not in have:
            raise AcecostError(f"{path}: no column {m.totals_key!r} for --y {key} "
                               f"(metrics in the table: {', '.join(have)})")
        if m in out:
            raise AcecostError(f"--y names {m.key} twice")
        out.append(m)
    if not out:
        raise AcecostError(f"--y is empty; give metrics from {', '.join(have)}")
    return out


def _pick_by(df, path: str, x: str, by: list[str] | None, params: list[str]) -> list[str]:
    if by is None:
        return [p for p in _varying(df, params) if p != x]
    for p in by:
        if p == x:
            raise AcecostError(f"--by {p} is the --x parameter; lines are drawn per value of another one")
        if p not in params:
            raise AcecostError(f"{path}: no parameter column {p!r} for --by (parameters: {', '.join(params)})")
    if len(set(by)) != len(by):
        raise AcecostError(f"--by names a parameter twice ({', '.join(by)})")
    return list(by)


def _sort_key(values: tuple):
    """Lines in the order of their values: numbers by size, before text."""
    return tuple((0, float(v), "") if _is_number(v) else (1, 0.0, _text(v)) for v in values)


def sweep_lines(df, path: str, x: str | None, ys: list[str], by: list[str] | None = None) -> SweepLines:
    """The lines of ``df`` (a table from :func:`acecost.sweeps.table.read`); one-line errors for
    a table, column or parameter that cannot be drawn."""
    if len(df) == 0:
        raise AcecostError(f"{path}: the sweep table has no rows")
    metric_columns = {m.totals_key for m in drawable(df.columns).values()}
    # a column of the table of metrics is a result, never a parameter, whatever the table's reader took it for
    params = [p for p in df.attrs.get("parameters") or [] if p not in metric_columns]
    metrics = _pick_metrics(df, path, ys)
    x = _pick_x(df, path, x, params)
    by = _pick_by(df, path, x, by, params)
    failed = df["error"].map(plain).notna()
    ok = df[~failed]
    if ok.empty:
        raise AcecostError(f"{path}: all {len(df)} points failed (see its error column); nothing to draw")
    rows = ok.to_dict("records")
    bad = [plain(rec[x]) for rec in rows if not _is_number(plain(rec[x]))]
    if bad:  # a CSV column with one text cell is read as text throughout: name the cell that is not a number
        v = next((b for b in bad if not _parses(b)), bad[0])
        what = "an empty cell" if v is None else repr(v)
        raise AcecostError(f"--x {x}: {path} holds {what} in it, not a number; --x needs a numeric "
                           f"parameter (draw {x} as lines with --by {x})")
    groups: dict[tuple, list[dict]] = {}
    for rec in rows:
        groups.setdefault(tuple(plain(rec[p]) for p in by), []).append(rec)
    unknown = {m.key: 0 for m in metrics}
    lines = []
    for values in sorted(groups, key=_sort_key):
        recs = sorted(groups[values], key=lambda r: float(plain(r[x])))
        label = " ".join(f"{p}={_text(v)}" for p, v in zip(by, values))
        for a, b in zip(recs, recs[1:]):
            if float(plain(a[x])) == float(plain(b[x])):
                differ = [p for p in params if p != x and repr(plain(a[p])) != repr(plain(b[p]))]
                where = f" on the line {label}" if label else ""
                raise AcecostError(
                    f"two points at {x}={_text(plain(a[x]))}{where}: "
                    + (f"they differ in {', '.join(differ)}; add it to --by" if differ
                       else f"{path} holds the same point twice"))
        points = {}
        for m in metrics:
            xs, ys_ = [], []
            for r in recs:
                v = plain(r[m.totals_key])
                if v is None:
                    unknown[m.key] += 1
                    continue
                xs.append(float(plain(r[x])))
                ys_.append(float(v))
            points[m.key] = (xs, ys_)
        lines.append(Line(label, values, points))
    for m in metrics:
        if not any(line.points[m.key][0] for line in lines):
            raise AcecostError(f"{path}: no point has a {m.key} value (its {m.totals_key!r} column is empty)")
    varying = _varying(df, params)
    fixed = {p: plain(df[p].iloc[0]) for p in params if p not in by and p != x and p not in varying}
    incomplete = int(sum(1 for r in rows if plain(r.get("complete")) is False))
    return SweepLines(path, x, metrics, by, lines, fixed, len(df), int(failed.sum()),
                      {k: n for k, n in unknown.items() if n}, incomplete)
