"""The cost metrics, declared once, and how their numbers are written for people.

Every command reads :data:`TABLE`: analyze's totals, CSV and markdown
columns, check's ``max_*`` budgets and its regression check, diff's totals,
the figures' axes, breakdown's ``--x`` choices and the sweep's columns and
``--pareto`` names. A metric is a :class:`Metric` row; to add one (memory
bits, time ...), add a row here, then the per-layer rule where a command
needs one (see ``docs/metrics.md``).

Text for people goes through :func:`format_count`, :func:`format_size` and
:func:`format_energy` (:mod:`acecost.units`): three significant figures with an SI prefix
(``191M``, ``6.87Mbit``, ``812 pJ``), exact below 1000, never 0 for a value
that is not 0 and no exponent within the SI prefixes' span. JSON keeps exact
numbers and never comes here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from acecost.units import (  # noqa: F401  (the formatter for people is part of this module's API)
    PREFIXES, Number, format_count, format_energy, format_size, format_time, parse_count, parse_size_bits,
    parse_time, si_digits,
)

#: how a value of each kind is written; ``count`` numbers carry no unit (the label says what they count)
KINDS = ("count", "size", "energy", "time")


@dataclass(frozen=True)
class Metric:
    """One cost metric: its names, its unit, how it is written, budgeted and drawn.

    ``key`` is the name commands take (``--max-size``, ``--x bops``);
    ``totals_key`` the field of a report's JSON totals (empty when the metric is
    not one of them); ``label`` what check and diff call it (and write in their
    JSON); ``name`` its heading (figure axes, analyze's totals).
    """

    key: str
    totals_key: str
    label: str
    name: str
    unit: str  # of one raw value: "MAC", "bit", "pJ" ...
    kind: str  # one of KINDS: how format() writes it
    description: str
    budget: bool = False  # check takes max_<key>
    budget_example: str = ""  # for check's --help
    regression: bool = False  # checked against a baseline with --max-increase
    per_layer: bool = False  # summed from the layer records (analyze's table, CSV and breakdown)
    title: str = ""  # analyze's totals row, when it differs from name
    short: str = ""  # a narrow column header (sweep), when it differs from label
    # the figure axis: unit as drawn, as printed, raw units per axis unit; None: not drawn
    axis_unit: str | None = None
    axis_unit_text: str | None = None
    scale: float | None = None
    published_column: str | None = None  # column of the bundled reference CSV, if any

    @property
    def budget_key(self) -> str | None:
        """Its key in check's config (``max_ace``), or None when it cannot be budgeted."""
        return f"max_{self.key}" if self.budget else None

    @property
    def budget_flag(self) -> str:
        """check's command-line flag: ``--max-ace``, ``--max-memory-bits``."""
        return "--max-" + self.key.replace("_", "-")

    @property
    def drawn(self) -> bool:
        return self.scale is not None

    @property
    def axis_label(self) -> str:
        return f"{self.name} ({self.axis_unit})"

    @property
    def axis_label_text(self) -> str:
        return f"{self.name} ({self.axis_unit_text})"

    @property
    def heading(self) -> str:
        return self.title or self.name

    @property
    def column(self) -> str:
        return self.short or self.label

    def parse(self, raw: object, what: str) -> Number:
        """A budget for this metric as people write it (``4.2G``, ``4MB``)."""
        return PARSERS[self.kind](raw, what)

    def format(self, value: object) -> str:
        """``value`` (raw units) for people."""
        return FORMATTERS[self.kind](value)


#: In the order of a report's JSON totals (diff, sweep columns, analyze's totals).
TABLE: dict[str, Metric] = {m.key: m for m in (
    Metric("macs", "macs", "MACs", "MACs", "MAC", "count",
           "multiply-accumulates of every dot and convolution", budget=True, budget_example="600M",
           regression=True, per_layer=True, axis_unit="G", axis_unit_text="G", scale=1e9),
    Metric("bops", "binary_macs", "BOPs", "BOPs", "MAC", "count",
           "the MACs whose two operands are 1-bit (binary MACs)", budget=True, budget_example="5G",
           per_layer=True, title="BOPs (binary MACs)", axis_unit="×10⁹", axis_unit_text="1e9", scale=1e9,
           published_column="bops_1e9"),
    Metric("ace", "ace", "ACE", "ACE", "bit op", "count",
           "arithmetic computation effort: MACs x activation bits x weight bits", budget=True,
           budget_example="5e9, 4.2G", regression=True, per_layer=True, axis_unit="G", axis_unit_text="G",
           scale=1e9, published_column="ace_g"),
    Metric("cpu64", "cpu64", "CPU64", "CPU64", "instruction", "count",
           "64-bit CPU instructions: BOPs / 64 + the other MACs", budget=True, budget_example="1.2e8, 900M",
           regression=True, axis_unit="×10⁸", axis_unit_text="1e8", scale=1e8, published_column="cpu64_1e8"),
    Metric("size", "size_bits", "size", "Size", "bit", "size",
           "parameter storage at each parameter's stored width", budget=True,
           budget_example="4MB, 32Mbit, 1.5GiB; bare numbers are bits", regression=True,
           axis_unit="Mbit", axis_unit_text="Mbit", scale=1e6),
    Metric("params", "params", "params", "Params", "parameter", "count", "parameters (scalars) of the model"),
    Metric("elementwise", "elementwise_ops", "elementwise", "Elementwise", "op", "count",
           "elementwise operations outside dots and convolutions", budget=True, budget_example="20M",
           regression=True, title="Elementwise ops", short="elem"),
    Metric("memory_bits", "memory_bits", "memory", "Memory traffic", "bit", "size",
           "bits the contractions read and write at the widths their values hold, elementwise work "
           "fused into them", budget=True, budget_example="12MB, 96Mbit", regression=True, per_layer=True,
           short="mem", axis_unit="Mbit", axis_unit_text="Mbit", scale=1e6),
    Metric("memory_bits_unfused", "memory_bits_unfused", "memory (unfused)", "Unfused memory traffic", "bit",
           "size", "bits every equation reads and writes, nothing fused", budget=True,
           budget_example="40MB, 320Mbit", short="mem unfused"),
    Metric("time_s", "time_s", "time", "Time", "s", "time",
           "roofline time on the --hardware named: each layer max(compute, memory)", budget=True,
           budget_example="2ms, 150us, 1.5e-4", per_layer=True, axis_unit="µs", axis_unit_text="us", scale=1e-6),
    Metric("energy", "", "energy", "Energy", "pJ", "energy",
           "estimated energy with --energy (its JSON: energy.totals.total_pj)"),
)}

#: How commands list the metrics they offer (check's rows, --x choices): ACE, the paper's metric, first.
CHOICE_ORDER = ("ace", "cpu64", "size", "macs", "bops", "elementwise", "params", "memory_bits",
                "memory_bits_unfused", "time_s", "energy")


def choices(pick: Callable[[Metric], bool]) -> dict[str, Metric]:
    """The metrics ``pick`` keeps, in :data:`CHOICE_ORDER`."""
    return {k: TABLE[k] for k in CHOICE_ORDER if pick(TABLE[k])}


#: check's ``max_*`` budgets: key -> metric
BUDGETS = choices(lambda m: m.budget)
#: checked against a baseline by check --baseline
REGRESSIONS = choices(lambda m: m.regression)
#: figure axes (plot --x/--panels, breakdown --x)
AXES = choices(lambda m: m.drawn)
#: the metrics of a report's JSON totals, in their order there: JSON key -> metric
TOTALS = {m.totals_key: m for m in TABLE.values() if m.totals_key}
#: summed per layer in analyze's table and CSV, in report order
LAYER_METRICS = {k: m for k, m in TABLE.items() if m.per_layer}


def by_name(name: str) -> Metric | None:
    """A metric by its key (``size``) or its totals key (``size_bits``)."""
    return TABLE.get(name) or TOTALS.get(name)


def format_value(metric: str, value: object) -> str:
    """``value`` of the metric named ``metric`` (key or totals key) for people."""
    m = by_name(metric)
    return format_count(value) if m is None else m.format(value)  # type: ignore[arg-type]


def echo_budget(raw: object, metric: Metric) -> str:
    """A budget as the user wrote it: a string as typed (``1.5G``), a TOML integer in full
    (``12845055``), a TOML float (``1.2e8``, which TOML does not keep as typed) formatted."""
    if isinstance(raw, str):
        return raw.strip()
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    return metric.format(raw)


PARSERS: dict[str, Callable[[object, str], Number]] = {
    "count": parse_count, "size": parse_size_bits, "energy": parse_count, "time": parse_time,
}
FORMATTERS: dict[str, Callable[[object], str]] = {
    "count": format_count, "size": format_size, "energy": format_energy,  # type: ignore[dict-item]
    "time": format_time,
}

assert set(CHOICE_ORDER) == set(TABLE) and all(m.kind in KINDS for m in TABLE.values())
