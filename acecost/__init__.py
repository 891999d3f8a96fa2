"""acecost: what a quantized or binarized JAX model really costs in hardware.

``acecost.analyze(fn, *args)`` traces ``fn`` abstractly, infers the bit-width
of every dot/conv operand and returns a :class:`Report` with MACs, ACE, BOPs,
CPU64, size and elementwise work, per layer and in total.

The public names load on first use, so a command that fails on its options
(or only prints help) never pays for importing jax.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "analyze": "acecost.api", "analyze_jaxpr": "acecost.api", "analyze_target": "acecost.api",
    "analyze_train": "acecost.api", "parse_override": "acecost.api",
    "AcecostError": "acecost.errors", "ConfigError": "acecost.errors", "TargetError": "acecost.errors",
    "OpRecord": "acecost.report.model", "ParamRecord": "acecost.report.model", "Report": "acecost.report.model",
    "Totals": "acecost.report.model", "tag": "acecost.load.tag", "Target": "acecost.load.target",
    "keras_target": "acecost.load.keras", "register_primitive": "acecost.engine.rules.custom",
    "reprice": "acecost.report.reprice",
}

__all__ = sorted([*_EXPORTS, "sweep"]) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from acecost.api import analyze, analyze_jaxpr, analyze_target, analyze_train, parse_override
    from acecost.engine.rules.custom import register_primitive
    from acecost.errors import AcecostError, ConfigError, TargetError
    from acecost.load.keras import keras_target
    from acecost.report.model import OpRecord, ParamRecord, Report, Totals
    from acecost.load.tag import tag
    from acecost.load.target import Target
    from acecost.report.reprice import reprice


def sweep(model, grid=None, **kwargs):
    """Price every point of a design space -> pandas.DataFrame (see :func:`acecost.sweeps.sweep`)."""
    from acecost.sweeps import sweep as _sweep

    return _sweep(model, grid, **kwargs)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'acecost' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
