"""Group bounds and their aligned blocks (acecost.engine.values.groups), checked by brute force.

For every claim an input can carry along each axis (constant, aligned blocks
of a divisor of its length; the coordinate mod a divisor: groups that are not
aligned blocks; free), build the most varying array the claim allows, apply
the operation, and check each bound the rule states against the array: the
number of distinct slices along the axis (a bound) and, for an aligned block
``b``, that the slices are equal within each aligned run of ``b`` coordinates
(so that there are at most ``ceil(L / b)`` maximal runs of equal slices).
"""
from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from acecost.engine.values import groups as G


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def claims(length):
    """(class of each coordinate, the claim's entry (n, block) or 'const' / 'free')."""
    yield np.zeros(length, np.int64), "const"
    yield np.arange(length), "free"
    for d in divisors(length)[1:-1]:
        yield np.arange(length) // (length // d), (d, length // d)  # d aligned blocks
        yield np.arange(length) % d, (d, None)  # d groups, interleaved
    for b in range(2, length):
        if length % b:  # aligned blocks that do not tile the axis: the last one is short
            yield np.arange(length) // b, (-(-length // b), b)


def build(shape, per_axis):
    """An array whose elements are equal exactly where every axis's class is."""
    classes = [c for c, _ in per_axis]
    grid = np.stack(np.meshgrid(*classes, indexing="ij"), -1).reshape(-1, len(shape))
    _, ids = np.unique(grid, axis=0, return_inverse=True)
    along = frozenset(a for a, (_, e) in enumerate(per_axis) if e != "const")
    bounds = tuple((a, *e) for a, (_, e) in enumerate(per_axis) if isinstance(e, tuple))
    return ids.reshape(shape), along, bounds


def check(arr, bounds):
    for axis, n, block in bounds:
        axes = list(axis) if isinstance(axis, tuple) else [axis]  # a joint bound: the axes together
        length = int(np.prod([arr.shape[a] for a in axes]))
        cols = np.moveaxis(arr, axes, list(range(len(axes)))).reshape(length, -1)
        assert len({c.tobytes() for c in cols}) <= n, (axis, n)
        if block:
            assert all(np.array_equal(cols[i], cols[i - i % block]) for i in range(len(cols))), (axis, block)
            changes = sum(not np.array_equal(cols[i], cols[i - 1]) for i in range(1, len(cols)))
            assert changes + 1 <= -(-len(cols) // block), (axis, block, "runs")


MERGES = [((4, 8), (32,)), ((2, 4, 8), (8, 8)), ((2, 4, 8), (64,)), ((8, 4), (2, 4, 4)), ((4, 2, 4), (8, 4)),
          ((3, 4, 2), (12, 2)), ((3, 4, 2), (3, 8)), ((2, 6), (12,))]
SPLITS = [((32,), (4, 8)), ((16, 2), (4, 8)), ((12,), (2, 6))]  # a split: a joint bound on its parts


@pytest.mark.parametrize("in_shape, out_shape", MERGES + SPLITS)
def test_reshape_bounds_hold_by_brute_force(in_shape, out_shape):
    stated = blocks = joint = 0
    for per_axis in itertools.product(*(list(claims(d)) for d in in_shape)):
        arr, along, bounds = build(in_shape, per_axis)
        check(arr, bounds)
        out = G.reshaped(in_shape, out_shape, along, bounds)
        check(arr.reshape(out_shape), out)
        stated += len(out)
        blocks += sum(1 for _, _, b in out if b and b > 1)
        joint += sum(isinstance(a, tuple) for a, _, _ in out)
    if (in_shape, out_shape) in MERGES:
        assert stated and blocks  # the reshape does state bounds, and aligned blocks, for some claims
    elif len(in_shape) == 1:
        assert joint  # and joint bounds across a split of a whole axis


@pytest.mark.parametrize("shape, reps", [((4,), (3,)), ((2, 6), (1, 2)), ((6, 2), (2, 2))])
def test_tile_bounds_hold_by_brute_force(shape, reps):
    for per_axis in itertools.product(*(list(claims(d)) for d in shape)):
        arr, along, bounds = build(shape, per_axis)
        check(np.tile(arr, reps), G._tiled(shape, reps, along, bounds))


def test_joint_bounds_of_two_values_hold_by_brute_force():
    """An elementwise function of two values is one value per pair: ``product``'s bound on the
    pair (the product of counts; for two aligned partitions a function of ``i // gcd`` and
    their boundaries together, whichever is fewer)."""
    shape = (12, 2)
    every = [build(shape, p) for p in itertools.product(*(list(claims(d)) for d in shape))]
    joint_blocks = by_boundaries = 0
    for (a, along_a, ga), (b, along_b, gb) in itertools.product(every, repeat=2):
        for out in (G.product([(along_a, ga), (along_b, gb)], along_a | along_b),
                    G.product([(along_a, ga), (along_b, gb)], along_a | along_b, shape)):
            check(a * 1000 + b, out)
        joint_blocks += sum(1 for ax, n, blk in out if blk and ax in along_a & along_b)
        # blocks of 4 and 6 along 12: gcd 2 allows 6 groups, the boundaries together only 4
        by_boundaries += sum(1 for ax, n, blk in out if blk and n < -(-shape[ax] // blk))
    assert joint_blocks and by_boundaries


def _eqn(name, **params):
    return SimpleNamespace(primitive=SimpleNamespace(name=name), params=params)


PARTS = [
    ((12,), _eqn("slice", start_indices=(0,), limit_indices=(8,), strides=None), lambda x: x[0:8]),
    ((12,), _eqn("slice", start_indices=(4,), limit_indices=(12,), strides=None), lambda x: x[4:12]),
    ((12,), _eqn("slice", start_indices=(3,), limit_indices=(11,), strides=None), lambda x: x[3:11]),
    ((12,), _eqn("slice", start_indices=(0,), limit_indices=(12,), strides=(2,)), lambda x: x[0:12:2]),
    ((12,), _eqn("slice", start_indices=(1,), limit_indices=(12,), strides=(3,)), lambda x: x[1:12:3]),
    ((12,), _eqn("rev", dimensions=(0,)), lambda x: x[::-1]),
    ((12, 2), _eqn("slice", start_indices=(6, 0), limit_indices=(12, 2), strides=None), lambda x: x[6:12]),
    ((12,), _eqn("dynamic_slice", slice_sizes=(8,)), lambda x: x[2:10]),
    ((12,), _eqn("dynamic_slice", slice_sizes=(12,)), lambda x: x),
]


@pytest.mark.parametrize("shape, eqn, part", PARTS)
def test_part_bounds_hold_by_brute_force(shape, eqn, part):
    """A part of the coordinates takes no more groups; aligned blocks stay aligned only where
    the part starts on a block boundary (``dynamic_slice``'s start is unknown: the example's
    start 2 stands for any)."""
    for per_axis in itertools.product(*(list(claims(d)) for d in shape)):
        arr, along, bounds = build(shape, per_axis)
        check(part(arr), G._part_groups(eqn, shape, bounds))


def test_split_keeps_blocks_only_at_block_boundaries():
    arr, _, bounds = build((12,), [(np.arange(12) // 4, (3, 4))])
    for sizes in ((4, 8), (6, 6)):
        out = G._part_groups(_eqn("split", sizes=sizes, axis=0), (12,), bounds)
        for piece in np.split(arr, np.cumsum(sizes)[:-1]):
            check(piece, out)
    assert G._part_groups(_eqn("split", sizes=(4, 8), axis=0), (12,), bounds) == ((0, 3, 4),)
    assert G._part_groups(_eqn("split", sizes=(6, 6), axis=0), (12,), bounds) == ((0, 3, None),)
