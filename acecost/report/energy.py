"""Energy estimates in picojoules from a per-operation energy table.

A cost report says *how much* work a model does and at which bit-widths;
an energy table says what one operation of each kind costs on some
hardware. The built-in table, ``horowitz45``, holds Horowitz's 45 nm
figures (ISSCC 2014); a JSON or TOML file can override any of its keys.
Every modelling choice (interpolation in bit-width, accumulator width,
float fallbacks, weight reads) is listed in the table's ``notes`` and in
``docs/energy.md``.
"""
from __future__ import annotations

import difflib
import json
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from acecost.errors import ConfigError
from acecost.report.model import BitsOrigin, OpRecord, Report

BUILTIN = ("horowitz45",)
UNATTRIBUTED = "(unattributed)"
_META_KEYS = ("name", "source", "notes")


@dataclass(frozen=True)
class EnergyTable:
    """Energy per operation (pJ) and the few modelling knobs that go with it."""

    name: str
    source: str
    int8_mult_pj: float
    int16_mult_pj: float
    int32_mult_pj: float
    int8_add_pj: float
    int16_add_pj: float
    int32_add_pj: float
    fp16_mult_pj: float
    fp16_add_pj: float
    fp32_mult_pj: float
    fp32_add_pj: float
    accumulator_bits: int
    elementwise_op_pj: float
    sram_read_pj_per_bit: float
    dram_read_pj_per_bit: float
    notes: tuple[str, ...] = ()
    origin: str = "built-in"  # where the values came from: "built-in" or the override file

    def values(self) -> dict[str, float | int]:
        """The numeric entries, as a JSON/TOML table would spell them."""
        return {k: getattr(self, k) for k in NUMERIC_KEYS}

    def int_mult_pj(self, bits_a: int, bits_w: int) -> float:
        """An a-bit x w-bit integer multiply: multiplier energy grows with a*w."""
        points = ((64, self.int8_mult_pj), (256, self.int16_mult_pj), (1024, self.int32_mult_pj))
        return _piecewise(bits_a * bits_w, points)

    def int_add_pj(self, bits: int) -> float:
        """A b-bit integer add: adder energy grows with b."""
        points = ((8, self.int8_add_pj), (16, self.int16_add_pj), (32, self.int32_add_pj))
        return _piecewise(bits, points)

    def float_mac_pj(self, width: int) -> float:
        """A float multiply at ``width`` (fp16 up to 16 bits, else fp32) plus an fp32 add."""
        mult = self.fp16_mult_pj if width <= 16 else self.fp32_mult_pj
        return mult + self.fp32_add_pj


NUMERIC_KEYS = tuple(f.name for f in fields(EnergyTable)
                     if f.name not in _META_KEYS and f.name != "origin")
_INT_KEYS = ("accumulator_bits",)


def _piecewise(x: float, points: tuple[tuple[int, float], ...]) -> float:
    """Linear through ``points``; proportional below the first, last segment extended above."""
    x0, y0 = points[0]
    if x <= x0:
        return y0 * x / x0
    for (xa, ya), (xb, yb) in zip(points, points[1:]):
        if x <= xb:
            return ya + (yb - ya) * (x - xa) / (xb - xa)
    (xa, ya), (xb, yb) = points[-2], points[-1]
    return max(0.0, yb + (yb - ya) * (x - xb) / (xb - xa))


# ------------------------------------------------------------------ loading
def load_table(name_or_path: str | Path = "horowitz45") -> EnergyTable:
    """A built-in table by name, or the built-in one with a file's keys laid over it.

    The file is JSON, or TOML when its name ends in ``.toml``; it may set any
    subset of the built-in keys (plus ``name``, ``source``, ``notes``).
    """
    if str(name_or_path) in BUILTIN:
        return _builtin(str(name_or_path))
    path = Path(name_or_path)
    where = f"energy table {str(name_or_path)!r}"
    if not path.exists():
        raise ConfigError(f"{where}: no such file, and not a built-in table "
                          f"(built-in: {', '.join(BUILTIN)})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read it: {exc}") from None
    data = _parse(text, path, where)
    return _overlay(_builtin("horowitz45"), data, where, origin=str(path), default_name=path.stem)


def _builtin(name: str) -> EnergyTable:
    text = resources.files("acecost.report").joinpath(f"{name}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    values = {k: data[k] for k in NUMERIC_KEYS}
    return EnergyTable(name=data["name"], source=data["source"], notes=tuple(data["notes"]), **values)


def _parse(text: str, path: Path, where: str) -> dict[str, Any]:
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: invalid TOML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: invalid JSON: {exc.msg} at line {exc.lineno}, "
                              f"column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object of keys such as "
                          f"{{\"int8_mult_pj\": 0.2}}, got {type(data).__name__}")
    return data


def _overlay(base: EnergyTable, data: dict[str, Any], where: str, *, origin: str,
             default_name: str) -> EnergyTable:
    changes: dict[str, Any] = {}
    for key, raw in data.items():
        if key in ("name", "source"):
            if not isinstance(raw, str):
                raise ConfigError(f"{where}: {key!r} must be a string, got {raw!r}")
            changes[key] = raw
        elif key == "notes":
            if not (isinstance(raw, list) and all(isinstance(n, str) for n in raw)):
                raise ConfigError(f"{where}: 'notes' must be a list of strings")
            changes[key] = tuple(raw)
        elif key in NUMERIC_KEYS:
            changes[key] = _value(key, raw, where)
        else:
            close = difflib.get_close_matches(key, NUMERIC_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else \
                f"; known keys: {', '.join(NUMERIC_KEYS)}"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
    changes.setdefault("name", default_name)
    if "source" not in changes and any(k in NUMERIC_KEYS for k in changes):
        changes["source"] = f"{base.source}; overridden by {origin}"
    return replace(base, origin=origin, **changes)


def _value(key: str, raw: object, where: str) -> float | int:
    if key in _INT_KEYS:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
            raise ConfigError(f"{where}: {key!r} must be a positive integer (bits), got {raw!r}")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ConfigError(f"{where}: {key!r} must be a number (pJ), got {raw!r}")
    if not math.isfinite(raw) or raw < 0:
        raise ConfigError(f"{where}: {key!r} must be a finite, non-negative number (pJ), got {raw!r}")
    return raw


# --------------------------------------------------------------- estimating
@dataclass(kw_only=True)
class EnergyTotals:
    """Work and energy, summed over a layer or a whole model."""

    macs: int = 0
    float_macs: int = 0
    compute_pj: float = 0.0
    elementwise_ops: int = 0
    elementwise_pj: float = 0.0
    weight_bits: int = 0
    sram_pj: float = 0.0
    dram_pj: float = 0.0

    @property
    def total_pj(self) -> float:
        """On-chip energy: compute + elementwise + weight reads from SRAM (DRAM is the off-chip alternative)."""
        return self.compute_pj + self.elementwise_pj + self.sram_pj

    def sums(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(EnergyTotals)}

    def to_dict(self) -> dict[str, Any]:
        return {**self.sums(), "total_pj": self.total_pj}

    @classmethod
    def sum(cls, parts) -> "EnergyTotals":
        parts = list(parts)
        return cls(**{f.name: sum(getattr(p, f.name) for p in parts) for f in fields(cls)})


@dataclass
class EnergyRow(EnergyTotals):
    """One layer (or elementwise-only scope): the work it does and what it costs."""

    layer: str
    params: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, **self.sums(), "params": list(self.params), "total_pj": self.total_pj}


@dataclass
class EnergyReport:
    table: EnergyTable
    rows: list[EnergyRow]
    totals: EnergyTotals
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": {"name": self.table.name, "source": self.table.source,
                      "origin": self.table.origin, "values": self.table.values()},
            "rows": [r.to_dict() for r in self.rows],
            "totals": self.totals.to_dict(),
            "warnings": list(self.warnings),
        }


def is_float(origin: BitsOrigin) -> bool:
    """The operand is multiplied as a float: no quantizer was found (FLOAT_FALLBACK), or its
    proven levels need more bits than a float has (FLOAT_WIDTH)."""
    return origin.is_float


def mac_pj(record: OpRecord, table: EnergyTable) -> tuple[float, int | None]:
    """Energy of one MAC of ``record`` and, for a float MAC, the float width used.

    The origins are the record's (:meth:`OpRecord.origin`; read from the source's opening
    for a record loaded from JSON)."""
    widths = [b for b, role in ((record.bits_a, "a"), (record.bits_w, "w")) if is_float(record.origin(role))]
    if widths:
        width = max(widths)
        return table.float_mac_pj(width), width
    return (table.int_mult_pj(record.bits_a, record.bits_w)
            + table.int_add_pj(table.accumulator_bits)), None


def estimate(report: Report, table: EnergyTable) -> EnergyReport:
    """Per-layer and total energy of ``report`` under ``table``."""
    rows: dict[str, EnergyRow] = {}
    warnings: list[str] = []
    wide: set[int] = set()
    for rec in report.layers:
        row = rows.setdefault(rec.name, EnergyRow(rec.name))
        per_mac, width = mac_pj(rec, table)
        row.macs += rec.macs
        row.compute_pj += rec.macs * per_mac
        if width is not None:
            row.float_macs += rec.macs
            if width > 32:
                wide.add(width)
    for width in sorted(wide):
        warnings.append(f"{width}-bit float MACs are counted at the fp32 figures "
                        "(the energy table has no wider float figure).")
    for scope, ops in report.elementwise_by_layer.items():
        row = rows.setdefault(scope, EnergyRow(scope))
        row.elementwise_ops += ops
        row.elementwise_pj += ops * table.elementwise_op_pj
    layers = list(dict.fromkeys(r.name for r in report.layers))
    scopes = [s for s in rows if s not in set(layers)]
    matcher = _Matcher(layers, scopes)
    ambiguous: list[str] = []
    for param in report.params:
        target, tied = matcher.match(param.path)
        if tied:
            ambiguous.append(f"{param.path} ({', '.join(tied[:3])}{', ...' if len(tied) > 3 else ''})")
        row = rows.setdefault(target or UNATTRIBUTED, EnergyRow(target or UNATTRIBUTED))
        row.weight_bits += param.size_bits
        row.sram_pj += param.size_bits * table.sram_read_pj_per_bit
        row.dram_pj += param.size_bits * table.dram_read_pj_per_bit
        row.params.append(param.path)
    if ambiguous:
        more = f" and {len(ambiguous) - 5} more" if len(ambiguous) > 5 else ""
        warnings.append(f"{len(ambiguous)} parameter(s) match several layers equally well and are "
                        f"counted as {UNATTRIBUTED}: {'; '.join(ambiguous[:5])}{more}.")
    if not report.totals.complete:
        warnings.append("the cost report is incomplete (unsupported primitives or unknown loop "
                        "counts): the energy of the work it could not count is missing.")
    out = list(rows.values())
    totals = EnergyTotals.sum(out)
    return EnergyReport(table=table, rows=out, totals=totals, warnings=warnings)


def attribute(path: str, layers: list[str], scopes: list[str] = ()) -> tuple[str | None, list[str]]:
    """The row a parameter belongs to; see :class:`_Matcher`. Returns (row or None, tied rows)."""
    return _Matcher(layers, scopes).match(path)


class _Matcher:
    """Parameter path -> row, matched on the path minus the leaf name.

    Linen names layers ``Net/block/fc`` (with the module class) but paths
    parameters ``params/block/fc/kernel`` (with the collection); NNX and
    plain pytrees give ``fc/kernel``; some libraries put the contraction in
    a submodule (``Net/fc/AqtDotGeneral_0``). So the parameter's prefix is
    tried with and without its first component, then shortened one
    component at a time (longest first), against, in this order: layers
    whose name ends with it, layers inside it (the prefix starts the name,
    after at most one leading component), and the same two for
    elementwise-only scopes. The closest candidate wins (fewest extra
    components); a tie is ambiguous.
    """

    def __init__(self, layers: list[str], scopes: list[str]):
        self.groups = [self._index(list(layers)), self._index([s for s in scopes if s not in set(layers)])]

    @staticmethod
    def _index(names: list[str]) -> tuple[dict, dict]:
        same: dict[tuple[str, ...], list[tuple[int, str]]] = {}
        inside: dict[tuple[str, ...], list[tuple[int, str]]] = {}
        for name in names:
            comps = tuple(name.split("/"))
            for k in range(1, len(comps) + 1):
                same.setdefault(comps[-k:], []).append((len(comps) - k, name))
            for lead in (0, 1):
                for k in range(1, len(comps) - lead):
                    inside.setdefault(comps[lead:lead + k], []).append((lead * 1000 + len(comps), name))
        return same, inside

    def match(self, path: str) -> tuple[str | None, list[str]]:
        parts = tuple(path.split("/")[:-1])
        if not parts:
            return None, []
        candidates = [parts[1:], parts] if len(parts) > 1 else [parts]
        tries = sorted(((k, i) for i, c in enumerate(candidates) for k in range(len(c), 0, -1)),
                       key=lambda t: (-t[0], t[1]))
        for k, i in tries:
            prefix = candidates[i][:k]
            for same, inside in self.groups:
                for index in (same, inside):
                    scored = index.get(prefix)
                    if scored:
                        best = min(d for d, _ in scored)
                        hits = list(dict.fromkeys(n for d, n in scored if d == best))
                        return (hits[0], []) if len(hits) == 1 else (None, hits)
        return None, []
