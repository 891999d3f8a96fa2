"""Weight preparation: work on parameters and constants alone is not inference cost.

Every expected number is a closed form from the shapes (metrics.md: one op per
output element of an elementwise primitive, M*K*N MACs for an (M, K) x (K, N)
product, ACE = MACs x bits_a x bits_w).
"""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import pytest
from jax import lax

import acecost
from acecost.report.render import group_rows, print_table, to_markdown
from acecost.report.model import Report

S = jax.ShapeDtypeStruct
F32 = jnp.float32


def binarized(w, x):
    return jnp.sign(x) @ jnp.sign(w)


W256, X4 = S((256, 256), F32), S((4, 256), F32)


# ------------------------------------------------------------ the sign example

def test_sign_of_the_weights_leaves_the_inference_total():
    rep = acecost.analyze(binarized, W256, X4)
    t = rep.totals
    assert t.elementwise_ops == 4 * 256  # sign(x) only; before, 66,560 with sign(w)'s 65,536
    assert rep.elementwise_by_category == {"quantize": 4 * 256}
    prep = t.weight_prep
    assert (prep.elementwise_ops, prep.macs, prep.ace, prep.in_totals) == (256 * 256, 0, 0, False)
    assert prep.by_category == {"quantize": 256 * 256}
    # the contraction itself reads the input: it is inference, 1 bit x 1 bit
    assert (t.macs, t.binary_macs, t.ace) == (4 * 256 * 256,) * 3
    assert rep.weight_prep_layers == []


def test_the_report_says_it_in_json_text_and_markdown(capsys):
    from rich.console import Console

    rep = acecost.analyze(binarized, W256, X4)
    data = json.loads(json.dumps(rep.to_dict()))
    # sign(w) reads and writes 256 x 256 float32 values (memory_bits_unfused); no contraction
    assert data["totals"]["weight_prep"] == {"elementwise_ops": 65536, "macs": 0, "binary_macs": 0, "ace": 0,
                                             "by_category": {"quantize": 65536}, "in_totals": False,
                                             "memory_bits": 0, "memory_bits_unfused": 2 * 256 * 256 * 32}
    assert data["totals"]["elementwise_ops"] == 1024 and data["weight_prep_layers"] == []
    assert Report.from_dict(data).totals == rep.totals
    print_table(rep, group_rows(rep), Console(width=80, force_terminal=False))
    text = capsys.readouterr().out
    assert "Weight prep ops" in text and "65,536" in text and "once, not in the totals" in text
    assert "**Weight prep** (once, not in the totals): elementwise 65,536\n" in to_markdown(rep, group_rows(rep))


def test_a_model_with_no_weight_preparation_prints_no_line(capsys):
    from rich.console import Console

    rep = acecost.analyze(lambda w, x: x @ w, W256, X4)
    assert not rep.totals.weight_prep.found
    print_table(rep, group_rows(rep), Console(width=80, force_terminal=False))
    assert "Weight prep" not in capsys.readouterr().out
    assert "Weight prep" not in to_markdown(rep, group_rows(rep))


def test_a_report_without_the_key_reads_back_with_none():
    data = acecost.analyze(binarized, W256, X4).to_dict()
    del data["totals"]["weight_prep"], data["weight_prep_layers"]
    back = Report.from_dict(data)
    assert not back.totals.weight_prep.found and back.weight_prep_layers == []


# ------------------------------------------------------------- LoRA merge

D_IN, D_OUT, RANK, N = 64, 48, 4, 10


def lora(p, x):
    merged = p["W"] + p["A"] @ p["B"]  # the LoRA merge: parameters only
    return jnp.tanh(x @ merged)


LORA = {"W": S((D_IN, D_OUT), F32), "A": S((D_IN, RANK), F32), "B": S((RANK, D_OUT), F32)}
LORA_X = S((N, D_IN), F32)


def test_a_lora_merge_moves_its_macs_to_the_prep_line():
    rep = acecost.analyze(lora, LORA, LORA_X)
    t = rep.totals
    # inference: the merged (float) weight times the (float) input, then tanh
    assert t.macs == N * D_IN * D_OUT
    assert t.ace == N * D_IN * D_OUT * 16 * 16
    assert t.elementwise_ops == N * D_OUT
    prep = t.weight_prep
    assert prep.macs == D_IN * RANK * D_OUT  # A @ B
    assert prep.ace == D_IN * RANK * D_OUT * 16 * 16  # two float parameters
    assert prep.binary_macs == 0
    assert prep.elementwise_ops == D_IN * D_OUT  # W + A @ B
    assert prep.by_category == {"arithmetic": D_IN * D_OUT}
    assert [r.macs for r in rep.weight_prep_layers] == [D_IN * RANK * D_OUT]
    assert all(r.weight_prep for r in rep.weight_prep_layers)
    assert [r.macs for r in rep.layers] == [N * D_IN * D_OUT] and not rep.layers[0].weight_prep
    data = rep.to_dict()
    assert data["totals"]["weight_prep"]["macs"] == D_IN * RANK * D_OUT
    assert [r["macs"] for r in data["weight_prep_layers"]] == [D_IN * RANK * D_OUT]
    assert Report.from_dict(json.loads(json.dumps(data))).weight_prep_layers[0].macs == D_IN * RANK * D_OUT


def test_a_training_step_keeps_the_merge_in_its_totals():
    rep = acecost.analyze_train(lora, LORA, LORA_X)
    prep = rep.totals.weight_prep
    assert prep.in_totals and prep.macs == D_IN * RANK * D_OUT
    assert rep.weight_prep_layers == []
    # the forward pass of a step: the merge, then the product with the input
    assert rep.phases["forward"]["macs"] == D_IN * RANK * D_OUT + N * D_IN * D_OUT
    assert sum(r.macs for r in rep.layers) == rep.totals.macs
    assert sum(r.macs for r in rep.layers if r.weight_prep) == D_IN * RANK * D_OUT


# ------------------------------------------------------- fake-quantized weight

K, M, NOUT, SCALE = 32, 6, 24, 16.0


def fake_quant(w, x):
    # written with lax so that each step is one primitive: mul, clamp, round, div
    q = lax.round(lax.clamp(-127.0, w * SCALE, 127.0)) / SCALE
    return jnp.tanh(x @ q)


def test_fake_quantizing_the_weights_is_not_inference_work():
    rep = acecost.analyze(fake_quant, S((K, NOUT), F32), S((M, K), F32))
    t = rep.totals
    assert t.elementwise_ops == M * NOUT  # tanh; before, also 4 ops per weight
    assert rep.elementwise_by_category == {"transcendental": M * NOUT}
    prep = t.weight_prep
    assert prep.elementwise_ops == 4 * K * NOUT
    assert prep.by_category == {"arithmetic": 2 * K * NOUT, "compare_select": K * NOUT, "quantize": K * NOUT}
    # the quantized weight is still 8 bits (255 levels) in the product
    assert t.ace == M * K * NOUT * 16 * 8


def test_a_training_step_prepares_the_weights_on_every_step():
    inference = acecost.analyze(binarized, W256, X4)
    step = acecost.analyze_train(binarized, W256, X4)
    prep = step.totals.weight_prep
    assert prep.in_totals and prep.by_category == {"quantize": 256 * 256}
    # sign(x) and sign(w) are both in the step's totals (sign's derivative is zero:
    # the backward pass rounds nothing)
    assert step.elementwise_by_category["quantize"] == 4 * 256 + 256 * 256
    assert inference.elementwise_by_category["quantize"] == 4 * 256
    assert step.phases["forward"]["elementwise_ops"] == step.totals.elementwise_ops


# ------------------------------------------------------------------- loops

L, D, B = 3, 16, 4


def scanned(ws, x):
    def layer(h, w):
        return jnp.tanh(h @ jnp.sign(w)), None
    return lax.scan(layer, x, ws)[0]


def indexed(ws, x):
    return lax.fori_loop(0, L, lambda i, h: jnp.tanh(h @ jnp.sign(ws[i])), x)


@pytest.mark.parametrize("model", [scanned, indexed], ids=["scan-xs", "fori-index"])
def test_a_scanned_weight_stack_is_prepared_once_per_layer(model):
    rep = acecost.analyze(model, S((L, D, D), F32), S((B, D), F32))
    t = rep.totals
    # each layer: tanh of (B, D) on the input's path; sign of its (D, D) weight slice
    assert rep.elementwise_by_category == {"transcendental": L * B * D}
    assert t.weight_prep.by_category["quantize"] == L * D * D
    assert (t.macs, t.ace) == (L * B * D * D, L * B * D * D * 16 * 1)
    if model is scanned:
        assert t.weight_prep.elementwise_ops == L * D * D
    else:
        # the loop counter is a constant: its increment and the index clamping of
        # ws[i] (scalars) are preparation too, never inference work
        assert t.weight_prep.elementwise_ops - L * D * D < 20 * L


def test_a_carry_that_starts_as_a_constant_becomes_inference_work():
    def f(w, x):
        def step(h, xt):
            return jnp.tanh(h * w + xt), None  # h starts as zeros, then reads the input
        return lax.scan(step, jnp.zeros((D,)), x)[0]
    rep = acecost.analyze(f, S((D,), F32), S((L, D), F32))
    # mul, add, tanh on (D,) per step, all on the input's path
    assert rep.totals.elementwise_ops == 3 * L * D
    assert not rep.totals.weight_prep.found


# ---------------------------------------------------- branches, calls, dead code

def test_a_branch_picked_by_the_input_makes_its_result_inference_work():
    def f(w, x):
        out = lax.cond(x.sum() > 0, lambda w: w, lambda w: -w, w)
        return x @ jnp.sign(out)
    rep = acecost.analyze(f, S((D, D), F32), S((B, D), F32))
    # -w inside the branch reads the weight alone; sign(out) depends on which branch ran
    assert rep.totals.weight_prep.by_category == {"arithmetic": D * D}
    assert rep.elementwise_by_category["quantize"] == D * D
    # the input's sum (B*D) and its comparison and conversion to an index (1 each)
    assert rep.elementwise_by_category == {"quantize": D * D, "reduction": B * D, "compare_select": 1,
                                           "convert": 1}


def test_a_constant_branch_index_keeps_its_result_preparation():
    def f(w, x):
        out = lax.cond(True, lambda w: -w, lambda w: w, w)
        return x @ jnp.sign(out)
    rep = acecost.analyze(f, S((D, D), F32), S((B, D), F32))
    assert rep.totals.elementwise_ops == 0
    assert rep.totals.weight_prep.by_category == {"arithmetic": D * D, "quantize": D * D}


def test_one_jitted_function_on_a_weight_and_on_an_input_is_priced_apart():
    act = jax.jit(jnp.tanh)  # called twice on values alike in all but where they come from

    def f(p, x):
        merged = act(p["A"] @ p["B"])  # preparation
        h = act(x @ p["C"])  # inference: a replay of the first call's walk would mix them up
        return h @ merged

    rep = acecost.analyze(f, {k: S((D, D), F32) for k in "ABC"}, S((B, D), F32))
    assert rep.elementwise_by_category == {"transcendental": B * D}
    assert rep.totals.weight_prep.by_category == {"transcendental": D * D}
    assert (rep.totals.macs, rep.totals.weight_prep.macs) == (2 * B * D * D, D * D * D)


def test_preparation_only_dead_code_reads_costs_nothing():
    def f(w, x):
        _ = jnp.sign(w) * 2.0  # never used: XLA deletes it
        return x @ w
    rep = acecost.analyze(f, S((D, D), F32), S((B, D), F32))
    assert not rep.totals.weight_prep.found and rep.totals.elementwise_ops == 0


def test_random_draws_are_never_preparation():
    def f(w, x):
        noise = jax.random.normal(jax.random.key(0), w.shape)  # a fixed key, but meant as fresh noise
        return x @ (w + noise)
    rep = acecost.analyze(f, S((D, D), F32), S((B, D), F32))
    assert rep.elementwise_by_category.get("arithmetic", 0) >= D * D  # w + noise
    assert "rng" not in rep.totals.weight_prep.by_category


def test_a_function_of_its_parameters_alone_is_all_inference():
    # nothing to tell apart: with no model input (a single argument taken as the
    # parameters by default), every op is priced as before
    rep = acecost.analyze(lambda w: jnp.sign(w) @ jnp.ones((256, 8)), W256)
    assert rep.totals.elementwise_ops == 256 * 256
    assert rep.totals.macs == 256 * 256 * 8
    assert not rep.totals.weight_prep.found


def test_work_on_constants_alone_is_preparation():
    def f(w, x):
        mask = jnp.tril(jnp.ones((B, B)))  # iota, compare, select: no input, no parameter
        return mask @ (x @ w)
    rep = acecost.analyze(f, S((D, D), F32), S((B, D), F32))
    assert rep.totals.macs == B * D * D + B * B * D
    assert rep.totals.elementwise_ops == 0
    assert rep.totals.weight_prep.found and rep.totals.weight_prep.macs == 0


def test_a_sweep_row_has_the_weight_preparation_beside_the_totals():
    from acecost.sweeps import table

    rep = acecost.analyze(binarized, W256, X4)
    row = table.row({"width": 1}, {"report": rep.to_dict()}, cached=False)
    assert (row["elementwise_ops"], row["weight_prep_ops"]) == (4 * 256, 256 * 256)
    df = table.frame([row], ["width"])
    assert list(df["weight_prep_ops"]) == [256 * 256]
    assert table.row({"width": 1}, {"error": "boom"}, cached=False)["weight_prep_ops"] is None
