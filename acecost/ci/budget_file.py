"""The budget file: where budgets are configured, read into one ModelSpec per model.

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

This module reads and validates that table (and lets command-line values win
over it); :mod:`acecost.ci.budget` checks a report against what it says.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from acecost.errors import ConfigError
from acecost.ci.tomllines import key_lines
from acecost.options import (
    OPTIONS, GivenOptions, parse_batch, parse_dtype, parse_entry, parse_input_shape, parse_resolution,
)
from acecost.units import Number, parse_percent
from acecost.metrics import BUDGETS, Metric, echo_budget


# The budgetable metrics come from the one table of metrics (acecost.metrics),
# in its choice order: check lists its rows, and writes them in its JSON, in
# that order.
METRICS: dict[str, Metric] = BUDGETS

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
