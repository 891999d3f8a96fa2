"""Accuracy-versus-cost Pareto frontiers.

Lower cost and higher accuracy are better. Point ``a`` *dominates* ``b`` when
``a`` costs no more, is at least as accurate, and is strictly better in one of
the two. The frontier is the set of points nothing dominates.

Exact duplicates do not dominate each other, so both are on the frontier (a
model is not "beaten" by its own copy); :func:`frontier` still returns each
distinct (cost, accuracy) once, because a step line needs every vertex once.

Everything here is pure arithmetic on numbers, so the plot, the text output
and the tests share one definition.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    """A model on an accuracy-versus-cost plane (cost in raw units)."""

    name: str
    cost: float
    accuracy: float

    def __post_init__(self) -> None:
        for field, value in (("cost", self.cost), ("accuracy", self.accuracy)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{self.name!r}: {field} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{self.name!r}: {field} must be finite, got {value!r}")


@dataclass(frozen=True)
class Dominance:
    """``point`` costs ``ratio`` times what ``by`` costs at no better accuracy."""

    point: Point
    by: Point
    ratio: float


def dominates(a: Point, b: Point) -> bool:
    """True when ``a`` is at least as good as ``b`` on both axes and better on one."""
    return (
        a.cost <= b.cost
        and a.accuracy >= b.accuracy
        and (a.cost < b.cost or a.accuracy > b.accuracy)
    )


def frontier_mask(points: Sequence[Point]) -> list[bool]:
    """For each point, in input order: is it on the frontier (undominated)?

    Sort by cost; a point is dominated exactly when a strictly cheaper point
    is at least as accurate, or a point of the same cost is more accurate.
    O(n log n).
    """
    order = sorted(range(len(points)), key=lambda i: points[i].cost)
    mask = [False] * len(points)
    best_cheaper = -math.inf  # best accuracy among strictly cheaper points
    i = 0
    while i < len(order):
        j = i
        cost = points[order[i]].cost
        while j < len(order) and points[order[j]].cost == cost:
            j += 1
        group = order[i:j]
        group_best = max(points[k].accuracy for k in group)
        for k in group:
            acc = points[k].accuracy
            mask[k] = acc > best_cheaper and acc >= group_best
        best_cheaper = max(best_cheaper, group_best)
        i = j
    return mask


def frontier(points: Iterable[Point]) -> list[Point]:
    """The undominated points by increasing cost, each distinct (cost, accuracy) once.

    Accuracy strictly increases along the result. Of exact duplicates the
    first in input order is kept, so the result is deterministic.
    """
    pts = list(points)
    seen: set[tuple[float, float]] = set()
    out: list[Point] = []
    for p, on in zip(pts, frontier_mask(pts)):
        key = (p.cost, p.accuracy)
        if on and key not in seen:
            seen.add(key)
            out.append(p)
    out.sort(key=lambda p: p.cost)
    return out


def dominated_by(point: Point, reference: Iterable[Point]) -> Dominance | None:
    """The reference point that beats ``point`` by the largest cost ratio, if any.

    Among reference points that dominate ``point`` the cheapest is chosen
    (ties: the more accurate, then the first), because "N x the cost of a
    point at equal-or-better accuracy" is most informative with the largest N.
    """
    best: Point | None = None
    for r in reference:
        if not dominates(r, point):
            continue
        if best is None or (r.cost, -r.accuracy) < (best.cost, -best.accuracy):
            best = r
    if best is None:
        return None
    ratio = point.cost / best.cost if best.cost > 0 else math.inf
    return Dominance(point=point, by=best, ratio=ratio)
