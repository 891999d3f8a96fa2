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
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from acecost import options as O
from acecost.errors import AcecostError

BUILD, ANALYSIS = "build", "analysis"


def _parsed(name: str, parse: Callable) -> Callable:
    """A check from :mod:`acecost.options`, the parsers every command and config file share."""
    return lambda v: parse(v, name)


@dataclass(frozen=True)
class OptionAxis:
    """An option that may vary across points.

    ``stage`` says whether it shapes the target (``build``: passed to the
    zoo or to a Flax Module's input) or the analysis (``analysis``: a
    keyword of :func:`acecost.analyze_target`). ``sep`` splits its
    ``--grid`` values where a value itself holds commas. The analysis
    options' axes come from their table, :data:`acecost.options.OPTIONS`.
    """

    stage: str
    check: Callable[[Any], Any]
    sep: str = ","
    multiple: bool = False  # a value is one item or a list of them, and the items of axes add up


#: Every option that can be a grid axis: an analysis option is one entry of
#: :data:`acecost.options.OPTIONS`, a build option one entry here.
OPTION_AXES: dict[str, OptionAxis] = {
    **{o.name: OptionAxis(ANALYSIS, o.check, o.axis_sep, o.multiple) for o in O.OPTIONS if o.axis_sep},
    "batch": OptionAxis(BUILD, _parsed("batch", O.parse_batch)),
    "resolution": OptionAxis(BUILD, _parsed("resolution", O.parse_resolution)),
    "input_shape": OptionAxis(BUILD, _parsed("input_shape", O.parse_input_shape), sep=";"),
    "dtype": OptionAxis(BUILD, _parsed("dtype", O.parse_dtype)),
}


def fixed_axis(name: str) -> OptionAxis | None:
    """How an option fixed for every point is checked: its axis, or for an analysis
    option that is no axis (it cannot vary), its table entry; None for no option."""
    option = O.OPTION.get(name)
    if name not in OPTION_AXES and option is not None:
        return OptionAxis(ANALYSIS, option.check, multiple=option.multiple)
    return OPTION_AXES.get(name)


def option_name(name: str) -> str:
    """``float-bits`` and ``float_bits`` name the same option (a group's regex, ``bits[a-b]``, is kept)."""
    base, bracket, group = name.partition("[")
    return base.replace("-", "_") + bracket + group


_GROUP_AXIS = re.compile(r"(?P<opt>[A-Za-z_][\w-]*)\[(?P<regex>.+)\]", re.S)


def group_axis(name: str) -> tuple[str, str] | None:
    """``bits[stage1/.*]`` -> ``('bits', 'stage1/.*')``: one bits axis per layer group, its values
    ``A,W`` pairs for the layers the regex picks; None for any other name."""
    m = _GROUP_AXIS.fullmatch(name)
    if m is None or option_name(m["opt"]) != "bits":
        return None
    return "bits", m["regex"]


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
        try:
            return int(s)
        except ValueError:  # past Python's int-string conversion limit
            raise AcecostError(f"grid value {s[:20]}... has {len(s.lstrip('+-'))} digits: more than "
                               f"{sys.get_int_max_str_digits()} are not read as an integer") from None
    try:
        value = float(s)
    except ValueError:
        return s
    return value if math.isfinite(value) else s


#: The most points a sweep lists: a larger space is sampled (``--sample N``), never enumerated.
MAX_POINTS = 1_000_000


def parse_grid(spec: str) -> tuple[str, list]:
    """``'width=0.5,1.0'`` -> ``('width', [0.5, 1.0])``."""
    name, sep, rest = spec.partition("=")
    name = option_name(name.strip())
    group = group_axis(name)
    if not sep or not (name.isidentifier() or group):
        raise AcecostError(f"bad --grid {spec!r}: expected NAME=V1,V2,..., e.g. width=0.5,0.75,1.0, "
                           "or bits[REGEX]=A,W;A,W")
    axis = OPTION_AXES.get(group[0] if group else name)
    return name, [parse_value(p) for p in _split(name, rest, axis.sep if axis else ",")]


def _split(name: str, text: str, sep: str) -> list[str]:
    parts = text.split(sep)
    if not text.strip() or any(not p.strip() for p in parts):
        raise AcecostError(f"empty grid {name}={text!r}: give at least one value, e.g. {name}=1,2,4")
    return parts


@dataclass
class Space:
    """A product of axes plus explicit points (either may be empty, not both)."""

    axes: dict[str, list]
    points: list[dict]
    #: ``--grid`` text of each axis read with an option's separator (``bits`` splits at ``;``): a
    #: model parameter of that name wins, and its values are then read at commas (``as_parameters``)
    raw: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        names = [option_name(str(k)) for k in self.axes]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise AcecostError(f"axis {twice[0]!r} is given twice (as "
                               f"{' and '.join(repr(str(k)) for k in self.axes if option_name(str(k)) == twice[0])})")
        self.axes = {option_name(str(k)): v for k, v in self.axes.items()}
        self.points = [{option_name(str(k)): v for k, v in p.items()} for p in self.points]
        for name, values in self.axes.items():
            if not isinstance(values, list):
                self.axes[name] = values = [values]
            if not values:
                raise AcecostError(f"empty grid: axis {name!r} has no values")
        if not self.axes and not self.points:
            raise AcecostError("empty grid: give --grid NAME=V1,V2,... or --space FILE with a grid or points")

    def as_parameters(self, names) -> None:
        """Read the axes in ``names``, model parameters, as parameters: ``bits=1,2,4,8`` is four values."""
        for name in names:
            text = self.raw.get(name)
            if text is not None and OPTION_AXES[name].sep != ",":
                self.axes[name] = [parse_value(p) for p in _split(name, text, ",")]

    @property
    def product_size(self) -> int:
        return math.prod(len(v) for v in self.axes.values()) if self.axes else 0

    @property
    def size(self) -> int:
        """How many points (``len()`` cannot say past ``sys.maxsize``)."""
        return self.product_size + len(self.points)

    def __len__(self) -> int:
        return self.size

    def names(self) -> list[str]:
        """Every parameter name, axes first, in the order given."""
        out = list(self.axes)
        for p in self.points:
            out.extend(k for k in p if k not in out)
        return out

    def values(self) -> Iterator[Any]:
        """Every value any point can hold (each axis's values, each explicit point's)."""
        for values in self.axes.values():
            yield from values
        for p in self.points:
            yield from p.values()

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
        """All points in order, or ``sample`` distinct ones drawn with ``seed`` (in space order).

        A sample draws indices of the product and decodes each (:meth:`point`), so
        sampling a space of 10^20 points costs the points drawn; listing one that
        large is refused.
        """
        total = self.size
        check_sample(sample, seed)
        if sample is None or sample >= total:
            if total > MAX_POINTS:
                raise AcecostError(f"the space has {total:,} points, more than a sweep lists "
                                   f"({MAX_POINTS:,}); price a sample of it with --sample N")
            indices: Any = range(total)
        else:
            indices = sorted(_sample(random.Random(seed), total, sample))
        seen = set()
        for i in indices:
            p = self.point(i)
            key = json.dumps(p, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                yield p


def check_sample(sample: Any, seed: Any) -> None:
    """``sample`` and ``seed`` as the command line checks them, for the Python API too."""
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 1):
        raise AcecostError(f"sample must be a positive integer, got {sample!r}")
    if sample is not None and sample > MAX_POINTS:
        raise AcecostError(f"--sample {sample:,} is more points than a sweep lists ({MAX_POINTS:,})")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise AcecostError(f"seed must be an integer, got {seed!r}")


def _sample(rng: random.Random, total: int, k: int) -> list[int]:
    """``k`` distinct indices of ``range(total)``; for a space past ``sys.maxsize`` (where
    ``random.sample(range(N))`` cannot take ``len``) by rejection, which for k far below N
    almost never draws twice."""
    if total <= sys.maxsize:
        return rng.sample(range(total), k)
    out: set[int] = set()
    while len(out) < k:
        out.add(rng.randrange(total))
    return list(out)


def _finite(value: Any, where: str) -> None:
    """A space file's numbers are finite: ``inf`` (or ``1e400``) is no model parameter."""
    if isinstance(value, float) and not math.isfinite(value):
        raise AcecostError(f"{where} holds {value!r}; write it as a string (\"{value!r}\") if the model takes it")
    if isinstance(value, (list, tuple)):
        for v in value:
            _finite(v, where)
    elif isinstance(value, dict):
        for v in value.values():
            _finite(v, where)


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
    except (ValueError, RecursionError) as exc:  # an integer past the conversion limit; nesting too deep
        raise AcecostError(f"space file {path}: cannot read it: {str(exc).split(';')[0]}") from None
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
    for name, values in grid.items():
        _finite(values, f"space file {path}: axis {name!r}")
    for i, q in enumerate(points):
        _finite(q, f"space file {path}: points[{i}]")
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
    raw: dict[str, str] = {}
    if not isinstance(grid, dict):
        given: set[str] = set()
        for spec in grid or ():
            name, values = parse_grid(spec)
            if name in given:
                raise AcecostError(f"--grid {name} is given twice; give all its values in one --grid "
                                   f"{name}=V1,V2,...")
            given.add(name)
            axes[name] = values
            if name in OPTION_AXES:
                raw[name] = spec.partition("=")[2]
    explicit.extend(dict(q) for q in points or ())
    return Space(axes, explicit, raw)


def product(axes: dict[str, list]) -> list[dict]:
    """The plain Cartesian product (for tests and small spaces)."""
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
