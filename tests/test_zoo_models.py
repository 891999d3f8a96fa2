"""The bundled models have the layer shapes the papers describe, and quantizers with their levels.

Costs are checked elsewhere through the engine; here the models are checked
on their own: the quantizers' level counts by brute force, and every
conv/dense shape in the trace against per-layer arithmetic written from the
architecture descriptions (pokebnn.md, metrics.md). Concrete forward passes
and a gradient are in test_zoo_run_pokebnn.py and test_zoo_run_resnet.py.
"""

from __future__ import annotations

import collections
import functools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from acecost import zoo
from acecost.errors import AcecostError, ConfigError, TargetError
from acecost.load.target import Target
from acecost.zoo import quant
from acecost.zoo.pokebnn_net import DPReLU, PokeBNN, reshape_add

ALL_NAMES = [
    "pokebnn-0.5x", "pokebnn-0.75x", "pokebnn-1.0x", "pokebnn-2.0x",
    "resnet50-bf16", "resnet50-w8a8", "resnet50-w4a4", "resnet50-w4a2",
    "resnet50-w4a4-bf16ends", "resnet50-w4a2-bf16ends",
]


# ---------------------------------------------------------------- quantizers


def _levels(a) -> int:
    return len(np.unique(np.asarray(a, np.float64)))


def _probe(n: int = 20000, spread: float = 10.0, seed: int = 0) -> jax.Array:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * spread
    special = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1e-30, -1e-30, 1e30, -1e30]
    return jnp.asarray(np.concatenate([x, special]), jnp.float32)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_binary_quantizer_gives_exactly_two_levels(dtype):
    x = _probe().astype(dtype)
    for scale in (1.0, 0.37, 5.0):
        q = quant.binary(x, scale)
        values = np.unique(np.asarray(q, np.float64))
        assert len(values) == 2
        np.testing.assert_allclose(values, [-0.5 * scale, 0.5 * scale], rtol=1e-2)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_signed_quantizer_levels(bits):
    m = 2 ** (bits - 1) - 1
    scale = 0.05
    q = quant.signed(_probe(), bits, scale)
    k = np.asarray(q, np.float64) / scale
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)
    assert np.all(np.abs(np.round(k)) <= m)
    assert _levels(np.round(k)) == 2 * m + 1 == 2**bits - 1


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_unsigned_quantizer_levels(bits):
    scale = 0.05
    q = quant.unsigned(_probe(), bits, scale)
    k = np.asarray(q, np.float64) / scale
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)
    assert k.min() >= 0 and np.round(k).max() <= 2**bits - 1
    assert _levels(np.round(k)) == 2**bits


def test_signed_quantizer_never_exceeds_its_levels_on_a_narrow_input():
    q = quant.signed(jnp.linspace(-0.1, 0.1, 1001), 4, 1.0)
    assert _levels(q) <= 15


@pytest.mark.parametrize("spec", [quant.QSpec("binary"), quant.QSpec("signed", 4), quant.QSpec("signed", 8)])
def test_weight_scale_is_per_output_channel(spec):
    """Divided by its own channel's max|w|, every channel uses the same level set."""
    rng = np.random.default_rng(1)
    w = jnp.asarray(rng.standard_normal((3, 3, 16, 8)) * rng.uniform(0.1, 10, size=8), jnp.float32)
    q = np.asarray(quant.quantize_weight(w, spec), np.float64)
    amax = np.abs(np.asarray(w)).max(axis=(0, 1, 2), keepdims=True)
    unit = np.round(q / amax * 1e4) / 1e4
    allowed = 2 if spec.kind == "binary" else 2**spec.bits - 1
    assert _levels(unit) <= allowed
    assert _levels(q) > allowed  # the raw values do differ per channel


def test_activation_quantizers_follow_the_spec():
    x = _probe(seed=3)[:-4]  # drop the +-1e30 probes so max|x| is a normal scale
    assert _levels(quant.quantize_act(x, quant.QSpec("signed", 4, 2.0))) == 15
    assert _levels(quant.quantize_act(x, quant.QSpec("unsigned", 4, 2.0))) == 16
    assert _levels(quant.quantize_act(x, quant.BINARY)) == 2
    assert quant.quantize_act(x, None) is x
    # calibrated on the tensor itself, step 2*mean|x|/sqrt(top level) (LSQ's rule);
    # two outliers make sure the clamp is reached at 8 bits too
    x = jnp.concatenate([x, jnp.asarray([-1e4, 1e4], jnp.float32)])
    mean_abs = float(np.mean(np.abs(np.asarray(x, np.float64))))
    for spec, top in ((quant.QSpec("signed", 8), 127), (quant.QSpec("signed", 2), 1),
                      (quant.QSpec("unsigned", 4), 15)):
        q = np.asarray(quant.quantize_act(x, spec), np.float64)
        k = q / (2 * mean_abs / math.sqrt(top))
        np.testing.assert_allclose(k, np.round(k), atol=1e-3)
        low = -top if spec.kind == "signed" else 0
        assert np.round(k).min() == low and np.round(k).max() == top  # the probe spans every level
        assert _levels(np.round(k)) <= top - low + 1


def test_straight_through_gradients():
    # no point exactly on a clamp bound, where max/min split the gradient
    x = jnp.asarray([-9.0, -0.6, -0.2, 0.15, 0.3, 0.9, 9.0], jnp.float32)
    inside = np.asarray(jnp.abs(x) < 1.0, np.float32)
    g_bin = jax.grad(lambda v: jnp.sum(quant.binary(v)))(x)
    np.testing.assert_array_equal(np.asarray(g_bin), inside)
    g_sig = jax.grad(lambda v: jnp.sum(quant.signed(v, 4, 0.1)))(x)  # clamps at +-0.7
    np.testing.assert_array_equal(np.asarray(g_sig), np.asarray(jnp.abs(x) <= 0.7, np.float32))
    g_uns = jax.grad(lambda v: jnp.sum(quant.unsigned(v, 4, 0.1)))(x)  # [0, 1.5]
    np.testing.assert_array_equal(np.asarray(g_uns), np.asarray((x >= 0) & (x <= 1.5), np.float32))


def test_qspec_rejects_nonsense():
    for bad in (dict(kind="binary", bits=2), dict(kind="signed", bits=1), dict(kind="unsigned", bits=4, bound=0.0)):
        with pytest.raises(ValueError):
            quant.QSpec(**bad)


# ---------------------------------------------------------------- building blocks


def test_reshape_add_channel_rules():
    r = jnp.arange(2 * 2 * 4, dtype=jnp.float32).reshape(1, 2, 2, 4)
    y = jnp.zeros((1, 2, 2, 2))
    np.testing.assert_allclose(reshape_add(r, y, "zeropad"), (r[..., 0::2] + r[..., 1::2]) / 2)
    y8 = jnp.zeros((1, 2, 2, 8))
    np.testing.assert_array_equal(reshape_add(r, y8, "tile"), jnp.concatenate([r, r], axis=-1))
    np.testing.assert_array_equal(reshape_add(r, y8, "zeropad"), jnp.concatenate([r, 0 * r], axis=-1))
    # 4 -> 3 channels: groups of one, the trailing channel is dropped
    np.testing.assert_array_equal(reshape_add(r, jnp.zeros((1, 2, 2, 3)), "zeropad"), r[..., :3])


def test_reshape_add_pools_when_spatial_size_halves():
    r = jnp.ones((1, 4, 4, 2))
    out = reshape_add(r, jnp.zeros((1, 2, 2, 2)), "zeropad")
    # SAME pads 0 before and 1 after (4 -> 2); the padded zeros count in the average
    padded = np.pad(np.ones((4, 4)), ((0, 1), (0, 1)))
    expected = [[padded[i * 2:i * 2 + 3, j * 2:j * 2 + 3].mean() for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(out[0, :, :, 0], expected)


def test_dprelu_is_a_shifted_two_slope_relu():
    x = jnp.asarray([[-2.0, -0.5, 0.0, 1.5]])
    variables = DPReLU().init(jax.random.key(0), x)
    p = {"bias_x": jnp.asarray([0.5] * 4), "bias_y": jnp.asarray([1.0] * 4),
         "pos_slope": jnp.asarray([2.0] * 4), "neg_slope": jnp.asarray([0.25] * 4)}
    out = DPReLU().apply({"params": p}, x)
    z = np.asarray(x) - 0.5
    np.testing.assert_allclose(out, np.where(z >= 0, 2.0 * z, 0.25 * z) - 1.0)
    init = variables["params"]
    assert float(init["neg_slope"][0]) == 0.25 and float(init["pos_slope"][0]) == 1.0


# ---------------------------------------------------------------- layer arithmetic


def _same(h: int, s: int) -> int:
    return -(-h // s)


def pokebnn_layers(m: float, res: int = 224) -> dict[str, tuple[int, int, int]]:
    """name -> (MACs, bits_a, bits_w) for PokeBNN at width m, from pokebnn.md."""
    out: dict[str, tuple[int, int, int]] = {}
    h = res // 4
    out["PokeBNN/PokeInit/conv1"] = (h * h * 32 * (4 * 4 * 3), 8, 8)
    out["PokeBNN/PokeInit/conv2"] = (h * h * 64 * (3 * 3 * 1), 8, 8)
    c = 64
    for s, (blocks, base) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)], start=1):
        f = int(base * m)
        for b in range(blocks):
            stride = 2 if s > 1 and b == 0 else 1
            for k, (ksz, cout, st) in enumerate([(1, f, 1), (3, f, stride), (1, 4 * f, 1)], start=1):
                pre = f"PokeBNN/stage{s}/block{b}/pokeconv{k}"
                h = _same(h, st)
                out[f"{pre}/conv"] = (h * h * cout * ksz * ksz * c, 1, 1)
                out[f"{pre}/se/conv1"] = (c * (c // 8), 4, 4)
                out[f"{pre}/se/conv2"] = ((c // 8) * cout, 4, 4)
                c = cout
    out["PokeBNN/head/dense"] = (c * 1000, 8, 8)
    return out


def resnet50_layers(res: int = 224) -> dict[str, int]:
    """name -> MACs for ResNet-50 v1.5 (stride on the 3x3 conv)."""
    out: dict[str, int] = {}
    h = _same(res, 2)
    out["ResNet50/stem/conv"] = h * h * 64 * 7 * 7 * 3
    h = _same(h, 2)  # max pool
    c = 64
    for s, (blocks, w) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)], start=1):
        for b in range(blocks):
            stride = 2 if s > 1 and b == 0 else 1
            pre = f"ResNet50/stage{s}/block{b}"
            ho = _same(h, stride)
            out[f"{pre}/conv1"] = h * h * w * c
            out[f"{pre}/conv2"] = ho * ho * w * 9 * w
            out[f"{pre}/conv3"] = ho * ho * 4 * w * w
            if b == 0:
                out[f"{pre}/proj"] = ho * ho * 4 * w * c
            h, c = ho, 4 * w
    out["ResNet50/head/dense"] = c * 1000
    return out


@functools.lru_cache(maxsize=None)
def trace(name: str):
    """The jaxpr of a zoo model at 224x224, batch 1 (abstract; nothing runs)."""
    target = zoo.get(name).build()
    return jax.make_jaxpr(target.fn)(*target.args).jaxpr


def traced_macs(jaxpr) -> dict[str, int]:
    """MACs of every conv/dense in a zoo jaxpr, keyed by the linen name stack."""
    found: dict[str, int] = {}

    def walk(jx):
        for e in jx.eqns:
            name = str(e.source_info.name_stack)
            if e.primitive.name == "conv_general_dilated":
                kh, kw, cin_per_group, _ = e.invars[1].aval.shape  # HWIO
                assert name not in found
                found[name] = math.prod(e.outvars[0].aval.shape) * kh * kw * cin_per_group
            elif e.primitive.name == "dot_general":
                (n, k), (_, o) = e.invars[0].aval.shape, e.invars[1].aval.shape
                assert name not in found
                found[name] = n * k * o
            for v in e.params.values():
                for sub in v if isinstance(v, (tuple, list)) else (v,):
                    inner = getattr(sub, "jaxpr", sub)  # ClosedJaxpr or Jaxpr
                    if hasattr(inner, "eqns"):
                        walk(inner)

    walk(jaxpr)
    return found


@pytest.mark.parametrize("m, ace", [(0.5, 1_409_538_048), (0.75, 2_587_619_840), (1.0, 4_222_541_824),
                                    (2.0, 15_330_631_680)])
def test_pokebnn_arithmetic_reproduces_the_reference_figures(m, ace):
    layers = pokebnn_layers(m)
    assert sum(macs * a * w for macs, a, w in layers.values()) == ace
    if m == 1.0:
        binary = sum(macs for macs, a, w in layers.values() if a == w == 1)
        conv = sum(macs * a * w for n, (macs, a, w) in layers.items() if not n.endswith("dense"))
        assert (binary, conv) == (3_609_460_736, 4_091_469_824)


@pytest.mark.parametrize("name, m", [("pokebnn-0.75x", 0.75), ("pokebnn-1.0x", 1.0)])
def test_pokebnn_traced_layers_match_the_description(name, m):
    expected = {n: macs for n, (macs, _, _) in pokebnn_layers(m).items()}
    assert traced_macs(trace(name)) == expected


def test_pokebnn_elementwise_sites_match_the_reference_tallies():
    """Where batch-norm, DPReLU and the shortcut pools sit, by their output sizes:
    the reference code's own tallies for m = 1.0 (pokebnn.md)."""
    widest: dict[str, int] = collections.defaultdict(int)
    pooled = 0
    for e in trace("pokebnn-1.0x").eqns:
        scope = str(e.source_info.name_stack)
        widest[scope] = max([widest[scope]] + [math.prod(v.aval.shape) for v in e.outvars])
        if e.primitive.name == "reduce_window_sum":
            assert e.params["window_dimensions"] == (1, 3, 3, 1) and e.params["window_strides"] == (1, 2, 2, 1)
            pooled += 9 * math.prod(e.outvars[0].aval.shape)
    assert sum(n for s, n in widest.items() if re.search(r"/bn\d$", s)) == 17_912_832
    assert sum(n for s, n in widest.items() if re.search(r"/dprelu\d?$", s)) == 9_106_944
    assert pooled == 7_902_720


def test_resnet50_traced_layers_match_the_description():
    expected = resnet50_layers()
    assert sum(expected.values()) == 4_089_184_256  # the AQT ResNet-50 cost test's figure
    assert len(expected) == 1 + 16 * 3 + 4 + 1
    assert traced_macs(trace("resnet50-w4a2")) == expected


# ---------------------------------------------------------------- registry


def test_registry_names_and_lookup():
    assert zoo.names() == ALL_NAMES
    entry = zoo.get("pokebnn-0.75x")
    assert entry.family == "PokeBNN" and entry.width_multiplier == 0.75 and entry.variant == "0.75x"
    assert isinstance(entry.module(), PokeBNN) and entry.module().width_multiplier == 0.75
    assert zoo.get("resnet50-w4a2").module().quant == (2, 4)  # (act_bits, weight_bits)
    assert zoo.get("resnet50-bf16").module().quant is None


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(TargetError) as info:
        zoo.get("pokebnn-3x")
    assert "pokebnn-3x" in str(info.value)
    assert all(n in str(info.value) for n in ALL_NAMES)
    assert "\n" not in str(info.value)


def test_build_is_abstract_and_eval_mode():
    target = zoo.get("resnet50-w8a8").build(resolution=64, batch=2)
    assert isinstance(target, Target) and target.params_argnums == (0,)
    variables, x = target.args
    assert all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree.leaves(variables))
    assert x.shape == (2, 64, 64, 3) and x.dtype == jnp.float32
    # eval mode: running statistics are read, so the output is the logits alone
    out = jax.eval_shape(target.fn, *target.args)
    assert isinstance(out, jax.ShapeDtypeStruct) and out.shape == (2, 1000)
    assert "batch_stats" in variables


@pytest.mark.parametrize("kwargs", [dict(resolution=0), dict(resolution=3), dict(batch=0), dict(resolution=32.0)])
def test_build_rejects_bad_options(kwargs):
    with pytest.raises(ConfigError):
        zoo.get("pokebnn-0.5x").build(**kwargs)
    assert issubclass(ConfigError, AcecostError)


def test_published_points_ship_and_parse():
    df = zoo.published_points()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["model", "family", "top1", "ace_g", "cpu64_1e8", "bops_1e9", "flops_1e8", "source"]
    assert len(df) == 8 and df["source"].notna().all() and df["top1"].notna().all()
    react = df.set_index("model").loc["ReActNet-A"]
    assert (react["top1"], react["bops_1e9"], react["flops_1e8"], react["cpu64_1e8"]) == (69.4, 4.82, 0.12, 0.87)
    # OPs = BOPs/64 + FLOPs, as the BNN papers define it
    assert round(react["bops_1e9"] * 10 / 64 + react["flops_1e8"], 2) == react["cpu64_1e8"]
