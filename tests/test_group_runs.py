"""Group bounds in runs (acecost.bits.groups), checked by brute force.

For every claim an input can carry along each axis (constant, aligned blocks
of a divisor of its length: runs; the coordinate mod a divisor: groups that are
not runs; free), build the most varying array the claim allows, apply the
operation, and check each bound the rule states against the array: the number
of distinct slices along the axis (a bound) and, for runs, the number of
maximal runs of equal consecutive slices.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from acecost.bits import groups as G


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def claims(length):
    """(class of each coordinate, the claim's entry or 'const' / 'free')."""
    yield np.zeros(length, np.int64), "const"
    yield np.arange(length), "free"
    for d in divisors(length)[1:-1]:
        yield np.arange(length) // (length // d), (d, True)  # d aligned blocks
        yield np.arange(length) % d, (d, False)  # d groups, interleaved


def build(shape, per_axis):
    """An array whose elements are equal exactly where every axis's class is."""
    classes = [c for c, _ in per_axis]
    grid = np.stack(np.meshgrid(*classes, indexing="ij"), -1).reshape(-1, len(shape))
    _, ids = np.unique(grid, axis=0, return_inverse=True)
    along = frozenset(a for a, (_, e) in enumerate(per_axis) if e != "const")
    bounds = tuple((a, *e) for a, (_, e) in enumerate(per_axis) if isinstance(e, tuple))
    return ids.reshape(shape), along, bounds


def check(arr, bounds):
    for axis, n, runs in bounds:
        axes = list(axis) if isinstance(axis, tuple) else [axis]  # a joint bound: the axes together
        length = int(np.prod([arr.shape[a] for a in axes]))
        cols = np.moveaxis(arr, axes, list(range(len(axes)))).reshape(length, -1)
        assert len({c.tobytes() for c in cols}) <= n, (axis, n)
        if runs:
            changes = sum(not np.array_equal(cols[i], cols[i - 1]) for i in range(1, len(cols)))
            assert changes + 1 <= n, (axis, n, "runs")


MERGES = [((4, 8), (32,)), ((2, 4, 8), (8, 8)), ((2, 4, 8), (64,)), ((8, 4), (2, 4, 4)), ((4, 2, 4), (8, 4)),
          ((3, 4, 2), (12, 2)), ((3, 4, 2), (3, 8)), ((2, 6), (12,))]
SPLITS = [((32,), (4, 8)), ((16, 2), (4, 8)), ((12,), (2, 6))]  # a split: a joint bound on its parts


@pytest.mark.parametrize("in_shape, out_shape", MERGES + SPLITS)
def test_reshape_bounds_hold_by_brute_force(in_shape, out_shape):
    stated = runs = joint = 0
    for per_axis in itertools.product(*(list(claims(d)) for d in in_shape)):
        arr, along, bounds = build(in_shape, per_axis)
        check(arr, bounds)
        out = G.reshaped(in_shape, out_shape, along, bounds)
        check(arr.reshape(out_shape), out)
        stated += len(out)
        runs += sum(r for _, _, r in out)
        joint += sum(isinstance(a, tuple) for a, _, _ in out)
    if (in_shape, out_shape) in MERGES:
        assert stated and runs  # the reshape does state bounds, and runs, for some claims
    elif len(in_shape) == 1:
        assert joint  # and joint bounds across a split of a whole axis


@pytest.mark.parametrize("shape, reps", [((4,), (3,)), ((2, 6), (1, 2)), ((6, 2), (2, 2))])
def test_tile_bounds_hold_by_brute_force(shape, reps):
    for per_axis in itertools.product(*(list(claims(d)) for d in shape)):
        arr, along, bounds = build(shape, per_axis)
        check(np.tile(arr, reps), G._tiled(shape, reps, along, bounds))


def test_joint_bounds_of_two_values_hold_by_brute_force():
    """An elementwise function of two values is one value per pair: ``product``'s bound on the
    pair (the product of counts, or for two run partitions their boundaries together)."""
    shape = (12, 2)
    every = [build(shape, p) for p in itertools.product(*(list(claims(d)) for d in shape))]
    joint_runs = 0
    for (a, along_a, ga), (b, along_b, gb) in itertools.product(every, repeat=2):
        out = G.product([(along_a, ga), (along_b, gb)], along_a | along_b)
        check(a * 1000 + b, out)
        joint_runs += sum(1 for ax, n, r in out if r and ax in along_a & along_b)
    assert joint_runs
