"""The result table: one row per point, its files, its sort and its Pareto filter.

Parameter columns come first (in the order the space gave them), then the
:data:`RESULT_COLUMNS`. Integer totals use pandas' nullable ``Int64`` so a
failed point is an empty cell, not a float that would round a large count.
"""
from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

from acecost.errors import AcecostError
from acecost.metrics import TOTALS as METRIC_TOTALS, by_name

#: a column per total of the table of metrics, in the report's order, then weight preparation and completeness
TOTALS = (*METRIC_TOTALS, "weight_prep_ops", "complete")
RESULT_COLUMNS = (*TOTALS, "warnings", "seconds", "cached", "error")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def row(params: dict, result: dict, cached: bool) -> dict:
    """A table row from a worker's (or the cache's) result."""
    out = dict(params)
    report = result.get("report")
    totals = report["totals"] if report else {}
    for name in TOTALS:
        out[name] = totals.get(name)
    if report:  # beside the totals: the elementwise work of weight preparation (docs/metrics.md)
        out["weight_prep_ops"] = (totals.get("weight_prep") or {}).get("elementwise_ops", 0)
    out["warnings"] = len(report.get("warnings", [])) if report else None
    out["seconds"] = result.get("seconds")
    out["cached"] = cached
    out["error"] = result.get("error")
    return out


def frame(rows: list[dict], names: list[str]):
    """The DataFrame of ``rows``; ``names`` are the parameter columns."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=[*names, *RESULT_COLUMNS])
    for name in names:  # 16 stays 16 beside 0.5: a mixed column keeps each value as given
        values = [r.get(name) for r in rows]
        if len({type(v) for v in values if v is not None}) > 1:
            df[name] = pd.Series(values, dtype=object, index=df.index)
    for name in (*(k for k, m in METRIC_TOTALS.items() if k != "cpu64" and m.kind != "time"),
                 "weight_prep_ops", "warnings"):
        df[name] = df[name].astype("Int64")
    for name in (k for k, m in METRIC_TOTALS.items() if m.kind == "time"):  # seconds; empty without --hardware
        df[name] = df[name].astype("float64")
    cpu = df["cpu64"].dropna()
    df["cpu64"] = df["cpu64"].astype("Int64" if all(float(v).is_integer() for v in cpu) else "float64")
    df["complete"] = df["complete"].astype("boolean")
    df["cached"] = df["cached"].astype(bool)
    df["error"] = df["error"].astype(object).where(df["error"].notna(), None)
    df.attrs["parameters"] = list(names)
    return df


def output_format(path: str) -> str:
    """The format of ``--output`` from its extension; checked before any point runs."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise AcecostError(f"cannot write {path}: unknown format {Path(path).suffix or '(none)'!r}; "
                           "use .csv, .jsonl or .parquet")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise AcecostError("writing .parquet needs pyarrow: pip install 'acecost[parquet]'") from None
    parent = Path(path).parent
    if not parent.is_dir():
        raise AcecostError(f"cannot write {path}: directory {str(parent)!r} does not exist")
    return fmt


def write(df, path: str) -> None:
    fmt = output_format(path)
    try:
        if fmt == "csv":
            df.to_csv(path, index=False)
        elif fmt == "parquet":
            df.to_parquet(path, index=False)
        else:
            lines = [json_line(record) for record in records(df)]
            with open(path, "w", encoding="utf-8") as fh:
                fh.writelines(lines)
    except OSError as exc:
        raise AcecostError(f"cannot write {path}: {exc.strerror or exc}") from None


def _json_value(v):
    """TOML dates and times (a space file's) are written as ISO 8601 strings, as CSV writes them."""
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    raise TypeError(f"a {type(v).__name__} cannot be written as JSON")


def json_line(record: dict) -> str:
    return json.dumps(record, default=_json_value, allow_nan=False) + "\n"


def check_values(values, path: str) -> None:
    """Every parameter value can be written to ``path``: said before any point is priced."""
    if output_format(path) != "jsonl":
        return
    for v in values:
        try:
            json_line({"value": v})
        except (TypeError, ValueError) as exc:
            raise AcecostError(f"cannot write {path}: parameter value {v!r} is not JSON ({exc})") from None


def records(df) -> list[dict]:
    """Rows as plain Python values (None for missing), for JSON."""
    out = []
    for rec in df.astype(object).to_dict("records"):
        out.append({k: _plain(v) for k, v in rec.items()})
    return out


def _plain(v):
    if v is None:
        return None
    try:
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 53:
        return v
    return v


def read(path: str):
    """A sweep table written by ``acecost sweep --output``."""
    import pandas as pd

    fmt = FORMATS.get(Path(path).suffix.lower())
    try:
        if fmt == "csv":
            df = pd.read_csv(path)
        elif fmt == "jsonl":
            df = pd.read_json(path, lines=True)
        elif fmt == "parquet":
            df = pd.read_parquet(path)
        else:
            raise AcecostError(f"{path}: not a sweep table (.csv, .jsonl or .parquet)")
    except (OSError, ValueError, ImportError) as exc:
        raise AcecostError(f"cannot read sweep table {path}: {exc}") from None
    missing = [c for c in ("macs", "ace", "size_bits", "error") if c not in df.columns]
    if missing:
        raise AcecostError(f"{path}: not a sweep table (no column {', '.join(missing)})")
    df.attrs["parameters"] = [c for c in df.columns if c not in RESULT_COLUMNS]
    return df


def check_columns(names: list[str]) -> None:
    clash = [n for n in names if n in RESULT_COLUMNS]
    if clash:
        raise AcecostError(f"parameter {clash[0]!r} has the name of a result column; rename it "
                           f"(result columns: {', '.join(RESULT_COLUMNS)})")


def column_of(name: str, columns: list[str]) -> str:
    """A column by its name, or a metric's by the metric's key (``bops``, ``size``, ``elementwise``)."""
    if name in columns:
        return name
    m = by_name(name)
    return m.totals_key if m is not None and m.totals_key in columns else name


def parse_sort(spec: str | None, columns: list[str]) -> tuple[str, bool] | None:
    """``ace`` (ascending) or ``-ace`` (descending); the column must exist."""
    if not spec:
        return None
    descending = spec.startswith("-")
    name = column_of(spec.lstrip("-+"), columns)
    if name not in columns:
        raise AcecostError(f"unknown --sort column {name!r}; columns: {', '.join(columns)}")
    return name, descending


def sort(df, key: tuple[str, bool] | None):
    if key is None:
        return df
    name, descending = key
    try:
        return df.sort_values(name, ascending=not descending, na_position="last", kind="stable")
    except TypeError:  # a parameter column holding numbers and strings: sort as text
        return df.sort_values(name, ascending=not descending, na_position="last", kind="stable",
                              key=lambda col: col.astype(str))


def parse_pair(spec: str, columns: list[str]) -> tuple[str, str]:
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != 2 or not all(parts):
        raise AcecostError(f"bad --pareto {spec!r}: give two columns X,Y, e.g. ace,size_bits")
    parts = [column_of(p, columns) for p in parts]
    for p in parts:
        if p not in columns:
            raise AcecostError(f"unknown --pareto column {p!r}; columns: {', '.join(columns)}")
    return parts[0], parts[1]


def pareto(df, x: str = "ace", y: str = "size_bits"):
    """Rows not dominated in (x, y), both lower-is-better; failed points drop out.

    A row is dominated when another costs no more on both and strictly less
    on one; equal rows do not dominate each other, so both stay.
    """
    ok = df[df["error"].isna() & df[x].notna() & df[y].notna()]
    try:
        xs, ys = [float(v) for v in ok[x]], [float(v) for v in ok[y]]
    except (TypeError, ValueError):
        raise AcecostError(f"--pareto {x},{y}: both columns must hold numbers") from None
    order = sorted(range(len(ok)), key=lambda i: (xs[i], ys[i]))
    keep, best_y, last = [], math.inf, None
    for i in order:
        xi, yi = xs[i], ys[i]
        if yi < best_y or (xi, yi) == last:
            keep.append(i)
            if yi < best_y:
                best_y, last = yi, (xi, yi)
    return ok.iloc[sorted(keep)]
