"""The ``cond`` rule: which branch of a conditional is priced.

See docs/design.md, "Branches": branches the index cannot select never
run; among the rest ``cond="max"`` prices the costliest and
``cond="quantized"`` the one whose outputs carry the fewest bits.
"""
from __future__ import annotations

import math

from acecost.engine.values.levels import ceil_log2, dtype_bits
from acecost.engine.values.value import Value
from acecost.engine.rules.jaxprs import out_values, unpack_jaxpr
from acecost.engine.rules.registry import higher_order, used_rule
from acecost.engine.rules.loops import join_values
from acecost.engine.tally import Tally


@higher_order("cond")
def _cond(interp, eqn, ins, scope, tally, masks=()):
    """Walk every branch; price the one that runs, or the one the mode picks.

    Branches outside the proven range of the index never run (a constant
    index leaves one). Among the rest, ``--cond max`` prices the costliest
    and joins all their outputs; ``--cond quantized`` takes the branch whose
    outputs carry the fewest bits (the quantizing side of a run-time switch)
    and only its outputs flow on. A branch that is not taken adds nothing.
    """
    operands = ins[1:]
    results = []
    for i, branch in enumerate(eqn.params["branches"]):
        jaxpr, consts = unpack_jaxpr(branch)
        child = Tally()
        outs = interp.run(jaxpr, consts, operands, scope, child, masks[i] if masks else None)
        results.append((child, outs))
    live, why = _reachable(ins[0], len(results))
    costs = [child.cost_key() for child, _ in results]  # (ACE, MACs, elementwise) of each branch
    bits = [_output_bits(outs) for _, outs in results]
    mode = interp.options.cond
    if len(live) == 1:
        (best,), mode = live, "constant"
    elif mode == "quantized":
        fewest = min(bits[i] for i in live)
        ties = [i for i in live if bits[i] == fewest]
        best = max(ties, key=costs.__getitem__)
        why = "its outputs carry the fewest bits" + (", then the highest cost" if len(ties) > 1 else "")
    else:
        best = max(live, key=costs.__getitem__)
        why = "the highest cost (ACE, then MACs)"
    taken = [best] if mode != "max" else live
    for i in taken:
        tally.merge(results[i][0], costs=(i == best))
    tally.branches.append({
        "scope": scope or "top level", "chosen": best, "mode": mode, "reason": why,
        "branches": [{"index": i, "macs": costs[i][1], "ace": costs[i][0], "elementwise_ops": costs[i][2],
                      "output_bits": bits[i], "can_run": i in live} for i in range(len(results))]})
    joined = results[taken[0]][1]
    for i in taken[1:]:
        joined = [join_values(a, b, scope) for a, b in zip(joined, results[i][1])]
    if len(live) > 1 and not ins[0].prep:
        # which branch's result flows on depends on a model input; the work inside each
        # branch is still priced by its own inputs
        joined = [v.with_(prep=False) if v.prep else v for v in joined]
    return out_values(interp, eqn, joined)


def _reachable(index: Value, n: int) -> tuple[list[int], str]:
    """Branches the index can select (it is clamped to ``[0, n-1]``), and why."""
    lv = index.levels
    if lv.lo is None or lv.hi is None or lv.lo > lv.hi or not (lv.integral or lv.const):
        return list(range(n)), ""
    lo = min(max(math.ceil(lv.lo), 0), n - 1)
    hi = min(max(math.floor(lv.hi), 0), n - 1)
    if lo == hi:
        return [lo], f"the index is always {lo}"
    return list(range(lo, hi + 1)), ""


def _output_bits(outs: list[Value]) -> int:
    """Bits the outputs carry: elements x width (levels if proven, else storage)."""
    total = 0
    for v in outs:
        lv = v.levels
        width = ceil_log2(lv.count) if lv.known else dtype_bits(v.dtype)
        total += v.size * width
    return total


@used_rule("cond")
def _cond_reads(lv, eqn, outs: tuple):
    """index, operands; an operand is read if any branch reads it."""
    branches = [unpack_jaxpr(b)[0] for b in eqn.params["branches"]]
    reads = [False] * (len(eqn.invars) - 1)
    for b in branches:
        for k, u in enumerate(lv.of(b, outs).used_inputs):
            reads[k] = reads[k] or u
    return (True, *reads), tuple(outs for _ in branches)
