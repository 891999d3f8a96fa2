"""Loops, branches, calls and sharding: every body is costed as often as it runs.

Expected counts are formulas over the layer shapes (metrics.md: work in a
``scan`` is multiplied by its length, a fori ``while`` by its trip count, an
unknown trip count is reported, ``cond`` takes its most expensive branch).
"""
from __future__ import annotations

import numpy as np
import jax
import jax.numpy as jnp
import pytest
from jax import lax
from jax.sharding import PartitionSpec as P

import acecost

S = jax.ShapeDtypeStruct
F32 = jnp.float32
B, D = 2, 8
LAYER_MACS = B * D * D  # (B, D) @ (D, D)
A_BITS, W_BITS = 4, 1  # round(clip(., -7, 7)) activations, sign weights
LAYER_ACE = LAYER_MACS * A_BITS * W_BITS


def layer(h, w):
    """A quantized dense layer: 15-level activations, binary weights."""
    return jnp.tanh(jnp.round(jnp.clip(4.0 * h, -7, 7)) @ jnp.sign(w))


def one_layer(p, x):
    return layer(x, p["w"])


X = S((B, D), F32)
W1 = {"w": S((D, D), F32)}


def test_one_layer_by_formula():
    rep = acecost.analyze(one_layer, W1, X)
    assert (rep.totals.macs, rep.totals.ace) == (LAYER_MACS, LAYER_ACE)


# --------------------------------------------------------------- scan

@pytest.mark.parametrize("L", [1, 3, 12])
def test_scan_of_L_layers_is_L_times_one_layer(L):
    def net(p, x):
        return lax.scan(lambda h, w: (layer(h, w), None), x, p["w"])[0]

    rep = acecost.analyze(net, {"w": S((L, D, D), F32)}, X)
    single = acecost.analyze(one_layer, W1, X)
    assert rep.totals.macs == L * LAYER_MACS == L * single.totals.macs
    assert rep.totals.ace == L * LAYER_ACE == L * single.totals.ace
    assert rep.totals.elementwise_ops == L * single.totals.elementwise_ops
    (rec,) = rep.layers
    assert (rec.multiplier, rec.bits_a, rec.bits_w) == (L, A_BITS, W_BITS)
    assert rep.totals.complete


@pytest.mark.parametrize("L", [1, 3, 12])
def test_static_fori_loop_is_L_times_one_layer(L):
    def net(p, x):
        return lax.fori_loop(0, L, lambda i, h: layer(h, p["w"]), x)

    rep = acecost.analyze(net, W1, X)
    assert (rep.totals.macs, rep.totals.ace) == (L * LAYER_MACS, L * LAYER_ACE)
    assert rep.totals.complete


def test_fori_loop_with_jnp_scalar_bounds_reads_the_trip_count():
    # jnp bounds turn the fori into a while loop; its count is still static
    def net(p, x):
        return lax.fori_loop(jnp.int32(2), jnp.int32(9), lambda i, h: layer(h, p["w"]), x)

    assert "while" in str(jax.make_jaxpr(net)(W1, X))
    rep = acecost.analyze(net, W1, X)
    assert (rep.totals.macs, rep.totals.ace) == (7 * LAYER_MACS, 7 * LAYER_ACE)
    assert rep.totals.complete
    assert [(lp["kind"], lp["trips"], lp["exact"]) for lp in rep.loops] == [("while", 7, True)]
    assert not any("PER ITERATION" in w for w in rep.warnings)


def counter_loop(start, cond, step):
    """``i = start; while cond(i): h = layer(h); i += step``, written with lax.while_loop."""
    def net(p, x):
        def body(c):
            i, h = c
            return i + step, layer(h, p["w"])

        return lax.while_loop(lambda c: cond(c[0]), body, (jnp.int32(start), x))[1]

    return net


def brute_force_trips(start, cond, step, limit=10_000):
    i, n = start, 0
    while cond(i) and n < limit:
        i, n = i + step, n + 1
    return n if n < limit else None


@pytest.mark.parametrize("start, cond, step", [
    (0, lambda i: i <= 9, 1),
    (0, lambda i: i < 9, 2),
    (1, lambda i: i <= 9, 2),
    (10, lambda i: i > 0, -3),
    (10, lambda i: i >= 1, -3),
    (0, lambda i: i != 8, 2),
    (0, lambda i: 9 > i, 4),      # the counter on the right-hand side
    (0, lambda i: 9 >= i, 3),
    (5, lambda i: i < 5, 1),      # never runs
])
def test_counter_while_loops_read_their_trip_count(start, cond, step):
    trips = brute_force_trips(start, cond, step)
    rep = acecost.analyze(counter_loop(start, cond, step), W1, X)
    assert rep.totals.complete
    assert [(lp["trips"], lp["exact"]) for lp in rep.loops] == [(trips, True)]
    assert rep.totals.macs == trips * LAYER_MACS


@pytest.mark.parametrize("start, cond, step", [
    (0, lambda i: i != 7, 2),     # steps over the bound: endless
    (0, lambda i: i < 9, -1),     # moves away from the bound: endless
])
def test_endless_counter_loops_are_not_given_a_count(start, cond, step):
    rep = acecost.analyze(counter_loop(start, cond, step), W1, X)
    assert not rep.totals.complete
    assert any("PER ITERATION" in w for w in rep.warnings)


def test_counter_loop_bound_closed_over_as_a_constant():
    def net(p, x):
        n = jnp.int32(6)  # a traced constant of the cond, not a literal
        return lax.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, layer(c[1], p["w"])),
                              (jnp.int32(0), x))[1]

    rep = acecost.analyze(net, W1, X)
    assert rep.totals.macs == 6 * LAYER_MACS and rep.totals.complete


def data_dependent_while(p, x):
    return lax.while_loop(lambda h: jnp.sum(h) < 10.0, lambda h: layer(h, p["w"]), x)


def test_data_dependent_while_warns_and_is_incomplete():
    rep = acecost.analyze(data_dependent_while, W1, X)
    assert rep.totals.complete is False
    assert any("while" in w and "PER ITERATION" in w for w in rep.warnings)
    (rec,) = rep.layers
    assert rec.per_iteration and rec.macs == LAYER_MACS


def test_while_trips_multiplies():
    rep = acecost.analyze(data_dependent_while, W1, X, while_trips=6)
    assert (rep.totals.macs, rep.totals.ace) == (6 * LAYER_MACS, 6 * LAYER_ACE)
    assert any("6 iterations" in w for w in rep.warnings)


def test_fori_loop_with_a_traced_bound_is_data_dependent():
    def net(p, x, n):
        return lax.fori_loop(0, n, lambda i, h: layer(h, p["w"]), x)

    n = S((), jnp.int32)
    rep = acecost.analyze(net, W1, X, n)
    assert not rep.totals.complete and rep.totals.macs == LAYER_MACS
    rep = acecost.analyze(net, W1, X, n, while_trips=4)
    assert rep.totals.macs == 4 * LAYER_MACS


def test_nested_scan_multiplies_both_lengths():
    def net(p, x):
        def outer(h, w_block):
            return lax.scan(lambda g, w: (layer(g, w), None), h, w_block)[0], None

        return lax.scan(outer, x, p["w"])[0]

    rep = acecost.analyze(net, {"w": S((5, 3, D, D), F32)}, X)
    assert rep.totals.macs == 15 * LAYER_MACS
    assert rep.layers[0].multiplier == 15


@pytest.mark.parametrize("kw", [dict(reverse=True), dict(unroll=2), dict(unroll=True)],
                         ids=["reverse", "unroll2", "unroll-all"])
def test_scan_variants_are_still_L_times(kw):
    def net(p, x):
        return lax.scan(lambda h, _: (layer(h, p["w"]), None), x, None, length=6, **kw)[0]

    assert acecost.analyze(net, W1, X).totals.macs == 6 * LAYER_MACS


def test_while_inside_scan_multiplies_both_counts():
    def net(p, x):
        def step(h, _):
            return lax.fori_loop(jnp.int32(0), jnp.int32(4), lambda i, g: layer(g, p["w"]), h), None

        return lax.scan(step, x, None, length=3)[0]

    rep = acecost.analyze(net, W1, X)
    assert rep.totals.macs == 12 * LAYER_MACS and rep.layers[0].multiplier == 12


def test_cond_inside_scan_takes_the_max_branch_every_iteration():
    def net(p, x):
        def step(h, _):
            return lax.cond(jnp.sum(h) > 0, lambda g: layer(layer(g, p["w"]), p["w"]), lambda g: g, h), None

        return lax.scan(step, x, None, length=5)[0]

    assert acecost.analyze(net, W1, X).totals.macs == 10 * LAYER_MACS


def test_fori_loop_with_zero_trips_costs_nothing():
    def net(p, x):
        return lax.fori_loop(jnp.int32(5), jnp.int32(2), lambda i, h: layer(h, p["w"]), x)

    rep = acecost.analyze(net, W1, X)
    assert rep.totals.macs == 0 and rep.totals.complete


def test_scan_carry_levels_join_over_iterations():
    # the carry enters as int8 (8 bits) and comes back as 15 levels: the dot
    # sees both, so it must be priced at 8 bits
    def net(p, x):
        def body(h, w):
            y = h.astype(F32) @ w
            return jnp.round(jnp.clip(y, -7, 7)).astype(jnp.int8), None

        return lax.scan(body, x, p["w"])[0]

    rep = acecost.analyze(net, {"w": S((4, D, D), F32)}, S((B, D), jnp.int8))
    assert rep.layers[0].bits_a == 8


def test_scan_carry_that_loses_its_structure_falls_back():
    # first iteration 15 levels, later ones an unquantized dot output
    def net(p, x):
        return lax.scan(lambda h, w: (h @ w, None), jnp.round(jnp.clip(x, -7, 7)), p["w"])[0]

    rep = acecost.analyze(net, {"w": S((4, D, D), F32)}, X)
    assert rep.layers[0].bits_a == 16


# --------------------------------------------------------------- cond

def test_cond_takes_the_most_expensive_branch_and_lists_both():
    def net(p, x):
        return lax.cond(jnp.sum(x) > 0, lambda h: layer(layer(h, p["w"]), p["w"]),
                        lambda h: layer(h, p["w"]), x)

    rep = acecost.analyze(net, W1, X)
    assert (rep.totals.macs, rep.totals.ace) == (2 * LAYER_MACS, 2 * LAYER_ACE)
    (br,) = rep.branches
    assert sorted(b["macs"] for b in br["branches"]) == [LAYER_MACS, 2 * LAYER_MACS]
    assert br["branches"][br["chosen"]]["macs"] == 2 * LAYER_MACS


def test_switch_with_three_branches():
    def net(p, x, i):
        return lax.switch(i, [lambda h: h, lambda h: layer(h, p["w"]),
                              lambda h: layer(layer(layer(h, p["w"]), p["w"]), p["w"])], x)

    rep = acecost.analyze(net, W1, X, S((), jnp.int32))
    assert rep.totals.macs == 3 * LAYER_MACS
    assert sorted(b["macs"] for b in rep.branches[0]["branches"]) == [0, LAYER_MACS, 3 * LAYER_MACS]


# ------------------------------------------------------ calls and sharding

def test_nested_jit_remat_custom_vjp():
    @jax.custom_vjp
    def quant(h):
        return jnp.round(jnp.clip(4.0 * h, -7, 7))

    quant.defvjp(lambda h: (quant(h), None), lambda _, g: (g,))

    @jax.jit
    def block(h, w):
        return jax.checkpoint(lambda h, w: jnp.tanh(quant(h) @ jnp.sign(w)))(h, w)

    def net(p, x):
        return jax.jit(lambda h: block(block(h, p["w"]), p["w"]))(x)

    rep = acecost.analyze(net, W1, X)
    assert (rep.totals.macs, rep.totals.ace) == (2 * LAYER_MACS, 2 * LAYER_ACE)
    assert {(r.bits_a, r.bits_w) for r in rep.layers} == {(A_BITS, W_BITS)}


def sharded(mesh):
    def net(p, x):
        body = jax.shard_map(lambda w, h: layer(h, w), mesh=mesh, in_specs=(P(), P("x")),
                             out_specs=P("x"))
        return body(p["w"], x)

    return net


def test_shard_map_on_the_one_device_mesh():
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("x",))
    rep = acecost.analyze(sharded(mesh), W1, X)
    assert rep.totals.macs == LAYER_MACS
    assert rep.layers[0].multiplier == mesh.size == 1
    (loop,) = [lp for lp in rep.loops if lp["kind"] == "shard_map"]
    assert (loop["trips"], loop["mesh"]) == (1, {"x": 1})
    assert any("shard_map" in w and "x1" in w for w in rep.warnings)


def test_shard_map_multiplies_by_the_mesh_size():
    # an abstract 2-device mesh: each device runs the body on half the batch
    mesh = jax.sharding.AbstractMesh((2,), ("x",))
    rep = acecost.analyze(sharded(mesh), W1, X)
    (rec,) = rep.layers
    assert rec.lhs_shape == [B // 2, D] and rec.multiplier == 2
    assert rep.totals.macs == LAYER_MACS
    assert any("shard_map" in w and "x2" in w for w in rep.warnings)


# ------------------------------------------------------------ layer names

def test_linen_layer_names_come_from_the_name_stack():
    import flax.linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(3, name="head")(nn.relu(nn.Dense(5, name="fc")(x)))

    model = Net()
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((B, D))))
    rep = acecost.analyze(lambda v, x: model.apply(v, x), variables, X)
    assert [(r.name, r.macs) for r in rep.layers] == [("Net/fc", B * D * 5), ("Net/head", B * 5 * 3)]
    rep = acecost.analyze(lambda v, x: model.apply(v, x), variables, X, overrides={"Net/head$": (2, 3)})
    assert [(r.bits_a, r.bits_w) for r in rep.layers] == [(16, 16), (2, 3)]


def test_linen_scan_of_remat_blocks():
    import flax.linen as nn

    class Block(nn.Module):
        @nn.compact
        def __call__(self, h, _):
            return jnp.tanh(nn.Dense(D, name="fc")(h)), None

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            blocks = nn.scan(nn.remat(Block), variable_axes={"params": 0},
                             split_rngs={"params": True}, length=6)
            return blocks(name="blocks")(x, None)[0]

    model = Net()
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((B, D))))
    rep = acecost.analyze(lambda v, x: model.apply(v, x), variables, X)
    assert [(r.name, r.multiplier, r.macs) for r in rep.layers] == [("Net/blocks/fc", 6, 6 * LAYER_MACS)]
    assert rep.totals.params == 6 * (D * D + D)


def test_nnx_layer_names_come_from_parameter_paths():
    from flax import nnx

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.fc = nnx.Linear(D, 5, rngs=rngs)
            self.head = nnx.Linear(5, 3, rngs=rngs)

        def __call__(self, x):
            return self.head(nnx.relu(self.fc(x)))

    graphdef, state = nnx.split(nnx.eval_shape(lambda: Net(nnx.Rngs(0))))
    rep = acecost.analyze(lambda s, x: nnx.merge(graphdef, s)(x), state, X)
    assert [(r.name, r.macs) for r in rep.layers] == [("fc", B * D * 5), ("head", B * 5 * 3)]
    assert sorted(p.path for p in rep.params) == ["fc/bias", "fc/kernel", "head/bias", "head/kernel"]


def test_plain_function_layer_names_come_from_the_params_pytree():
    def net(p, x):
        return x @ p["encoder"]["proj"]["kernel"]

    rep = acecost.analyze(net, {"encoder": {"proj": {"kernel": S((D, 3), F32)}}}, X)
    assert rep.layers[0].name == "encoder/proj"


# -------------------------------------------------------- unsupported ops

def callback_net(p, x):
    with jax.named_scope("blk"):
        y = jax.pure_callback(lambda a: np.asarray(a) * 2, S(x.shape, x.dtype), x)
    return y @ p["w"]


def test_unknown_primitive_is_listed_not_free():
    rep = acecost.analyze(callback_net, W1, X)
    assert rep.unsupported == [{"primitive": "pure_callback", "count": 1, "scopes": ["blk"]}]
    assert rep.totals.complete is False
    assert any("pure_callback" in w for w in rep.warnings)


def test_unknown_primitive_in_a_scan_is_counted_per_iteration():
    def net(p, x):
        return lax.scan(lambda h, w: (callback_net({"w": w}, h), None), x, p["w"])[0]

    rep = acecost.analyze(net, {"w": S((3, D, D), F32)}, X)
    (entry,) = rep.unsupported
    assert (entry["primitive"], entry["count"]) == ("pure_callback", 3)


def test_io_callback_is_unsupported():
    from jax.experimental import io_callback

    def net(p, x):
        return io_callback(lambda a: np.asarray(a), S(x.shape, x.dtype), x) @ p["w"]

    rep = acecost.analyze(net, W1, X)
    assert [e["primitive"] for e in rep.unsupported] == ["io_callback"]
    assert rep.totals.macs == LAYER_MACS


@pytest.mark.parametrize("start, cond, step", [
    (9, lambda i: i <= 9, 1),     # at the bound: one trip
    (3, lambda i: i >= 3, -2),
])
def test_counter_at_its_inclusive_bound_runs_once(start, cond, step):
    assert brute_force_trips(start, cond, step) == 1
    rep = acecost.analyze(counter_loop(start, cond, step), W1, X)
    assert rep.totals.macs == LAYER_MACS and rep.totals.complete


def test_float_counter_is_not_read():
    # float32 0.1 steps: the rounding decides whether 0.3 is reached in 3 or 4 trips
    def net(p, x):
        return lax.while_loop(lambda c: c[0] < 0.3, lambda c: (c[0] + 0.1, layer(c[1], p["w"])),
                              (jnp.float32(0.0), x))[1]

    rep = acecost.analyze(net, W1, X)
    assert not rep.totals.complete and rep.totals.macs == LAYER_MACS


def test_zero_step_counter_is_endless_not_an_error():
    rep = acecost.analyze(counter_loop(5, lambda i: i > 0, 0), W1, X)
    assert not rep.totals.complete and rep.totals.macs == LAYER_MACS


def test_unsigned_counter_that_would_wrap_is_not_read():
    # uint32: i >= 0 always holds, i -= 1 wraps from 0 to 2**32 - 1; the loop never ends
    def net(p, x):
        return lax.while_loop(lambda c: c[0] >= 0, lambda c: (c[0] - 1, layer(c[1], p["w"])),
                              (jnp.uint32(5), x))[1]

    rep = acecost.analyze(net, W1, X)
    assert not rep.totals.complete and rep.totals.macs == LAYER_MACS


def test_counter_beyond_exact_float_integers_is_not_read():
    # start 2**62: as floats, 2**62 and 2**62 + 3 are the same number, so the
    # 3 trips cannot be read exactly; the loop is reported per iteration
    with jax.enable_x64(True):
        def net(p, x):
            i64 = jnp.int64
            return lax.while_loop(lambda c: c[0] < i64(2 ** 62 + 3),
                                  lambda c: (c[0] + i64(1), layer(c[1], p["w"])), (i64(2 ** 62), x))[1]

        rep = acecost.analyze(net, W1, X)
    assert not rep.totals.complete and rep.totals.macs == LAYER_MACS
