"""Frontier and dominance: hand-worked cases plus a brute-force cross-check."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acecost.figures.pareto import Point, dominated_by, dominates, frontier, frontier_mask


def P(cost, acc, name=""):
    return Point(name or f"{cost}/{acc}", cost, acc)


def coords(points):
    return [(p.cost, p.accuracy) for p in points]


def test_empty():
    assert frontier([]) == []
    assert frontier_mask([]) == []


def test_single_point_is_its_own_frontier():
    p = P(3.0, 70.0)
    assert frontier([p]) == [p]
    assert frontier_mask([p]) == [True]


def test_dominated_points_are_dropped_and_result_is_sorted_by_cost():
    pts = [P(5, 72), P(1, 60), P(3, 65), P(4, 64), P(6, 71), P(2, 59)]
    # (4, 64) is beaten by (3, 65); (6, 71) by (5, 72); (2, 59) by (1, 60).
    assert frontier_mask(pts) == [True, True, True, False, False, False]
    assert coords(frontier(pts)) == [(1, 60), (3, 65), (5, 72)]


def test_equal_cost_keeps_only_the_more_accurate():
    pts = [P(2, 70), P(2, 72), P(1, 50)]
    assert frontier_mask(pts) == [False, True, True]
    assert coords(frontier(pts)) == [(1, 50), (2, 72)]


def test_equal_accuracy_keeps_only_the_cheaper():
    pts = [P(3, 70), P(2, 70), P(5, 71)]
    assert frontier_mask(pts) == [False, True, True]
    assert coords(frontier(pts)) == [(2, 70), (5, 71)]


def test_exact_duplicates_are_both_undominated_but_drawn_once():
    a, b, c = P(2, 70, "a"), P(2, 70, "b"), P(1, 60, "c")
    assert frontier_mask([a, b, c]) == [True, True, True]
    fr = frontier([a, b, c])
    assert [p.name for p in fr] == ["c", "a"]  # first duplicate kept


def test_a_point_does_not_dominate_its_duplicate():
    assert not dominates(P(2, 70), P(2, 70))
    assert dominates(P(2, 70), P(2, 69))
    assert dominates(P(1, 70), P(2, 70))
    assert not dominates(P(1, 69), P(2, 70))


def test_non_finite_values_are_rejected():
    with pytest.raises(ValueError):
        Point("x", math.nan, 70.0)
    with pytest.raises(ValueError):
        Point("x", 1.0, math.inf)
    with pytest.raises(ValueError):
        Point("x", "1", 70.0)  # type: ignore[arg-type]


def test_dominated_by_picks_the_cheapest_reference_at_equal_or_better_accuracy():
    refs = [P(2.5, 70.5, "small"), P(7.8, 75.6, "large"), P(1.0, 60.0, "tiny")]
    d = dominated_by(P(5.0, 70.0, "mine"), refs)
    assert d is not None and d.by.name == "small"
    assert d.ratio == pytest.approx(5.0 / 2.5)
    # More accurate than every cheaper reference: not dominated.
    assert dominated_by(P(5.0, 71.0), refs) is None
    # Same cost, better reference accuracy: dominated at ratio 1.
    same = dominated_by(P(7.8, 75.0), refs)
    assert same is not None and same.by.name == "large" and same.ratio == 1.0
    # A reference identical to the point does not dominate it.
    assert dominated_by(P(2.5, 70.5), refs) is None


def test_dominated_by_prefers_the_more_accurate_of_equally_cheap_references():
    refs = [P(2.0, 70.0, "a"), P(2.0, 71.0, "b")]
    d = dominated_by(P(4.0, 69.0), refs)
    assert d is not None and d.by.name == "b" and d.ratio == 2.0


def brute_mask(pts):
    return [
        not any(
            q.cost <= p.cost and q.accuracy >= p.accuracy and (q.cost < p.cost or q.accuracy > p.accuracy)
            for q in pts
        )
        for p in pts
    ]


small = st.integers(min_value=0, max_value=6)  # few values: many ties and duplicates


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(small, small), max_size=12))
def test_mask_and_frontier_match_brute_force(raw):
    pts = [P(float(c), float(a)) for c, a in raw]
    mask = frontier_mask(pts)
    assert mask == brute_mask(pts)
    fr = coords(frontier(pts))
    assert fr == sorted({(p.cost, p.accuracy) for p, m in zip(pts, mask) if m})
    # Along the frontier cost and accuracy both strictly increase.
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(fr, fr[1:]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(small, small), min_size=1, max_size=8), st.tuples(small, small))
def test_dominated_by_matches_brute_force(raw_refs, raw_point):
    refs = [P(float(c) + 1, float(a)) for c, a in raw_refs]
    point = P(float(raw_point[0]) + 1, float(raw_point[1]))
    beating = [r for r in refs if dominates(r, point)]
    d = dominated_by(point, refs)
    if not beating:
        assert d is None
    else:
        cheapest = min(r.cost for r in beating)
        assert d is not None and d.by.cost == cheapest
        assert d.by.accuracy == max(r.accuracy for r in beating if r.cost == cheapest)
        assert d.ratio == point.cost / cheapest
