"""The design space: grids, explicit point lists, sampling, and option axes.

A space is a Cartesian product of axes (``--grid NAME=V1,V2`` or a space
file's ``[grid]``) plus an optional list of explicit points. Points are
plain dicts; the product is never materialised before sampling, so
``--sample 100`` of a billion-point space costs 100 points.

An axis named after a built-in option (``float_bits``, ``bits``, ``mode``,
``batch``, ...) sets that option for the point instead of a model
parameter, unless the model itself takes a parameter of that name (the
model's own parameter wins). :data:`OPTION_AXES` is the one table that says
which options can vary and how a value is checked.
"""
from __future__ import annotations

import itertools
import json
import math
import random
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from acecost import options as O
from acecost.errors import AcecostError

BUILD, ANALYSIS = "build", "analysis"


def _parsed(name: str, parse: Callable) -> Callable:
    """A check from :mod:`acecost.options`, the parsers every command and config file share."""
    return lambda v: parse(v, name)


def _optional(check: Callable) -> Callable:
    return lambda v: None if v is None else check(v)


def _override(v):
    """One ``REGEX=A,W`` string (or a list of them), kept as given after the shared check."""
    items = [v] if isinstance(v, str) else list(v) if isinstance(v, (list, tuple)) else None
    if items is None or not all(isinstance(i, str) for i in items):
        raise AcecostError(f"invalid bits {v!r}: expected a 'REGEX=A,W' string or a list of them")
    for item in items:
        O.parse_bits_override(item, "bits")
    return items[0] if len(items) == 1 else items


@dataclass(frozen=True)
class OptionAxis:
    """An option that may vary across points.

    ``stage`` says whether it shapes the target (``build``: passed to the
    zoo or to a Flax Module's input) or the analysis (``analysis``: a
    keyword of :func:`acecost.analyze_target`). ``sep`` splits its
    ``--grid`` values where a value itself holds commas.
    """

    stage: str
    check: Callable[[Any], Any]
    sep: str = ","


#: Every option that can be a grid axis: adding one is one entry here.
OPTION_AXES: dict[str, OptionAxis] = {
    "float_bits": OptionAxis(ANALYSIS, _parsed("float_bits", O.parse_float_bits)),
    "bits": OptionAxis(ANALYSIS, _override, sep=";"),
    "while_trips": OptionAxis(ANALYSIS, _optional(_parsed("while_trips", O.parse_while_trips))),
    "mode": OptionAxis(ANALYSIS, _parsed("mode", O.parse_mode)),
    "cond": OptionAxis(ANALYSIS, _parsed("cond", O.parse_cond)),
    "scales": OptionAxis(ANALYSIS, _parsed("scales", O.parse_scales)),
    "batch": OptionAxis(BUILD, _parsed("batch", O.parse_batch)),
    "resolution": OptionAxis(BUILD, _parsed("resolution", O.parse_resolution)),
    "input_shape": OptionAxis(BUILD, _parsed("input_shape", O.parse_input_shape), sep=";"),
    "dtype": OptionAxis(BUILD, _parsed("dtype", O.parse_dtype)),
}


def option_name(name: str) -> str:
    """``float-bits`` and ``float_bits`` name the same option."""
    return name.replace("-", "_")


_INT = re.compile(r"[+-]?\d+")


def parse_value(text: str) -> Any:
    """A ``--grid`` value: int, float, bool, none, or else the string itself."""
    s = text.strip()
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if _INT.fullmatch(s):
        return int(s)
    try:
        value = float(s)
    except ValueError:
        return s
    return value if math.isfinite(value) else s


def parse_grid(spec: str) -> tuple[str, list]:
    """``'width=0.5,1.0'`` -> ``('width', [0.5, 1.0])``."""
    name, sep, rest = spec.partition("=")
    name = option_name(name.strip())
    if not sep or not name.isidentifier():
        raise AcecostError(f"bad --grid {spec!r}: expected NAME=V1,V2,..., e.g. width=0.5,0.75,1.0")
    axis = OPTION_AXES.get(option_name(name))
    parts = [p for p in rest.split(axis.sep if axis else ",")]
    if not rest.strip() or any(not p.strip() for p in parts):
        raise AcecostError(f"empty grid {spec!r}: give at least one value, e.g. {name}=1,2,4")
    return name, [parse_value(p) for p in parts]


@dataclass
class Space:
    """A product of axes plus explicit points (either may be empty, not both)."""

    axes: dict[str, list]
    points: list[dict]

    def __post_init__(self):
        self.axes = {option_name(str(k)): v for k, v in self.axes.items()}
        self.points = [{option_name(str(k)): v for k, v in p.items()} for p in self.points]
        for name, values in self.axes.items():
            if not isinstance(values, list):
                self.axes[name] = values = [values]
            if not values:
                raise AcecostError(f"empty grid: axis {name!r} has no values")
        if not self.axes and not self.points:
            raise AcecostError("empty grid: give --grid NAME=V1,V2,... or --space FILE with a grid or points")

    @property
    def product_size(self) -> int:
        return math.prod(len(v) for v in self.axes.values()) if self.axes else 0

    def __len__(self) -> int:
        return self.product_size + len(self.points)

    def names(self) -> list[str]:
        """Every parameter name, axes first, in the order given."""
        out = list(self.axes)
        for p in self.points:
            out.extend(k for k in p if k not in out)
        return out

    def point(self, index: int) -> dict:
        """The ``index``-th point: the product in row-major order, then the explicit points."""
        n = self.product_size
        if index >= n:
            return dict(self.points[index - n])
        out = {}
        for name, values in reversed(list(self.axes.items())):
            index, k = divmod(index, len(values))
            out[name] = values[k]
        return dict(reversed(list(out.items())))

    def iter_points(self, sample: int | None = None, seed: int = 0) -> Iterator[dict]:
        """All points in order, or ``sample`` distinct ones drawn with ``seed`` (in space order)."""
        total = len(self)
        if sample is None or sample >= total:
            indices: Any = range(total)
        else:
            indices = sorted(random.Random(seed).sample(range(total), sample))
        seen = set()
        for i in indices:
            p = self.point(i)
            key = json.dumps(p, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                yield p


def load_space_file(path: str) -> Space:
    """``space.toml`` / ``space.json``: ``grid`` (name -> values) and/or ``points`` (a list of dicts)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AcecostError(f"cannot read space file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        if p.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        elif p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise AcecostError(f"space file {path}: unknown format {p.suffix or '(none)'!r}; use .toml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise AcecostError(f"space file {path}: not valid {p.suffix[1:].upper()}: {exc}") from None
    if isinstance(data, list):
        data = {"points": data}
    if not isinstance(data, dict) or not set(data) <= {"grid", "points"}:
        raise AcecostError(f"space file {path}: expected a table with 'grid' and/or 'points' "
                           f"(got {', '.join(data) if isinstance(data, dict) else type(data).__name__})")
    grid, points = data.get("grid", {}), data.get("points", [])
    if not isinstance(grid, dict):
        raise AcecostError(f"space file {path}: 'grid' must map names to lists of values")
    if not isinstance(points, list) or not all(isinstance(q, dict) for q in points):
        raise AcecostError(f"space file {path}: 'points' must be a list of tables (name = value)")
    try:
        return Space({str(k): v for k, v in grid.items()}, [dict(q) for q in points])
    except AcecostError as exc:
        raise AcecostError(f"space file {path}: {exc}") from None


def make_space(grid=None, space_file: str | None = None, points=None) -> Space:
    """Merge a space file, ``--grid`` axes (strings or a name -> values dict) and explicit points."""
    base = load_space_file(space_file) if space_file else None
    axes = dict(base.axes) if base else {}
    explicit = list(base.points) if base else []
    if isinstance(grid, dict):
        for name, values in grid.items():
            axes[name] = list(values) if isinstance(values, (list, tuple, range)) else [values]
    else:
        for spec in grid or ():
            name, values = parse_grid(spec)
            axes[name] = values
    explicit.extend(dict(q) for q in points or ())
    return Space(axes, explicit)


def product(axes: dict[str, list]) -> list[dict]:
    """The plain Cartesian product (for tests and small spaces)."""
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
