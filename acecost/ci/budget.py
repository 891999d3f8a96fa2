"""Cost budgets: what a model may cost, where that is configured, and verdicts.

A budget is an upper bound on one total of a report (``ace``, ``cpu64``,
``size_bits`` ...). Budgets live next to the code they guard, in
``[tool.acecost]`` of ``pyproject.toml`` or in ``acecost.toml``, so that CI
and developers check the same numbers::

    [[tool.acecost.models]]
    name = "mlp"
    target = "models/mlp.py"
    input_shape = [1, 784]
    bits = ["Dense_0=8,8"]
    max_ace = "5e9"
    max_size = "4MB"
    baseline = "costs/mlp.json"
    max_increase = "2%"

Keys set directly in ``[tool.acecost]`` (other than ``models``) are defaults
for every model. Unknown keys are errors, so a typo never silently disables
a budget.
"""

from __future__ import annotations

import tomllib
from fractions import Fraction
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from acecost.errors import ConfigError
from acecost.load.target import ENTRY_FUNCTION
from acecost.ci.tomllines import key_lines
from acecost.options import (  # noqa: F401  (the option parsers are part of this module's API)
    OPTIONS, GivenOptions, MAX_COUNT, MAX_DIM, MODES, parse_batch, parse_cond, parse_scales, parse_bits_override, parse_dtype, parse_entry, parse_float_bits,
    parse_input_shape, parse_int, parse_mode, parse_resolution, parse_while_trips,
)
from acecost.units import Number, parse_percent
from acecost.metrics import BUDGETS, REGRESSIONS, Metric, echo_budget


# The budgetable metrics and the ones checked against a baseline come from the
# one table of metrics (acecost.metrics), in its choice order: check lists its
# rows, and writes them in its JSON, in that order. BOPs have no regression
# check: more binary MACs at equal MACs is a cheaper model, and an increase that
# is a real cost shows up in MACs, ACE and CPU64.
METRICS: dict[str, Metric] = BUDGETS
REGRESSION_METRICS = tuple(REGRESSIONS)

BUDGET_KEYS = {f"max_{name}": name for name in METRICS}
OPTION_KEYS = {
    "input_shape", "dtype", "entry", "resolution", "batch", "baseline", "max_increase", "strict",
} | {o.name for o in OPTIONS if o.config}  # the analysis options' keys come from their table
MODEL_KEYS = {"name", "target"} | OPTION_KEYS | set(BUDGET_KEYS)


@dataclass
class ModelSpec(GivenOptions):
    """One model to check: how to build its report and what it may cost.

    Its analysis options (``float_bits``, ``bits``, ``mode`` ...) are the
    fields of :class:`acecost.options.GivenOptions`, one per table entry,
    keyword-only, None (``[]``) when not given.
    """

    name: str
    target: str
    input_shape: tuple[int, ...] | None = None
    dtype: str | None = None
    entry: str | None = None
    resolution: int | None = None  # zoo models only
    batch: int | None = None  # zoo models only
    params: dict[str, Any] | None = None  # keyword arguments of the entry (--param; not a config key)
    budgets: dict[str, Number] = field(default_factory=dict)
    budget_text: dict[str, str] = field(default_factory=dict)  # metric -> the budget as the user wrote it
    baseline: Path | None = None
    max_increase: float | None = None
    strict: bool = False
    config: Path | None = None  # the file the model is configured in
    lines: dict[str, int] = field(default_factory=dict)  # key -> its line there ("" the model's table)


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


# ---------------------------------------------------------------- options


def parse_budget(metric: str, raw: object, where: str | None = None) -> Number:
    """A budget value for ``metric`` ('ace', 'size', ...) in readable units."""
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    return METRICS[metric].parse(raw, where or f"max_{metric}")


# ----------------------------------------------------------------- config


def find_config(cwd: Path) -> tuple[Path, dict[str, Any]] | None:
    """``[tool.acecost]`` of ``pyproject.toml``, else ``acecost.toml``, in ``cwd``."""
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        table = _tool_table(_read_toml(pyproject), pyproject)
        if table is not None:
            return pyproject, table
    acecost_toml = cwd / "acecost.toml"
    if acecost_toml.is_file():
        return acecost_toml, _read_toml(acecost_toml)
    return None


def read_config_file(path: Path) -> dict[str, Any]:
    """The acecost table of an explicit ``--config`` file."""
    data = _read_toml(path)
    if path.name == "pyproject.toml" or "tool" in data:
        table = _tool_table(data, path)
        if table is None:
            raise ConfigError(f"{path}: no [tool.acecost] table")
        return table
    return data


def _tool_table(data: dict[str, Any], path: Path) -> Any:
    """``[tool.acecost]`` or None; a ``tool`` that is not a table is an error."""
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: 'tool' must be a table, not {type(tool).__name__}")
    return tool.get("acecost")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}): TOML files are UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


def load_models(table: dict[str, Any], path: Path) -> list[ModelSpec]:
    """Validate an acecost config table and build one spec per model."""
    where = f"{path}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: the acecost configuration must be a table")
    unknown = set(table) - (OPTION_KEYS | set(BUDGET_KEYS) | {"models"})
    if unknown:
        raise ConfigError(f"{where}: {_unknown_key_message(sorted(unknown)[0], 'acecost')}")
    models = table.get("models")
    if models is None:
        raise ConfigError(f"{where}: no models configured (add [[tool.acecost.models]] entries)")
    if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
        raise ConfigError(f"{where}: 'models' must be an array of tables")
    if not models:
        raise ConfigError(f"{where}: no models configured")
    defaults = {k: v for k, v in table.items() if k != "models"}
    specs: list[ModelSpec] = []
    lines = key_lines(path)
    for i, entry in enumerate(models):
        try:
            spec = _model_spec({**defaults, **entry}, f"{where}: models[{i}]", path.parent)
            specs.append(replace(spec, config=path, lines=lines.of_model(i, entry)))
        except ConfigError as e:  # every config error names the file it is in
            msg = str(e)
            raise ConfigError(msg if msg.startswith(where) else f"{where}: {msg}") from None
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"{where}: duplicate model name {spec.name!r}")
        seen.add(spec.name)
    return specs


def _unknown_key_message(key: str, owner: str) -> str:
    if key.startswith("max_") and key != "max_increase":
        return f"unknown budget {key!r} in {owner} (known: {', '.join(BUDGET_KEYS)})"
    return f"unknown key {key!r} in {owner} (known: {', '.join(sorted(MODEL_KEYS))})"


def _anchor_hardware(entry: dict[str, Any], root: Path) -> dict[str, Any]:
    """A device file named in the config is relative to the config file, like targets and baselines."""
    hw = entry.get("hardware")
    if isinstance(hw, str) and hw.strip().lower().endswith((".toml", ".json")) and not Path(hw.strip()).is_absolute():
        return {**entry, "hardware": str(root / hw.strip())}
    return entry


def _model_spec(entry: dict[str, Any], where: str, root: Path) -> ModelSpec:
    name = entry.get("name")
    label = f"model {name!r}" if isinstance(name, str) else where.split(": ")[-1]
    for key in entry:
        if key not in MODEL_KEYS:
            raise ConfigError(f"{where}: {_unknown_key_message(key, label)}")
    target = entry.get("target")
    if not isinstance(target, str) or not target.strip():
        raise ConfigError(f"{where}: {label} has no 'target' (a model file, module:attr or zoo:NAME)")
    if name is None:
        name = target
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: 'name' must be a non-empty string")

    def opt(key: str, parse: Callable[[object, str], Any]) -> Any:
        return parse(entry[key], f"{key} of {label}") if key in entry else None

    anchored = _anchor_hardware(entry, root)
    try:
        options = {o.name: o.from_config(anchored[o.name], label, where) for o in OPTIONS
                   if o.config and o.name in anchored}
    except ConfigError as exc:  # quote the device file as the config names it
        if anchored is entry:
            raise
        raise ConfigError(str(exc).replace(repr(anchored["hardware"]), repr(entry["hardware"]))) from None
    if options.get("weights") is not None:  # a checkpoint, like a model file, is the config's neighbour
        options["weights"] = str(root / options["weights"])
    dtype = opt("dtype", parse_dtype)
    entry_point = opt("entry", parse_entry)
    strict = entry.get("strict", False)
    if not isinstance(strict, bool):
        raise ConfigError(f"{where}: 'strict' of {label} must be true or false")
    baseline = entry.get("baseline")
    if baseline is not None:
        if not isinstance(baseline, str):
            raise ConfigError(f"{where}: 'baseline' of {label} must be a path")
        baseline = root / baseline
    budgets = {
        metric: parse_budget(metric, entry[key], f"{key} of {label}")
        for key, metric in BUDGET_KEYS.items()
        if key in entry
    }
    budget_text = {metric: echo_budget(entry[key], METRICS[metric]) for key, metric in BUDGET_KEYS.items()
                   if key in entry}
    return ModelSpec(
        name=name,
        target=_anchor_target(target.strip(), root),
        input_shape=opt("input_shape", parse_input_shape),
        dtype=dtype,
        entry=entry_point,
        resolution=opt("resolution", parse_resolution),
        batch=opt("batch", parse_batch),
        **options,
        budgets=budgets,
        budget_text=budget_text,
        baseline=baseline,
        max_increase=opt("max_increase", parse_percent),
        strict=strict,
    )


def _anchor_target(target: str, root: Path) -> str:
    """Model-file targets are relative to the config file, not the cwd."""
    path, sep, attr = target.partition(":")
    if path.endswith(".py") and not Path(path).is_absolute():
        return str(root / path) + sep + attr
    return target


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


def override(spec: ModelSpec, **changes: Any) -> ModelSpec:
    """Command-line values win over the config; ``None`` means 'not given'.

    A value given on the command line is no longer at its config line.
    """
    cli_budgets = changes.pop("budgets", None) or {}
    cli_text = changes.pop("budget_text", None) or {}
    budgets = {**spec.budgets, **cli_budgets}
    budget_text = {**{k: v for k, v in spec.budget_text.items() if k not in cli_budgets}, **cli_text}
    given = {k: v for k, v in changes.items() if v is not None and v != []}
    moved = {f"max_{m}" for m in cli_budgets} | set(given)
    lines = {k: v for k, v in spec.lines.items() if k not in moved}
    return replace(spec, budgets=budgets, budget_text=budget_text, lines=lines, **given)


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
