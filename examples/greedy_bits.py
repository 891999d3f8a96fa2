"""Greedy per-layer bit allocation under an ACE budget, priced with ``Report.reprice``.

The model is analysed once; every candidate allocation is the same walk
priced again (well under a millisecond for ResNet-50), exactly what
``acecost analyze --bits ...`` of that allocation reports. Starting from
every layer at 8 x 8 bits, the step that saves the most ACE (one layer one
step narrower: 8 -> 4 -> 2 -> 1 bits on both operands) is taken until the
total ACE is within the budget.

    python examples/greedy_bits.py                       # zoo:resnet50-w4a4, half its 8-bit ACE
    python examples/greedy_bits.py examples/quantized_cnn.py 0.3

This file is a script, not a model file for ``acecost analyze``.
"""
from __future__ import annotations

import re
import sys

#: the (activation, weight) widths a layer may take, widest first
STEPS = ((8, 8), (4, 4), (2, 2), (1, 1))


def overrides(levels: dict[str, int]) -> list[str]:
    """``--bits`` overrides giving each layer (by its exact name) its step's widths."""
    return [f"^{re.escape(name)}$={STEPS[k][0]},{STEPS[k][1]}" for name, k in levels.items()]


def allocate(report, budget: int):
    """(overrides, report) of a greedy allocation whose ACE is at most ``budget``.

    ``report`` is any analysis of the model (its own overrides are replaced).
    Raises ValueError when even every layer at the narrowest step is over budget.
    """
    levels = {r.name: 0 for r in report.layers}
    current = report.reprice(bits=overrides(levels))
    while current.totals.ace > budget:
        best = None
        for name, k in levels.items():
            if k + 1 == len(STEPS):
                continue
            trial = report.reprice(bits=overrides({**levels, name: k + 1}))
            saved = current.totals.ace - trial.totals.ace
            if best is None or saved > best[0]:
                best = (saved, name, trial)
        if best is None:
            raise ValueError(f"no allocation reaches an ACE of {budget:,}: the narrowest is "
                             f"{current.totals.ace:,}")
        levels[best[1]] += 1
        current = best[2]
    return overrides(levels), current


def main(target: str = "zoo:resnet50-w4a4", fraction: float = 0.5) -> None:
    import acecost
    from acecost.load.resolve import resolve

    report = acecost.analyze_target(resolve(target))
    widest = report.reprice(bits=[".*=8,8"]).totals.ace
    bits, best = allocate(report, int(widest * fraction))
    print(f"{target}: every layer 8x8 is {widest:,} ACE; budget {fraction:g} of it -> {best.totals.ace:,} ACE")
    for r in best.layers:
        print(f"  {r.name:50s} {r.bits_a} x {r.bits_w}")


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["zoo:resnet50-w4a4"]), *(float(x) for x in sys.argv[2:3]))
