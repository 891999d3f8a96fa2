"""The rows of the table, CSV and markdown: records grouped by layer, primitive or bits.

A training step's rows are named after the layer and the gradient they make
(``conv3 (weight grad)``) and carry a phase; the JSON records they come from
keep the names ``--bits`` matches and ``diff`` pairs.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from acecost.report.model import Report

OP_SHORT = {"conv_general_dilated": "conv", "dot_general": "dot"}


@dataclass
class Row:
    name: str
    op: str
    out_shape: str
    bits: str
    macs: int = 0
    ace: int = 0
    binary_macs: int = 0
    ops: int = 0
    multiplier: set = field(default_factory=set)
    #: the widths as numbers for CSV and markdown; None where the row's records differ
    bits_a: int | None = None
    bits_w: int | None = None
    #: :func:`phase_of` its records ("mixed" where they differ)
    phase: str = "forward"
    #: the layer name without the gradient it makes (what grouping by name compares)
    layer: str = ""
    #: memory traffic and roofline time of its records; None where a record has none
    memory_bits: int | None = 0
    time_s: float | None = 0.0

    def add_traffic(self, memory_bits: int | None, time_s: float | None) -> None:
        """Add a record's (or row's) memory bits and time: unknown once either side is."""
        self.memory_bits = None if memory_bits is None or self.memory_bits is None \
            else self.memory_bits + memory_bits
        self.time_s = None if time_s is None or self.time_s is None else self.time_s + time_s

    @property
    def table_cells(self) -> tuple[str, str]:
        """(name, phase) as the table writes them: the gradient once, in its phase column,
        ``conv3`` | ``weight grad #2``, so that an 80-column table keeps room for the name."""
        if self.layer and self.name != self.layer:  # "conv3 (weight grad #2)"
            return self.layer, self.name[len(self.layer) + 2:-1]
        return self.name, SHORT.get(self.phase, self.phase)


#: What each kind of backward record computes (``OpRecord.gradient``): the phase column's
#: words and the part of a training row's name after the layer.
GRADIENTS = {"weight": ("weight gradient", "weight grad"), "input": ("input gradient", "input grad"),
             "recompute": ("forward (recomputed)", "recomputed")}
#: a backward record whose gradient the walk could not tell (or one from an older JSON report)
UNKNOWN_GRADIENT = ("backward", "backward")
#: the phase column's words -> the table's shorter ones
SHORT = {**dict(GRADIENTS.values()), "forward": "forward", "backward": "backward"}


def phase_of(r) -> str:
    """``forward``, ``input gradient``, ``weight gradient`` ...: the phase column of a record."""
    if r.phase != "backward":
        return "forward"
    return GRADIENTS.get(r.gradient, UNKNOWN_GRADIENT)[0]


def _gradient_tag(r) -> str:
    return GRADIENTS.get(r.gradient, UNKNOWN_GRADIENT)[1]


def training(report: Report) -> bool:
    """A training-step report: its rows carry a phase."""
    return report.meta.get("mode") == "train" or any(r.phase == "backward" for r in report.layers)


def row_names(report: Report, depth: int | None = None) -> list[str]:
    """Each record's row name: its layer name (cut to ``depth`` parts), and in the backward pass
    the gradient it makes, ``conv3 (weight grad)``, instead of the einsum that tells the
    record's JSON name apart (``conv3[NHWC,NHWC->HWIO]``). Rows of every layer (no ``depth``)
    that would share a name are numbered in model order, ``attn (input grad #2)``."""
    from acecost.engine.names import base_name

    names = []
    for r in report.layers:
        if r.phase != "backward":
            names.append("/".join(r.name.split("/")[:depth]) if depth else r.name)
            continue
        layer = base_name(r.name)
        names.append(f"{'/'.join(layer.split('/')[:depth]) if depth else layer} ({_gradient_tag(r)})")
    if depth:
        return names
    counts = Counter(names)
    seen: Counter = Counter()
    out = []
    for r, name in zip(report.layers, names):
        if r.phase == "backward" and counts[name] > 1:
            seen[name] += 1
            name = f"{name[:-1]} #{seen[name]})"
        out.append(name)
    return out


def group_rows(report: Report, by: str = "layer", depth: int | None = None) -> list[Row]:
    """Aggregate records by layer name (cut to ``depth`` parts), primitive or bits."""
    rows: dict[str, Row] = {}
    names = row_names(report, depth) if by == "layer" else [""] * len(report.layers)
    for r, name in zip(report.layers, names):
        bits = f"{r.bits_a}x{r.bits_w}"
        shape = "x".join(str(d) for d in r.out_shape)
        phase = phase_of(r)
        if by == "primitive":
            key, row = r.primitive, Row(r.primitive, OP_SHORT.get(r.primitive, r.primitive), "", bits)
        elif by == "bits":
            key, row = bits, Row(f"a{r.bits_a} x w{r.bits_w}", "", "", bits)
        else:
            layer = name.rsplit(" (", 1)[0] if r.phase == "backward" else name
            key, row = name, Row(name, OP_SHORT.get(r.primitive, r.primitive), shape, bits, layer=layer)
        if key not in rows:
            row.bits_a, row.bits_w, row.phase = r.bits_a, r.bits_w, phase
        row = rows.setdefault(key, row)
        if row.op != OP_SHORT.get(r.primitive, r.primitive) and by == "layer":
            row.op = "mixed"
        if row.bits != bits and by != "bits":
            row.bits = "mixed"
        if row.bits_a != r.bits_a:
            row.bits_a = None
        if row.bits_w != r.bits_w:
            row.bits_w = None
        if row.phase != phase:
            row.phase = "mixed"
        if row.out_shape != shape and by == "layer":
            row.out_shape = "" if depth else "mixed"
        row.macs += r.macs
        row.ace += r.ace
        row.binary_macs += r.macs if r.binary else 0
        row.add_traffic(None if r.read_bits is None or r.write_bits is None else r.read_bits + r.write_bits,
                        r.time_s)
        row.ops += 1
        row.multiplier.add(r.multiplier)
    return list(rows.values())


#: rows of the default table: with the title, header, footer and totals it fits an 80x24 terminal
COMPACT_ROWS = 8


@dataclass
class Compact:
    """The rows of the default table and how they were chosen (for its footer line)."""

    rows: list[Row]
    depth: int | None = None  # grouped by the first ``depth`` parts of the names; None: every layer
    layers: int = 0  # rows of the full table
    hidden: int = 0  # rows folded into the last "... more" row

    @property
    def note(self) -> str | None:
        if self.depth is None and not self.hidden:
            return None
        kept = len(self.rows) - bool(self.hidden)
        if not self.hidden:
            return f"Grouped at --depth {self.depth}: {kept} rows for {self.layers} layers. Every layer: --full"
        what = f"groups at --depth {self.depth}" if self.depth else "layers"
        return f"Top {kept} {what} by ACE, {self.hidden} more in one row. Every layer: --full"


def compact_rows(report: Report, limit: int = COMPACT_ROWS) -> Compact:
    """The default table: every layer if they fit in ``limit`` rows, else the deepest
    grouping by name that does; names alike at every depth (``layer_0`` ... ``layer_99``)
    keep their costliest rows, in model order, and one row for the rest."""
    full = group_rows(report)
    if len(full) <= limit:
        return Compact(full, layers=len(full))
    deepest = max(len(r.name.split("/")) for r in report.layers)
    grouped = {d: group_rows(report, depth=d) for d in range(1, deepest)}
    # a grouping with one name (a forward and a backward row of "ResNet50") says nothing
    telling = {d for d, rows in grouped.items() if len({r.layer for r in rows}) > 1}
    fitting = [d for d in telling if len(grouped[d]) <= limit]
    if fitting:
        return Compact(grouped[max(fitting)], max(fitting), len(full))
    depth = min(telling, default=None)
    rows = grouped[depth] if depth else full
    keep = sorted(sorted(range(len(rows)), key=lambda i: -rows[i].ace)[:limit - 1])
    rest = [row for i, row in enumerate(rows) if i not in set(keep)]
    other = Row(f"... {len(rest)} more", "", "", "", phase=rest[0].phase)
    other.bits_a, other.bits_w = rest[0].bits_a, rest[0].bits_w
    for row in rest:
        if other.bits != row.bits:
            other.bits = "mixed" if other.bits else row.bits
        other.bits_a = other.bits_a if other.bits_a == row.bits_a else None
        other.bits_w = other.bits_w if other.bits_w == row.bits_w else None
        other.phase = other.phase if other.phase == row.phase else "mixed"
        other.macs += row.macs
        other.ace += row.ace
        other.binary_macs += row.binary_macs
        other.add_traffic(row.memory_bits, row.time_s)
        other.ops += row.ops
    return Compact([rows[i] for i in keep] + [other], depth, len(full), hidden=len(rest))
