"""MACs of dot_general and conv_general_dilated against a brute-force count.

The brute force never uses acecost's formulas: a dot of all-ones arrays sums
to the number of products it performs, and a VALID conv of an all-ones
kernel over an input that is already padded (with ones, so padded taps count
like real ones, the convention of metrics.md) sums to output elements x
kernel taps x input features per group. With input dilation the holes hold
zeros, and each dilated dimension takes the fewer of the direct count (ones
on the dilation lattice, padding included) and the scatter count (ones at
real elements, padded so that nothing is cropped).
"""
from __future__ import annotations

import itertools
from math import prod

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from jax import lax

import acecost

S = jax.ShapeDtypeStruct
F32 = jnp.float32
PROPERTY = settings(deadline=None, max_examples=40, derandomize=True)


def analysed_macs(fn, *shapes) -> int:
    args = [S(s, F32) for s in shapes]
    return acecost.analyze(fn, *args, params_argnums=()).totals.macs


# ------------------------------------------------------------- dot_general

@st.composite
def dot_problems(draw):
    """Random dimension numbers: shuffled batch, contracting and free axes."""
    size = st.integers(1, 4)
    batch = draw(st.lists(size, max_size=2))
    contract = draw(st.lists(size, max_size=2))
    lfree = draw(st.lists(size, max_size=2))
    rfree = draw(st.lists(size, max_size=2))
    # role of each axis, then a random placement of the axes in each operand
    lhs_roles = [("b", i) for i in range(len(batch))] + [("c", i) for i in range(len(contract))] + \
        [("f", i) for i in range(len(lfree))]
    rhs_roles = [("b", i) for i in range(len(batch))] + [("c", i) for i in range(len(contract))] + \
        [("f", i) for i in range(len(rfree))]
    lhs_roles = draw(st.permutations(lhs_roles))
    rhs_roles = draw(st.permutations(rhs_roles))
    dims = {"b": batch, "c": contract}

    def shape(roles, free):
        return tuple(free[i] if r == "f" else dims[r][i] for r, i in roles)

    lhs_shape, rhs_shape = shape(lhs_roles, lfree), shape(rhs_roles, rfree)
    lc = tuple(lhs_roles.index(("c", i)) for i in range(len(contract)))
    rc = tuple(rhs_roles.index(("c", i)) for i in range(len(contract)))
    lb = tuple(lhs_roles.index(("b", i)) for i in range(len(batch)))
    rb = tuple(rhs_roles.index(("b", i)) for i in range(len(batch)))
    return lhs_shape, rhs_shape, ((lc, rc), (lb, rb))


def brute_dot(lhs_shape, rhs_shape, dn) -> int:
    out = lax.dot_general(np.ones(lhs_shape, np.float32), np.ones(rhs_shape, np.float32), dn)
    return int(np.asarray(out, np.float64).sum())


@PROPERTY
@given(dot_problems())
def test_dot_general_macs_match_brute_force(problem):
    lhs_shape, rhs_shape, dn = problem
    rep = acecost.analyze(lambda a, b: lax.dot_general(a, b, dn), S(lhs_shape, F32), S(rhs_shape, F32),
                          params_argnums=())
    if dn[0][0]:
        assert rep.totals.macs == brute_dot(lhs_shape, rhs_shape, dn)
    else:  # nothing contracted: one product per output element, elementwise work
        assert rep.totals.macs == 0
        assert rep.totals.elementwise_ops == brute_dot(lhs_shape, rhs_shape, dn)


# ------------------------------------------------------- conv_general_dilated

@st.composite
def conv_problems(draw):
    nsp = draw(st.integers(1, 2))
    spatial = "HW"[:nsp]
    lhs_spec = "".join(draw(st.permutations("NC" + spatial)))
    rhs_spec = "".join(draw(st.permutations("OI" + spatial)))
    out_spec = "".join(draw(st.permutations("NC" + spatial)))
    groups = draw(st.sampled_from(["none", "feature", "batch"]))
    g = 1 if groups == "none" else draw(st.integers(2, 3))
    fgc = g if groups == "feature" else 1
    bgc = g if groups == "batch" else 1
    n = bgc * draw(st.integers(1, 2))
    cin_per_group = draw(st.integers(1, 3))
    cin = cin_per_group * fgc
    cout = g * draw(st.integers(1, 2))
    kernel = [draw(st.integers(1, 3)) for _ in spatial]
    rhs_dil = [draw(st.integers(1, 2)) for _ in spatial]
    lhs_dil = [draw(st.integers(1, 2)) for _ in spatial]
    strides = [draw(st.integers(1, 3)) for _ in spatial]
    size = [draw(st.integers(1, 7)) for _ in spatial]
    kind = draw(st.sampled_from(["SAME", "VALID", "explicit"]))
    if kind == "explicit":
        padding = [(draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in spatial]
    else:
        padding = kind
    # the spatial order of lax's tuples (strides, padding...) is the rhs spec's
    order = [c for c in rhs_spec if c in spatial]
    ks = {c: k for c, k in zip(spatial, kernel)}
    sz = {c: s for c, s in zip(spatial, size)}
    dims_l = {"N": n, "C": cin, **sz}
    dims_r = {"O": cout, "I": cin_per_group, **ks}
    lhs_shape = tuple(dims_l[c] for c in lhs_spec)
    rhs_shape = tuple(dims_r[c] for c in rhs_spec)
    kw = dict(window_strides=tuple(strides), padding=padding if isinstance(padding, str) else tuple(padding),
              lhs_dilation=tuple(lhs_dil), rhs_dilation=tuple(rhs_dil),
              dimension_numbers=(lhs_spec, rhs_spec, out_spec),
              feature_group_count=fgc, batch_group_count=bgc)
    # skip problems with an empty output
    try:
        out = jax.eval_shape(lambda a, b: lax.conv_general_dilated(a, b, **kw),
                             S(lhs_shape, F32), S(rhs_shape, F32))
    except Exception:  # an invalid combination (e.g. kernel larger than input)
        out = None
    assume(out is not None and prod(out.shape) > 0)
    return lhs_shape, rhs_shape, kw, order


def resolved_padding(lhs_shape, rhs_shape, kw):
    """The explicit (lo, hi) pads jax resolves the padding to (read from the jaxpr)."""
    jaxpr = jax.make_jaxpr(lambda a, b: lax.conv_general_dilated(a, b, **kw))(
        S(lhs_shape, F32), S(rhs_shape, F32))
    (eqn,) = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "conv_general_dilated"]
    return [tuple(p) for p in eqn.params["padding"]]


def _ones_grid(lhs_shape, kw, order, pads, modes):
    """The input a VALID conv of all-ones kernels turns into a product count, one mode per dim.

    ``direct``: the padded, dilated input with ones on the dilation lattice
    (real elements and the padding on the lattice), zeros at the inserted
    holes; without input dilation that is all ones (padded taps count).
    ``scatter``: ones at real elements only, padded so wide that no product
    is cropped (the low pad keeps its phase modulo the stride).
    """
    lhs_spec = kw["dimension_numbers"][0]
    big, masks = list(lhs_shape), []
    for i, c in enumerate(order):
        axis = lhs_spec.index(c)
        n, d, s = lhs_shape[axis], kw["lhs_dilation"][i], kw["window_strides"][i]
        lo, hi = pads[i]
        if modes[i] == "scatter":
            wide = 64  # more than any dilated kernel the strategy draws
            lo, hi = lo + s * wide, hi + wide
        length = (n - 1) * d + 1 + lo + hi
        pos = np.arange(length) - lo  # position relative to the first real element
        ones = pos % d == 0
        if modes[i] == "scatter":
            ones &= (pos >= 0) & (pos <= (n - 1) * d)
        shape = [1] * len(lhs_shape)
        shape[axis] = big[axis] = length
        masks.append(ones.astype(np.float32).reshape(shape))
    grid = np.ones(big, np.float32)
    for mask in masks:
        grid = grid * mask
    return grid


def _ones_products(grid, rhs_shape, kw) -> int:
    out = lax.conv_general_dilated(
        grid, np.ones(rhs_shape, np.float32),
        window_strides=kw["window_strides"], padding="VALID", rhs_dilation=kw["rhs_dilation"],
        dimension_numbers=kw["dimension_numbers"], feature_group_count=kw["feature_group_count"],
        batch_group_count=kw["batch_group_count"])
    return int(np.asarray(out, np.float64).sum())


def brute_conv(lhs_shape, rhs_shape, kw, order) -> int:
    """Products of all-ones operands; an input-dilated dim takes its fewer of direct and scatter."""
    pads = resolved_padding(lhs_shape, rhs_shape, kw)
    choices = [("direct", "scatter") if kw["lhs_dilation"][i] > 1 else ("direct",) for i in range(len(order))]
    counts = [_ones_products(_ones_grid(lhs_shape, kw, order, pads, modes), rhs_shape, kw)
              for modes in itertools.product(*choices)]
    return min(counts)


@PROPERTY
@given(conv_problems())
def test_conv_macs_match_brute_force(problem):
    lhs_shape, rhs_shape, kw, order = problem
    got = analysed_macs(lambda a, b: lax.conv_general_dilated(a, b, **kw), lhs_shape, rhs_shape)
    assert got == brute_conv(lhs_shape, rhs_shape, kw, order)


# ------------------------------------------------------- hand-computed cases

def test_matmul_by_hand():
    # (5, 7) @ (7, 3): 5*3 outputs, 7 products each
    assert analysed_macs(jnp.matmul, (5, 7), (7, 3)) == 105


def test_batched_einsum_by_hand():
    # attention scores: batch 2, heads 4, 6 queries x 6 keys, head dim 8
    got = analysed_macs(lambda q, k: jnp.einsum("bhqd,bhkd->bhqk", q, k), (2, 4, 6, 8), (2, 4, 6, 8))
    assert got == 2 * 4 * 6 * 6 * 8


def test_resnet_stem_conv_by_hand():
    # 7x7 stride-2 SAME conv, 3 -> 64 channels, 224x224 input: 112x112 outputs
    conv = lambda x, w: lax.conv_general_dilated(x, w, (2, 2), "SAME",  # noqa: E731
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    assert analysed_macs(conv, (1, 224, 224, 3), (7, 7, 3, 64)) == 112 * 112 * 64 * 7 * 7 * 3


def test_padded_taps_are_counted():
    # 3x3 SAME conv on a 4x4 map: every one of the 16 outputs does 9 taps,
    # including the border taps that fall on padding (XLA's count would skip them)
    conv = lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME",  # noqa: E731
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    assert analysed_macs(conv, (1, 4, 4, 1), (3, 3, 1, 1)) == 16 * 9


def test_depthwise_conv_by_hand():
    # depthwise 3x3, 8 channels: each output reads one input channel
    conv = lambda x, w: lax.conv_general_dilated(  # noqa: E731
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=8)
    assert analysed_macs(conv, (1, 5, 5, 8), (3, 3, 1, 8)) == 5 * 5 * 8 * 9


def test_batch_group_conv_by_hand():
    # the weight-gradient form: batch 4 split into 2 groups, output batch 2
    conv = lambda x, w: lax.conv_general_dilated(  # noqa: E731
        x, w, (1,), "VALID", dimension_numbers=("NCH", "OIH", "NCH"), batch_group_count=2)
    # out (2, 6, 3) = 36 elements, kernel 3 taps x 5 input features
    assert analysed_macs(conv, (4, 5, 5), (6, 5, 3)) == 36 * 3 * 5


@pytest.mark.parametrize("layout", list(itertools.permutations("NCH"))[:3])
def test_conv1d_layouts_by_hand(layout):
    spec = "".join(layout)
    conv = lambda x, w: lax.conv_general_dilated(  # noqa: E731
        x, w, (2,), ((1, 2),), dimension_numbers=(spec, "OIH", spec))
    dims = {"N": 2, "C": 3, "H": 9}
    shape = tuple(dims[c] for c in spec)
    # padded length 12, kernel 4, stride 2 -> 5 outputs per (batch, out channel)
    assert analysed_macs(conv, shape, (4, 3, 4)) == 2 * 4 * 5 * 4 * 3
