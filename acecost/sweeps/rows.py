"""A sweep's result table as plain rows: sorted, filtered, printed and written without pandas.

A sweep whose every point is cached answers in a fraction of a second, and
importing pandas alone would take twice that. So the table a sweep returns
is :class:`Rows` (a list of dicts); the ``DataFrame`` is made at the edge
that wants one (:func:`acecost.sweep`, ``.parquet``, the plots). Each column
holds what the frame's column would (:func:`plain`): counts as ``int``,
``cpu64`` as ``int`` unless a value has a fraction, seconds as ``float``, a
parameter's values as given. ``tests/test_sweep_rows.py`` holds the CSV and
JSON lines written here to pandas' own from the same rows.
"""
from __future__ import annotations

import csv
import datetime
import io
import json
import math
from dataclasses import dataclass, field

from acecost.errors import AcecostError
from acecost.metrics import TOTALS as METRIC_TOTALS

#: a column per total of the table of metrics, in the report's order, then weight preparation and completeness
TOTALS = (*METRIC_TOTALS, "weight_prep_ops", "complete")
RESULT_COLUMNS = (*TOTALS, "warnings", "seconds", "cached", "error")
#: columns of whole numbers (nullable ``Int64`` in the frame)
COUNT_COLUMNS = (*(k for k, m in METRIC_TOTALS.items() if k != "cpu64" and m.kind != "time"),
                 "weight_prep_ops", "warnings")
#: columns of seconds (``float64``; empty without ``--hardware``)
TIME_COLUMNS = tuple(k for k, m in METRIC_TOTALS.items() if m.kind == "time")


def missing(value) -> bool:
    """An empty cell: None, or a float NaN (a table read back from a file)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass
class Rows:
    """The table: ``parameters`` (the space's names, in order), then :data:`RESULT_COLUMNS`, each
    row's cells already as its column holds them (:meth:`of` makes them so)."""

    parameters: list[str]
    rows: list[dict] = field(default_factory=list)

    @classmethod
    def of(cls, parameters: list[str], rows: list[dict]) -> "Rows":
        """The table of a sweep's rows (:func:`acecost.sweeps.table.row`): cells as the columns hold them."""
        return cls(list(parameters), plain(rows, parameters))

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def columns(self) -> list[str]:
        return [*self.parameters, *RESULT_COLUMNS]

    def column(self, name: str) -> list:
        return [r.get(name) for r in self.rows]

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["error"] is not None]

    def take(self, indices) -> "Rows":
        """Some rows, their cells as they are (a cpu64 column of fractions stays float where the rows
        kept are whole)."""
        return Rows(self.parameters, [self.rows[i] for i in indices])

    def sorted_by(self, key: tuple[str, bool] | None) -> "Rows":
        """Stable sort on one column, empty cells last; a column of numbers and text sorts as text."""
        if key is None:
            return self
        name, descending = key
        full = [i for i, r in enumerate(self.rows) if not missing(r.get(name))]
        empty = [i for i, r in enumerate(self.rows) if missing(r.get(name))]
        try:
            full.sort(key=lambda i: self.rows[i][name], reverse=descending)
        except TypeError:
            full.sort(key=lambda i: str(self.rows[i][name]), reverse=descending)
        return self.take(full + empty)

    def pareto(self, x: str, y: str) -> "Rows":
        """Rows not dominated in (x, y), both lower-is-better; failed points drop out (:func:`front`)."""
        ok = [i for i, r in enumerate(self.rows)
              if r["error"] is None and not missing(r.get(x)) and not missing(r.get(y))]
        try:
            xs, ys = [float(self.rows[i][x]) for i in ok], [float(self.rows[i][y]) for i in ok]
        except (TypeError, ValueError):
            raise AcecostError(f"--pareto {x},{y}: both columns must hold numbers") from None
        return self.take(ok[k] for k in front(xs, ys))

    def frame(self):
        """The pandas ``DataFrame`` (imports pandas)."""
        return frame(self.rows, self.parameters)

    def csv(self) -> str:
        """The table as CSV, as ``DataFrame.to_csv(index=False)`` writes it."""
        if any(isinstance(r.get(p), datetime.datetime) for r in self.rows for p in self.parameters):
            # a column of TOML date-times: pandas' own format (a date alone when every one is midnight)
            return self.frame().to_csv(index=False, lineterminator="\n")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for r in self.rows:
            writer.writerow([_csv_cell(r.get(c)) for c in self.columns])
        return out.getvalue()

    def jsonl(self) -> str:
        """One JSON object per row, keys in column order; empty cells are null."""
        return "".join(json_line({c: r.get(c) for c in self.columns}) for r in self.rows)


def front(xs: list[float], ys: list[float]) -> list[int]:
    """Indices (ascending) of the points not dominated in (x, y), both lower-is-better.

    A point is dominated when another costs no more on both and strictly less
    on one; equal points do not dominate each other, so both stay.
    """
    order = sorted(range(len(xs)), key=lambda i: (xs[i], ys[i]))
    keep, best_y, last = [], math.inf, None
    for i in order:
        xi, yi = xs[i], ys[i]
        if yi < best_y or (xi, yi) == last:
            keep.append(i)
            if yi < best_y:
                best_y, last = yi, (xi, yi)
    return sorted(keep)


def frame(rows: list[dict], names: list[str]):
    """The DataFrame of ``rows``; ``names`` are the parameter columns."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=[*names, *RESULT_COLUMNS])
    for name in names:  # 16 stays 16 beside 0.5: a mixed column keeps each value as given
        values = [r.get(name) for r in rows]
        if len({type(v) for v in values if v is not None}) > 1:
            df[name] = pd.Series(values, dtype=object, index=df.index)
    for name in COUNT_COLUMNS:
        df[name] = df[name].astype("Int64")
    for name in TIME_COLUMNS:  # seconds; empty without --hardware
        df[name] = df[name].astype("float64")
    cpu = df["cpu64"].dropna()
    df["cpu64"] = df["cpu64"].astype("Int64" if all(float(v).is_integer() for v in cpu) else "float64")
    df["complete"] = df["complete"].astype("boolean")
    df["cached"] = df["cached"].astype(bool)
    df["error"] = df["error"].astype(object).where(df["error"].notna(), None)
    df.attrs["parameters"] = list(names)
    return df


def plain(rows: list[dict], parameters: list[str]) -> list[dict]:
    """Each cell as the frame's column holds it: whole counts as ``int``, seconds as ``float``, cpu64
    as ``int`` unless one value has a fraction (then every value ``float``), empty cells None."""
    cpu = [r.get("cpu64") for r in rows if not missing(r.get("cpu64"))]
    cpu_whole = all(float(v).is_integer() for v in cpu)
    out = []
    for r in rows:
        cells = {name: None if missing(r.get(name)) else r.get(name) for name in parameters}
        for name in RESULT_COLUMNS:
            v = r.get(name)
            if missing(v):
                cells[name] = None if name != "cached" else False
            elif name in COUNT_COLUMNS:
                cells[name] = int(v)
            elif name in TIME_COLUMNS:
                cells[name] = float(v)
            elif name == "cpu64":
                cells[name] = int(v) if cpu_whole else float(v)
            elif name in ("complete", "cached"):
                cells[name] = bool(v)
            else:
                cells[name] = v
        out.append(cells)
    return out


def _csv_cell(value) -> str:
    return "" if value is None else str(value)  # a float's str is its shortest repr, as pandas writes it


def iso_dates(value):
    """JSON for a TOML date, time or date-time (a space file's): ISO 8601 text."""
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(f"a {type(value).__name__} cannot be written as JSON")


def json_line(record: dict) -> str:
    return json.dumps(record, default=iso_dates, allow_nan=False) + "\n"
