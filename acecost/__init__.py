"""acecost: what a quantized or binarized JAX model really costs in hardware.

``acecost.analyze(fn, *args)`` traces ``fn`` abstractly, infers the bit-width
of every dot/conv operand and returns a :class:`Report` with MACs, ACE, BOPs,
CPU64, size and elementwise work, per layer and in total.
"""
from acecost.api import analyze, analyze_jaxpr, analyze_target, analyze_train, parse_override
from acecost.errors import AcecostError, ConfigError, TargetError
from acecost.report import OpRecord, ParamRecord, Report, Totals
from acecost.tag import tag
from acecost.target import Target

__version__ = "0.1.0"


def sweep(model, grid=None, **kwargs):
    """Price every point of a design space -> pandas.DataFrame (see :func:`acecost.sweeps.sweep`)."""
    from acecost.sweeps import sweep as _sweep

    return _sweep(model, grid, **kwargs)


__all__ = [
    "AcecostError", "ConfigError", "OpRecord", "ParamRecord", "Report", "Target", "TargetError",
    "Totals", "analyze", "analyze_jaxpr", "analyze_target", "analyze_train", "parse_override", "sweep", "tag", "__version__",
]
