"""Cost budgets checked: each budget and regression as a row, and one model's result.

A budget is an upper bound on one total of a report (``ace``, ``cpu64``,
``size_bits`` ...), a regression check a bound on its growth over a baseline
report. Where budgets are configured and how the file is read is
:mod:`acecost.ci.budget_file`; its names are re-exported here, where
``acecost check`` and scripts have always found them.
"""

from __future__ import annotations

from fractions import Fraction
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acecost.errors import ConfigError
from acecost.load.target import ENTRY_FUNCTION
from acecost.ci.budget_file import (  # noqa: F401  (the budget file's names are part of this module's API)
    BUDGET_KEYS, METRICS, MODEL_KEYS, OPTION_KEYS, ModelSpec, find_config, load_models, override, parse_budget,
    read_config_file,
)
from acecost.options import (  # noqa: F401  (the option parsers are part of this module's API)
    OPTIONS, GivenOptions, MAX_COUNT, MAX_DIM, MODES, parse_batch, parse_cond, parse_scales, parse_bits_override, parse_dtype, parse_entry, parse_float_bits,
    parse_input_shape, parse_int, parse_mode, parse_resolution, parse_while_trips,
)
from acecost.units import Number
from acecost.metrics import REGRESSIONS, Metric, echo_budget  # noqa: F401  (Metric, echo_budget: as above)


# The metrics checked against a baseline come from the one table of metrics
# (acecost.metrics), in its choice order. BOPs have no regression check: more
# binary MACs at equal MACs is a cheaper model, and an increase that is a real
# cost shows up in MACs, ACE and CPU64.
REGRESSION_METRICS = tuple(REGRESSIONS)


@dataclass
class BudgetRow:
    """One metric against its budget."""

    metric: str
    label: str
    value: Number
    budget: Number
    passed: bool
    headroom_pct: float | None  # (budget - value) / budget; None if budget is 0 < value
    budget_text: str | None = None  # as the user wrote it (``1.5G``); None: write the number

    @property
    def over_pct(self) -> float | None:
        return None if self.headroom_pct is None else -self.headroom_pct


@dataclass
class RegressionRow:
    """One metric against the same metric in a baseline report."""

    metric: str
    label: str
    baseline: Number
    value: Number
    max_increase_pct: float
    passed: bool
    change_pct: float | None  # None when the baseline is 0 and the value is not


@dataclass
class ModelResult:
    """Everything ``acecost check`` concluded about one model."""

    spec: ModelSpec
    totals: dict[str, Any] | None = None
    rows: list[BudgetRow] = field(default_factory=list)
    regressions: list[RegressionRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unsupported: list[dict[str, Any]] = field(default_factory=list)
    fallbacks: int = 0  # dot/conv records with an operand priced at float width for lack of evidence
    error: str | None = None
    internal: bool = False  # the error is a bug in acecost, not in the user's input
    notes: list[str] = field(default_factory=list)  # said loudly, not a failure (a baseline of another target)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return bool((self.totals or {}).get("complete", True))

    @property
    def approximate(self) -> bool:
        """Float fallbacks, unsupported primitives or unknown loop counts."""
        return bool(self.fallbacks or self.unsupported or not self.complete)

    @property
    def strict_failed(self) -> bool:
        """Under --strict an approximate report is a failure, not a pass."""
        return self.spec.strict and self.approximate

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        failed = any(not r.passed for r in self.rows) or any(
            not r.passed for r in self.regressions
        )
        return "fail" if failed or self.strict_failed else "pass"



def target_identity(target: str, entry: str | None = None, base: Path | None = None) -> tuple:
    """What a target names, comparable across spellings: ``("file", resolved path, attr)``,
    ``("zoo", name)`` or ``("module", module, attr)``.

    A relative file path is taken from ``base`` (default the cwd); a configured
    target is already anchored at its config file's directory.
    """
    target = target.strip()
    if target.startswith("zoo:"):
        return ("zoo", target[4:].strip())
    file_part, colon, attr = target.rpartition(":")
    path = target
    if colon and file_part.endswith(".py") and not Path(target).exists():
        path, entry = file_part, attr or entry
    p = Path(path)
    if path.endswith(".py") or p.is_file():
        try:
            where = ((base or Path.cwd()) / p).resolve()
        except (OSError, RuntimeError, ValueError):
            where = p
        return ("file", str(where), entry or None)
    mod, _, attr = target.partition(":")
    return ("module", mod.strip(), (attr.strip() or entry) or None)


def names_same_model(spec: ModelSpec, target: str, entry: str | None = None) -> bool:
    """Whether a command-line ``target`` names the model ``spec`` is configured for.

    Paths are compared resolved, so ``../models/big.py`` finds the model
    configured as ``models/big.py``; an entry point the command line does not
    name matches whatever entry the config gives.
    """
    mine, theirs = target_identity(spec.target, spec.entry), target_identity(target, entry)
    if mine[:2] != theirs[:2]:
        return False
    if mine[0] == "zoo" or theirs[2] is None:
        return True
    return (mine[2] or ENTRY_FUNCTION) == theirs[2]


#: Said by ``acecost check`` when a model has no budget, baseline or --strict.
HOW_TO_BUDGET = ("give a budget (e.g. --max-ace 5G, --max-size 4MB), --baseline BASE.json or --strict, "
                 "or set max_* for it in [tool.acecost] of pyproject.toml (see 'acecost check --help')")


def nothing_to_check(spec: ModelSpec) -> bool:
    """A model with no budget, no baseline and no --strict would pass whatever it cost."""
    return not spec.budgets and spec.baseline is None and not spec.strict


# -------------------------------------------------------------- verdicts


def totals_of(report: Any) -> dict[str, Any]:
    """The totals of a Report object or of its ``to_dict()`` form."""
    if isinstance(report, dict):
        return report["totals"]
    totals = report.totals
    if isinstance(totals, dict):
        return totals
    return {k: getattr(totals, k) for k in vars(totals)}


def evaluate(totals: dict[str, Any], budgets: dict[str, Number],
             texts: dict[str, str] | None = None) -> list[BudgetRow]:
    """Each budget as a row; rows follow METRICS order, not config order.

    ``texts`` are the budgets as the user wrote them, echoed back in messages."""
    rows = []
    for name, metric in METRICS.items():
        if name not in budgets:
            continue
        if metric.totals_key not in totals:
            raise ConfigError(f"the report has no total {metric.totals_key!r} for the {name} budget")
        value, budget = totals[metric.totals_key], budgets[name]
        if value is None:
            why = ("give the model a --hardware (or a 'hardware' key)" if metric.kind == "time"
                   else "the report predates it; analyse the model again")
            raise ConfigError(f"the report's {metric.totals_key} is unknown for the {name} budget: {why}")
        if budget > 0:
            headroom = (budget - value) / budget * 100
        else:
            headroom = 0.0 if value == 0 else None
        rows.append(BudgetRow(name, metric.label, value, budget, value <= budget, headroom,
                              (texts or {}).get(name)))
    return rows


def check_regression(
    totals: dict[str, Any], baseline: dict[str, Any], max_increase_pct: float
) -> list[RegressionRow]:
    """Fail any cost metric that grew by more than ``max_increase_pct`` percent."""
    rows = []
    for name in REGRESSION_METRICS:
        metric = METRICS[name]
        if totals.get(metric.totals_key) is None or baseline.get(metric.totals_key) is None:
            continue  # not in one of them, or unknown there (a report saved before it was counted)
        value, base = totals[metric.totals_key], baseline[metric.totals_key]
        # Exact arithmetic: a value exactly at the allowed increase passes.
        pct = Fraction(repr(float(max_increase_pct)))
        passed = Fraction(value) * 100 <= Fraction(base) * (100 + pct)
        if base > 0:
            change = (value - base) / base * 100
        else:
            change = 0.0 if value == 0 else None
        rows.append(RegressionRow(name, metric.label, base, value, max_increase_pct, passed, change))
    return rows
