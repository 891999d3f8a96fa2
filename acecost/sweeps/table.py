"""The result table: one row per point, its files, its sort and its Pareto filter.

Parameter columns come first (in the order the space gave them), then the
:data:`RESULT_COLUMNS`. A sweep's table is plain rows (:mod:`acecost.sweeps.rows`,
no pandas); :func:`frame` makes the ``DataFrame`` where one is wanted, with
pandas' nullable ``Int64`` so a failed point is an empty cell, not a float
that would round a large count.
"""
from __future__ import annotations

from pathlib import Path

from acecost.errors import AcecostError
from acecost.metrics import by_name
from acecost.sweeps.rows import RESULT_COLUMNS, TOTALS, Rows, frame, front, json_line

__all__ = ["RESULT_COLUMNS", "TOTALS", "Rows", "frame", "row", "write", "read", "pareto", "json_line"]
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


def write(table, path: str) -> None:
    """Write ``table``: :class:`Rows` (a sweep's, no pandas), or a ``DataFrame`` (from :func:`frame`
    or :func:`acecost.sweep`, every column it has, by pandas)."""
    fmt = output_format(path)
    try:
        if isinstance(table, Rows):
            if fmt == "parquet":
                table.frame().to_parquet(path, index=False)
                return
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(table.csv() if fmt == "csv" else table.jsonl())
        elif fmt == "csv":
            table.to_csv(path, index=False)
        elif fmt == "parquet":
            table.to_parquet(path, index=False)
        else:
            with open(path, "w", encoding="utf-8") as fh:
                fh.writelines(json_line(record) for record in records(table))
    except OSError as exc:
        raise AcecostError(f"cannot write {path}: {exc.strerror or exc}") from None


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
    return v.item() if hasattr(v, "item") else v


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
    """The rows of a ``DataFrame`` not dominated in (x, y) (:func:`acecost.sweeps.rows.front`),
    keeping their index; failed points drop out."""
    ok = df[df["error"].isna() & df[x].notna() & df[y].notna()]
    try:
        xs, ys = [float(v) for v in ok[x]], [float(v) for v in ok[y]]
    except (TypeError, ValueError):
        raise AcecostError(f"--pareto {x},{y}: both columns must hold numbers") from None
    return ok.iloc[front(xs, ys)]
