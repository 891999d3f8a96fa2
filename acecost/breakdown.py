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

Pure data, no matplotlib: :mod:`acecost.plot_breakdown` draws it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from acecost.errors import AcecostError
from acecost.plot_points import Metric, metric

DEFAULT_DEPTH = 2


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


def breakdown(name: str, report: object, x: str = "ace", depth: int = DEFAULT_DEPTH) -> Breakdown:
    """Sum ``report``'s records (or parameters, for size) by group at ``depth`` and bit pair."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise AcecostError(f"depth must be a whole number >= 1, got {depth!r}")
    m = metric(x)
    data = as_report_dict(report)
    totals = data["totals"]
    total = totals.get(m.totals_key)
    out = Breakdown(name, m, depth, total=float(total) if isinstance(total, (int, float)) else None)
    sums: dict[tuple[str, str], list] = {}
    if m.key == "size":
        for p in data.get("params", []):
            key = (group_of(str(p["path"]), depth), f"{p['bits']}-bit")
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
