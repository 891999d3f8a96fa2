"""Where a model's cost goes: its per-layer records summed by layer group and bit pair.

A group is a layer name cut to its first ``depth`` parts (``Net/block1/conv``
at depth 2 is ``Net/block1``), in the order the network first reaches it, so
a stem comes first and a head last. Inside a group the cost is split by the
operands' bit pair (activation x weight), because what makes a binary
network expensive is usually a few layers left at 8 or 16 bits.

Every metric is summed from the report's own records, never apportioned
from the totals: ACE and MACs as recorded, BOPs the MACs of binary records,
CPU64 ``BOPs / 64 + other MACs`` per record (exact, as a fraction), size the
``size_bits`` of each parameter, grouped by its path and split by its stored
width. Work the analysis could not price (unsupported operations, an
incomplete report) is an :class:`Unknown` in the group where it was met,
never a zero.

Pure data, no matplotlib: :mod:`acecost.figures.breakdown_plot` draws it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from acecost.errors import AcecostError
from acecost.figures.points import Metric, metric

DEFAULT_DEPTH = 2
_FLOAT_MAX = Fraction(sys.float_info.max)


@dataclass(frozen=True)
class Segment:
    """The cost of one layer group at one bit pair (raw units)."""

    group: str
    bits: str  # "8x8" (activation x weight); for size "8-bit"
    value: Fraction
    records: int  # how many records (or parameters) it sums


@dataclass(frozen=True)
class Unknown:
    """Cost the analysis could not price, and where."""

    group: str
    why: str


@dataclass
class Breakdown:
    """One model's cost by group and bit pair, in the network's order."""

    name: str
    metric: Metric
    depth: int
    segments: list[Segment] = field(default_factory=list)
    unknown: list[Unknown] = field(default_factory=list)
    total: float | None = None  # the report's own total of the metric, if it has one

    @property
    def known(self) -> Fraction:
        return sum((s.value for s in self.segments), Fraction(0))


def group_of(name: str, depth: int, phase: str = "forward") -> str:
    """``name`` cut to its first ``depth`` parts; backward records keep a ``bwd`` prefix."""
    cut = "/".join(name.split("/")[:depth]) or "(unnamed)"
    return f"bwd {cut}" if phase == "backward" else cut


def bit_pair(bits_a: object, bits_w: object) -> str:
    return f"{bits_a}x{bits_w}"


def _record_value(key: str, rec: Mapping[str, Any]) -> Fraction:
    """One record's contribution to the metric ``key`` (see the module docstring)."""
    macs = Fraction(rec["macs"])
    binary = bool(rec.get("binary", False))
    if key == "ace":
        return Fraction(rec["ace"])
    if key == "macs":
        return macs
    if key == "bops":
        return macs if binary else Fraction(0)
    if key == "memory_bits":
        return Fraction(rec["read_bits"]) + Fraction(rec["write_bits"])
    if key == "time_s":
        return Fraction(rec["time_s"])
    if key == "cpu64":
        return macs / 64 if binary else macs
    raise AcecostError(f"no per-layer rule for {key!r}")  # pragma: no cover - METRICS is closed


def as_report_dict(report: object) -> dict[str, Any]:
    """An ``acecost.Report`` or its ``to_dict()`` as the dict the breakdown reads."""
    if isinstance(report, Mapping):
        data = dict(report)
    elif hasattr(report, "to_dict"):
        data = report.to_dict()
    else:
        raise AcecostError(f"cannot read layers from {type(report).__name__}")
    if not isinstance(data.get("layers", []), list) or not isinstance(data.get("totals"), Mapping):
        raise AcecostError("not an acecost report (no 'totals' or 'layers')")
    return data


def _is_cost(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


#: what a record needs beyond its MACs and ACE for a metric (absent in a report saved before it, or
#: analysed without --hardware: refused, never drawn as 0)
_NEEDS = {"memory_bits": ("read_bits", "write_bits"), "time_s": ("time_s",)}


def check_records(data: Mapping[str, Any], key: str, source: str) -> None:
    """Refuse what would draw a wrong bar: no records, a nameless record, a negative or non-number cost.

    A report without ``layers`` (or, for size, ``params``) would be drawn as
    an empty bar that looks like a free model; a record without a name has
    no group to go in; a negative cost would subtract from its neighbours.
    """
    def bad(what: str) -> AcecostError:
        return AcecostError(f"{source}: {what}; write reports with 'acecost analyze --format json'")

    total = data["totals"].get(metric(key).totals_key)
    if key == "time_s" and total is None and data.get("layers"):
        raise AcecostError(f"{source}: it has no time_s: it was analysed without --hardware; analyse it "
                           "again with --hardware NAME|FILE.toml for a breakdown of time")
    if total is not None and not _is_cost(total):
        raise bad(f"totals.{metric(key).totals_key} is {total!r}, not a cost >= 0")
    field_, fields_ = ("params", ("size_bits",)) if key == "size" else ("layers", ("macs", "ace", *_NEEDS.get(key, ())))
    records = data.get(field_)
    if not isinstance(records, list):
        raise bad(f"no '{field_}' list: a breakdown needs the per-layer records")
    name_key = "path" if key == "size" else "name"
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise bad(f"{field_}[{i}] is not an object")
        name = rec.get(name_key)
        if not isinstance(name, str) or not name.strip():
            raise bad(f"{field_}[{i}] has no {name_key}")
        for f in fields_:
            if not _is_cost(rec.get(f)):
                raise bad(f"{field_}[{i}] ({name}) has {f} {rec.get(f)!r}, not a cost >= 0")
    for i, u in enumerate(data.get("unsupported") or []):
        scopes = u.get("scopes") if isinstance(u, Mapping) else None
        if not isinstance(u, Mapping) or not (scopes is None or isinstance(scopes, list)):
            raise bad(f"unsupported[{i}] is not an object with a list of 'scopes'")


def breakdown(name: str, report: object, x: str = "ace", depth: int = DEFAULT_DEPTH,
              source: str | None = None) -> Breakdown:
    """Sum ``report``'s records (or parameters, for size) by group at ``depth`` and bit pair.

    ``source`` (the file it came from) names it in errors; by default ``name``.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise AcecostError(f"depth must be a whole number >= 1, got {depth!r}")
    m = metric(x)
    data = as_report_dict(report)
    check_records(data, m.key, source or name)
    totals = data["totals"]
    total = totals.get(m.totals_key)
    out = Breakdown(name, m, depth, total=float(total) if isinstance(total, (int, float)) else None)
    sums: dict[tuple[str, str], list] = {}
    if m.key == "size":
        for p in data.get("params", []):
            key = (group_of(str(p["path"]), depth), f"{p.get('bits', '?')}-bit")
            acc = sums.setdefault(key, [Fraction(0), 0])
            acc[0] += Fraction(p["size_bits"])
            acc[1] += 1
    else:
        for rec in data.get("layers", []):
            key = (group_of(str(rec.get("name") or ""), depth, rec.get("phase", "forward")),
                   bit_pair(rec.get("bits_a"), rec.get("bits_w")))
            acc = sums.setdefault(key, [Fraction(0), 0])
            acc[0] += _record_value(m.key, rec)
            acc[1] += 1
        out.unknown = _unknowns(data, depth)
    order = {g: i for i, g in enumerate(dict.fromkeys(g for g, _ in sums))}
    for (group, bits), (value, n) in sorted(sums.items(), key=lambda kv: (order[kv[0][0]],
                                                                         bits_order(kv[0][1]))):
        if value:
            out.segments.append(Segment(group, bits, value, n))
    if out.known > _FLOAT_MAX:  # each record is a float; their sum need not be
        raise AcecostError(f"{source or name}: its {m.name} records sum to more than a float holds "
                           f"(over {m.format(sys.float_info.max)}); a report's costs must be real counts")
    return out


def _unknowns(data: Mapping[str, Any], depth: int) -> list[Unknown]:
    """Unsupported operations by the group they were met in; an incomplete report with none, as a whole."""
    by_group: dict[str, list[str]] = {}
    for u in data.get("unsupported", []):
        prim = str(u.get("primitive", "?"))
        count = u.get("count", 0)
        for scope in u.get("scopes") or ["top level"]:
            group = "(top level)" if scope == "top level" else group_of(str(scope), depth)
            text = f"{prim} x{count}" if len(u.get("scopes") or []) <= 1 else prim
            by_group.setdefault(group, []).append(text)
    out = [Unknown(g, "unsupported: " + ", ".join(w)) for g, w in by_group.items()]
    if not out and data["totals"].get("complete", True) is False:
        out.append(Unknown("(model)", "incomplete analysis (see the report's warnings)"))
    return out


def bits_order(bits: str) -> tuple[int, int, str]:
    """Cheapest first: by bits_a x bits_w, then bits_a; anything unparsable last."""
    try:
        if bits.endswith("-bit"):
            b = int(bits[:-4])
            return (b, b, bits)
        a, w = (int(v) for v in bits.split("x"))
        return (a * w, a, bits)
    except ValueError:
        return (1 << 30, 0, bits)
