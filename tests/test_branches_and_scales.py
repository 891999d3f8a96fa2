"""Branches (--cond), scale conventions (--scales) and the training-step rules.

Every expected number is a formula over the shapes below and the widths
metrics.md assigns: float operands 16 bits, n levels -> ceil(log2 n) bits.
"""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import pytest
from click.testing import CliRunner
from jax import lax

import acecost
from acecost.cli import main
from acecost.errors import AcecostError

S = jax.ShapeDtypeStruct
F32 = jnp.float32
FLOAT = 16
B, D = 2, 8
DOT = B * D * D  # MACs of (B, D) @ (D, D)


def q4(h):
    """round(clip(4h, -7, 7)): 15 levels, 4 bits."""
    return jnp.round(jnp.clip(4.0 * h, -7, 7))


def layer(h, w):
    return jnp.tanh(q4(h) @ jnp.sign(w))  # 4 x 1 bits


W = {"w": S((D, D), F32)}
X = S((B, D), F32)


# ------------------------------------------------------------ constant index

def test_constant_predicate_prices_the_branch_that_runs():
    # the branch that runs is the cheaper one: max would have taken the other
    def net(p, x):
        return lax.cond(False, lambda h: layer(layer(h, p["w"]), p["w"]), lambda h: layer(h, p["w"]), x)

    rep = acecost.analyze(net, W, X)
    assert (rep.totals.macs, rep.totals.ace) == (DOT, DOT * 4 * 1)
    (br,) = rep.branches
    assert (br["chosen"], br["mode"]) == (0, "constant")
    assert [b["can_run"] for b in br["branches"]] == [True, False]
    assert sorted(b["macs"] for b in br["branches"]) == [DOT, 2 * DOT]  # both still listed


def test_constant_switch_index_is_clamped_like_lax_switch():
    branches = [lambda h: h, lambda h: layer(h, W_["w"]), lambda h: layer(layer(h, W_["w"]), W_["w"])]

    def net(p, x):
        W_["w"] = p["w"]
        return lax.switch(1, branches, x)

    W_ = {}
    rep = acecost.analyze(net, W, X)
    assert rep.totals.macs == DOT
    assert rep.branches[0]["chosen"] == 1


def test_branches_outside_the_index_range_never_run():
    # a bool index reaches branches 0 and 1 only: the 3-layer branch 2 cannot run
    def net(p, x):
        i = (jnp.sum(x) > 0).astype(jnp.int32)
        return lax.switch(i, [lambda h: layer(h, p["w"]), lambda h: layer(layer(h, p["w"]), p["w"]),
                              lambda h: layer(layer(layer(h, p["w"]), p["w"]), p["w"])], x)

    rep = acecost.analyze(net, W, X)
    assert rep.totals.macs == 2 * DOT
    (br,) = rep.branches
    assert [b["can_run"] for b in br["branches"]] == [True, True, False]
    assert (br["chosen"], br["mode"]) == (1, "max")


# ------------------------------------------------------------ --cond quantized

def switch_net(p, x):
    """AQT's run-time switch: cond(bound != -1, quantized input, raw input), then a binary-weight dot.

    The raw side is also the costlier one (a float dense layer), so max and
    quantized disagree.
    """
    quantized = lax.cond(jnp.all(p["bound"] != -1), lambda h: q4(h), lambda h: h @ p["v"], x)
    return quantized @ jnp.sign(p["w"])


P = {"bound": S((), F32), "v": S((D, D), F32), "w": S((D, D), F32)}


def test_cond_max_prices_the_costliest_branch_and_joins_outputs():
    rep = acecost.analyze(switch_net, P, X)
    # branch 0 (raw): a float dense 16 x 16; the dot after sees float | 4-bit -> float
    assert rep.totals.ace == DOT * FLOAT * FLOAT + DOT * FLOAT * 1
    assert rep.branches[0]["mode"] == "max" and rep.meta["cond"] == "max"
    # the float kernel v is read by a branch that may run: 16 bits of storage
    sizes = {p.path: p.size_bits for p in rep.params}
    assert sizes["v"] == D * D * FLOAT


def test_cond_quantized_takes_the_branch_with_fewest_output_bits():
    rep = acecost.analyze(switch_net, P, X, cond="quantized")
    assert rep.totals.macs == DOT  # the quantizing branch has no dot
    assert rep.totals.ace == DOT * 4 * 1
    (br,) = rep.branches
    assert (br["chosen"], br["mode"]) == (1, "quantized")
    assert [b["output_bits"] for b in br["branches"]] == [B * D * 32, B * D * 4]  # f32 raw, 15 levels
    # a branch not taken adds nothing: v never enters a counted dot
    sizes = {p.path: p.size_bits for p in rep.params}
    assert sizes["v"] == D * D * 32


def test_cond_quantized_breaks_ties_by_cost():
    def net(p, x):
        return lax.cond(jnp.sum(x) > 0, lambda h: layer(layer(h, p["w"]), p["w"]),
                        lambda h: layer(h, p["w"]), x)

    rep = acecost.analyze(net, W, X, cond="quantized")
    assert rep.totals.macs == 2 * DOT
    assert "then the highest cost" in rep.branches[0]["reason"]


def test_bad_cond_and_scales_values():
    with pytest.raises(AcecostError, match="cond"):
        acecost.analyze(switch_net, P, X, cond="min")
    with pytest.raises(AcecostError, match="scales"):
        acecost.analyze(switch_net, P, X, scales="loose")


# ------------------------------------------------------------ --scales

def per_input_channel(p, x):
    """Activation quantized with a per-input-channel bound (AQT per_channel), binary weights."""
    s = p["bound"] / 7.0  # (D,): varies along the contracting dim of the dot
    xq = jnp.round(jnp.clip(x / s, -7, 7)) * s
    return xq @ jnp.sign(p["w"])


PC = {"bound": S((D,), F32), "w": S((D, D), F32)}


def test_strict_scales_price_a_scale_along_the_contraction_as_float():
    rep = acecost.analyze(per_input_channel, PC, X)
    (r,) = rep.layers
    assert (r.bits_a, r.bits_w) == (FLOAT, 1)
    assert rep.meta["scales"] == "strict"


def test_codes_scales_price_the_codes():
    rep = acecost.analyze(per_input_channel, PC, X, scales="codes")
    (r,) = rep.layers
    assert (r.bits_a, r.bits_w) == (4, 1)
    assert rep.totals.ace == DOT * 4
    assert "--scales codes" in r.bits_a_source
    assert not rep.fallbacks


def test_cli_options(tmp_path):
    model = tmp_path / "m.py"
    model.write_text(
        "import jax, jax.numpy as jnp\nfrom jax import lax\n"
        "def acecost_model():\n"
        "    def f(p, x):\n"
        f"        q = lax.cond(jnp.all(p['b'] != -1), lambda h: jnp.round(jnp.clip(h / p['b'], -7, 7)) * p['b'],\n"
        "                     lambda h: h, x)\n"
        "        return q @ jnp.sign(p['w'])\n"
        f"    p = {{'b': jax.ShapeDtypeStruct(({D},), jnp.float32), 'w': jax.ShapeDtypeStruct(({D}, {D}), jnp.float32)}}\n"
        f"    return f, (p, jax.ShapeDtypeStruct(({B}, {D}), jnp.float32))\n")
    expected = {("max", "strict"): FLOAT, ("quantized", "strict"): FLOAT,
                ("max", "codes"): FLOAT, ("quantized", "codes"): 4}
    for (cond, scales), a_bits in expected.items():
        res = CliRunner().invoke(main, ["analyze", str(model), "--cond", cond, "--scales", scales,
                                        "--format", "json", "--quiet"])
        assert res.exit_code == 0, res.output
        data = json.loads(res.stdout)
        assert data["totals"]["ace"] == DOT * a_bits * 1, (cond, scales)
        assert (data["meta"]["cond"], data["meta"]["scales"]) == (cond, scales)
    res = CliRunner().invoke(main, ["analyze", str(model), "--cond", "min"])
    assert res.exit_code == 2


def test_check_reads_cond_and_scales_from_the_config(tmp_path, monkeypatch):
    model = tmp_path / "m.py"
    model.write_text(
        "import jax, jax.numpy as jnp\n"
        "def acecost_model():\n"
        "    def f(p, x):\n"
        "        s = p['b'] / 7.0\n"
        "        return (jnp.round(jnp.clip(x / s, -7, 7)) * s) @ jnp.sign(p['w'])\n"
        f"    p = {{'b': jax.ShapeDtypeStruct(({D},), jnp.float32), 'w': jax.ShapeDtypeStruct(({D}, {D}), jnp.float32)}}\n"
        f"    return f, (p, jax.ShapeDtypeStruct(({B}, {D}), jnp.float32))\n")
    budget = DOT * 4  # within budget only when the codes are priced
    (tmp_path / "acecost.toml").write_text(
        f'[[models]]\nname = "m"\ntarget = "m.py"\nscales = "codes"\ncond = "quantized"\nmax_ace = {budget}\n')
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["check"]).exit_code == 0
    assert CliRunner().invoke(main, ["check", "--scales", "strict"]).exit_code == 1
    (tmp_path / "acecost.toml").write_text('[[models]]\nname = "m"\ntarget = "m.py"\nscales = "loose"\n')
    res = CliRunner().invoke(main, ["check"])
    assert res.exit_code == 2 and "scales" in res.output


# ------------------------------------------------------------ folding a scale

def test_scale_along_the_contraction_folds_into_a_float_operand():
    """dy @ (sign(w) * alpha)^T: alpha (per output channel of w) is applied to dy first."""
    def input_grad(p, dy):
        wb = jnp.sign(p["w"]) * jnp.mean(jnp.abs(p["w"]), axis=0)  # (D_in, D_out), alpha per out
        return dy @ wb.T

    rep = acecost.analyze(input_grad, W, X)
    (r,) = rep.layers
    assert (r.bits_a, r.bits_w) == (FLOAT, 1)
    assert "folded into the float other operand" in r.bits_w_source
    assert rep.totals.ace == DOT * FLOAT * 1


def test_no_fold_when_the_other_operand_is_quantized():
    def net(p, x):
        wb = jnp.sign(p["w"]) * jnp.mean(jnp.abs(p["w"]), axis=0)
        return q4(x) @ wb.T  # the 4-bit codes cannot absorb a per-channel scale

    (r,) = acecost.analyze(net, W, X).layers
    assert (r.bits_a, r.bits_w) == (4, FLOAT)


def test_no_fold_of_a_per_element_scale():
    def net(p, x):
        wb = jnp.sign(p["w"]) * p["s"]  # a scale per weight element: no operand can take it
        return x @ wb

    (r,) = acecost.analyze(net, {"w": S((D, D), F32), "s": S((D, D), F32)}, X).layers
    assert (r.bits_a, r.bits_w) == (FLOAT, FLOAT)


def test_no_fold_of_a_scale_along_conv_taps():
    # a scale per kernel tap meets a different input element at every output position
    def net(p, x):
        wb = jnp.sign(p["w"]) * p["tap"][:, :, None, None]
        return lax.conv_general_dilated(x, wb, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    params = {"w": S((3, 3, 4, 4), F32), "tap": S((3, 3), F32)}
    (r,) = acecost.analyze(net, params, S((1, 6, 6, 4), F32)).layers
    assert (r.bits_a, r.bits_w) == (FLOAT, FLOAT)


def test_conv_input_feature_scale_folds():
    def net(p, x):
        wb = jnp.sign(p["w"]) * p["cin"][None, None, :, None]
        return lax.conv_general_dilated(x, wb, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    params = {"w": S((3, 3, 4, 4), F32), "cin": S((4,), F32)}
    (r,) = acecost.analyze(net, params, S((1, 6, 6, 4), F32)).layers
    assert (r.bits_a, r.bits_w) == (FLOAT, 1)


def test_an_offset_along_the_contraction_does_not_fold():
    """Only a factor moves onto the other operand: sum_k a[k] (u[k] + c[k]) needs a float dot too."""
    import jax
    import jax.numpy as jnp

    S = jax.ShapeDtypeStruct

    def offset(w, x, u):
        return w @ (u + jnp.where(x > 0, 0.0, -1e9))  # 2 levels per position, shifted by u[k]

    def factor(w, x, u):
        return w @ (u * jnp.where(x > 0, 1.0, 2.0))  # 2 levels per position, scaled by u[k]

    args = (S((8, 4), jnp.float32), S((4, 16), jnp.float32), S((4, 1), jnp.float32))
    (rec,) = acecost.analyze(offset, *args).layers
    assert (rec.bits_a, rec.bits_w) == (16, 16)
    (rec,) = acecost.analyze(factor, *args).layers
    assert sorted((rec.bits_a, rec.bits_w)) == [1, 16]  # the scale u folds into the float w
    assert acecost.analyze(factor, *args).totals.ace == 8 * 4 * 16 * 16 * 1


def test_a_loop_carry_shifted_by_an_offset_does_not_fold():
    """A carry that starts as codes * s[k] and gains an offset u[k] each trip is no longer a factor form."""
    import jax
    import jax.numpy as jnp

    S = jax.ShapeDtypeStruct

    def f(w, x, s, u):
        h = jnp.round(jnp.clip(x, -1, 1)) * s
        h = lax.fori_loop(0, 3, lambda i, h: h + u, h)
        return w @ h

    args = (S((8, 4), jnp.float32), S((4, 16), jnp.float32), S((4, 1), jnp.float32), S((4, 1), jnp.float32))
    (rec,) = acecost.analyze(f, *args).layers
    assert (rec.bits_a, rec.bits_w) == (16, 16)
