"""Reading the sub-jaxprs of an equation: what the control-flow rules share."""
from __future__ import annotations

from jax.extend.core import ClosedJaxpr, Jaxpr

from acecost.engine.values.value import Value

def subjaxprs(eqn) -> list:
    found = []
    for value in eqn.params.values():
        items = value if isinstance(value, (tuple, list)) else (value,)
        found.extend(v for v in items if isinstance(v, (ClosedJaxpr, Jaxpr)))
    return found


def unpack_jaxpr(j) -> tuple[Jaxpr, list]:
    return (j.jaxpr, list(j.consts)) if isinstance(j, ClosedJaxpr) else (j, [])


#: Primitives that call one jaxpr with their inputs (``shard_map`` too, priced per device).
CALL_PRIMITIVES = ("jit", "pjit", "closed_call", "core_call", "remat2", "checkpoint",
                   "custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr", "custom_lin",
                   "xla_call", "named_call")


def called_jaxpr(eqn):
    """The body a call primitive runs (its parameter is named differently per primitive)."""
    return eqn.params.get("jaxpr") or eqn.params.get("call_jaxpr") or eqn.params.get("fun_jaxpr")


def out_values(interp, eqn, values: list[Value]) -> list[Value]:
    return [interp.rebind(v, var.aval) for v, var in zip(values, eqn.outvars)]


