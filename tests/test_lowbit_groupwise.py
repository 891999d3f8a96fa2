"""Group-wise (sub-channel) scales and the float ceiling on operand widths.

Expected numbers come from the shapes alone (docs/metrics.md): MACs by
closed form, ACE = MACs x the widths stated by the rule under test, size =
parameter scalars x their widths. A float operand counts 16 bits unless
``float_bits`` says otherwise.
"""
from __future__ import annotations

import functools
import json
import math

import jax
import jax.numpy as jnp
import pytest
from click.testing import CliRunner
from jax import lax

import acecost
from acecost.cli import main

S = jax.ShapeDtypeStruct
F32, F16 = jnp.float32, jnp.float16
FLOAT = 16

# ------------------------------------------------------ group-wise scales

K, N, G, M = 256, 64, 128, 8
MACS = M * K * N  # 131,072


def gw_params(scale_rows=K // G, codes=jnp.uint4):
    return {"q": S((K, N), codes), "s": S((scale_rows, N), F32), "z": S((scale_rows, N), F32)}


def codes(p):
    return p["q"].astype(F32)


def by_reshape(p, x, g=G):
    w = (codes(p).reshape(K // g, g, N) * p["s"][:, None, :]).reshape(K, N)
    return x @ w


def by_gather(p, x, g=G):
    g_idx = jnp.arange(K) // g
    return x @ (codes(p) * p["s"][g_idx])


def zero_point_by_gather(p, x):
    g_idx = jnp.arange(K) // G
    return x @ ((codes(p) - p["z"][g_idx]) * p["s"][g_idx])


def zero_point_by_reshape(p, x):
    w = ((codes(p).reshape(K // G, G, N) - p["z"][:, None, :]) * p["s"][:, None, :]).reshape(K, N)
    return x @ w


def by_repeat(p, x):
    return x @ (codes(p) * jnp.repeat(p["s"], G, axis=0))


def analyze_gw(fn, params=None, x=None, **kw):
    return acecost.analyze(fn, params or gw_params(), x or S((M, K), F32), **kw)


@pytest.mark.parametrize("fn, uses_z", [(by_reshape, False), (by_gather, False), (by_repeat, False),
                                        (zero_point_by_gather, True), (zero_point_by_reshape, True)])
@pytest.mark.parametrize("scales", ["strict", "codes"])
def test_group_wise_int4_weight_times_float_activation_is_16x4(fn, uses_z, scales):
    rep = analyze_gw(fn, scales=scales)
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (FLOAT, 4)
    assert rep.totals.macs == MACS == 131_072
    assert rep.totals.ace == MACS * 16 * 4 == 8_388_608
    # codes at 4 bits; scales (and zero points) never enter a dot: their float32 width
    size = K * N * 4 + (K // G) * N * 32 * (2 if uses_z else 1)
    assert rep.totals.size_bits == size


def test_stored_g_idx_of_any_order_still_groups():
    """GPTQ's act-order ``g_idx`` is a stored permutation-like index: whatever it holds, ``s[g_idx]``
    takes at most K/G values along K (one per row of ``s``), and so do the zero points."""
    def f(p, x):
        g = p["g_idx"]
        return x @ ((p["q"].astype(F32) - p["z"][g].astype(F32)) * p["s"][g])
    params = {"q": S((K, N), jnp.uint4), "z": S((K // G, N), jnp.uint4), "s": S((K // G, N), F16),
              "g_idx": S((K,), jnp.int32)}
    rep = acecost.analyze(f, params, S((M, K), F32))
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w, rep.totals.ace) == (FLOAT, 4, MACS * 64)
    # codes 4 bits, uint4 zero points 4, float16 scales 16, the int32 index 32
    assert rep.totals.size_bits == K * N * 4 + (K // G) * N * (4 + 16) + K * 32


@pytest.mark.parametrize("fn", [by_reshape, by_gather])
def test_a_scale_per_element_is_a_float_operand(fn):
    """G = 1: the scale differs at every k, nothing factors out of a partial sum."""
    rep = analyze_gw(functools.partial(fn, g=1), gw_params(scale_rows=K))
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w, rep.totals.ace) == (FLOAT, FLOAT, MACS * 256)


def test_group_wise_activation_times_group_wise_weight_is_codes_by_codes():
    """Both operands scaled per group of K (the MX layout): each group's partial sum is
    an integer dot of codes, rescaled once per group (documented in docs/design.md)."""
    def f(p, x):
        xq = jnp.clip(jnp.round(x), -127, 127)  # int8 codes
        xs = (xq.reshape(M, K // G, G) * p["sx"][:, :, None]).reshape(M, K)
        return xs @ by_repeat_weight(p)
    params = {**gw_params(), "sx": S((M, K // G), F32)}
    rep = acecost.analyze(f, params, S((M, K), F32))
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w, rep.totals.ace) == (8, 4, MACS * 8 * 4)


def by_repeat_weight(p):
    return codes(p) * jnp.repeat(p["s"], G, axis=0)


def test_group_wise_scale_gather_was_not_a_table_of_levels():
    """The old reading, ``s[g_idx]`` as a 128-entry table and so 16 x 128 = 2^11 levels in the
    whole weight, is kept as the second proof: it prices a contraction along N, along which the
    scale varies freely and no group helps."""
    def f(p, x, y):
        w = codes(p) * p["s"][jnp.arange(K) // G]
        return x @ w, y @ w.T  # the second contracts over N, along which the scale varies freely
    params = {"q": S((K, N), jnp.uint4), "s": S((K // G, N), F32)}
    rep = acecost.analyze(f, params, S((M, K), F32), S((M, N), F32))
    first, second = rep.layers
    assert (first.bits_a, first.bits_w) == (FLOAT, 4)
    table = (K // G) * N  # 128 entries of s
    bits = math.ceil(math.log2(16 * table))  # 11
    assert {second.bits_a, second.bits_w} == {FLOAT, bits}


# ------------------------------------------ Keras 3's sub-channel int4 layout
#
# keras==3.15 ``model.quantize("int4")`` (block_size 128): the kernel [K, N] holds two codes in
# [-8, 7] per int8 along N (``unpack_int4(kernel, N, axis=-1)``), with a float32 scale and an int8
# zero point per 128-row group and a stored float32 ``g_idx`` (``dequantize_with_sz_map``):
# ``(q - z[g_idx]) * s[g_idx]``. Here in plain JAX, spelled as Keras spells it.

def keras_unpack_int4(packed, n):
    """keras.quantizers.unpack_int4(packed, n, axis=-1): low nibble first, ``(x ^ 8) - 8`` signs it."""
    t = packed.T
    low = ((t & 0x0F) ^ 8) - 8
    high = (((t >> 4) & 0x0F) ^ 8) - 8
    return jnp.stack([low, high], axis=1).reshape(-1, packed.shape[0])[:n].T


def keras_dequantize(p, with_zero=True):
    g = p["g_idx"].astype(jnp.int32)
    s = jnp.take(p["scale"], g, axis=0)  # jnp.take: FILL_OR_DROP, as ops.take traces
    w = keras_unpack_int4(p["kernel"], p["scale"].shape[1]).astype(F32)
    if with_zero:
        w = w - jnp.take(p["zero"], g, axis=0).astype(F32)
    return w * s


def keras_int4_params(k=K, n=N, g=G):
    return {"kernel": S((k, n // 2), jnp.int8), "scale": S((k // g, n), F32), "zero": S((k // g, n), jnp.int8),
            "g_idx": S((k,), F32)}


# codes 4 bits (two per int8); per group: a float32 scale and an int8 zero point; g_idx float32
KERAS_SIZE = K * N * 4 + (K // G) * N * (32 + 8) + K * 32


@pytest.mark.parametrize("with_zero", [True, False])
def test_keras_int4_dense_is_16x4(with_zero):
    """``x @ ((q - z[g]) * s[g])`` = ``sum_g s[g] (sum_{k in g} x[k] q[k] - z[g] sum_{k in g} x[k])``:
    the int8 zero point, like the scale, is one value per group, so each group's partial sum runs
    over the 16 codes. (Before: the unpacked nibbles carried a false group bound along N from the
    stack of low and high nibbles, so neither was read per group: 16 x 9 with the zero point,
    16 x 11 without.)"""
    rep = acecost.analyze(lambda p, x: x @ keras_dequantize(p, with_zero), keras_int4_params(), S((M, K), F32))
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (FLOAT, 4)
    assert rep.totals.ace == MACS * 16 * 4 == 8_388_608
    assert rep.totals.size_bits == (KERAS_SIZE if with_zero else KERAS_SIZE - (K // G) * N * 8)


def test_a_stack_of_different_scales_varies_along_its_new_axis():
    """``stack([a, b, c, d])`` of four scalar scales is one scale per input row, not one per tensor
    (before: 16 x 4, as if per tensor). Along the contraction it varies at every k, so no group
    helps; the whole weight takes at most 16 codes x 4 scales = 64 values: 6 bits."""
    def f(p, x):
        s = jnp.stack([p["a"], p["b"], p["c"], p["d"]])
        return x @ (p["q"].astype(F32) * s[:, None])
    params = {"q": S((4, N), jnp.uint4), **{k: S((), F32) for k in "abcd"}}
    rep = acecost.analyze(f, params, S((M, 4), F32))
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (FLOAT, math.ceil(math.log2(16 * 4))) == (FLOAT, 6)
    assert rep.totals.ace == M * 4 * N * FLOAT * 6


HEADS, HEAD_DIM = 4, K // 4


def test_keras_int4_einsum_dense_split_contraction_is_16x4():
    """EinsumDense dequantizes its kernel flattened to [H * Dh, N], groups along H * Dh, then
    reshapes it to [H, Dh, N] and contracts along H and Dh: the split axes together take at
    most K/G (+1 for a fill) sets, a joint bound on both (before: a float operand, 16 x 16)."""
    def f(p, x):
        w = keras_dequantize(p).reshape(HEADS, HEAD_DIM, N)
        return jnp.einsum("bthd,hdn->btn", x, w)
    rep = acecost.analyze(f, keras_int4_params(), S((2, M // 2, HEADS, HEAD_DIM), F32))
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (FLOAT, 4)
    assert rep.totals.macs == MACS
    assert rep.totals.ace == MACS * 16 * 4
    assert rep.totals.size_bits == KERAS_SIZE


def test_split_of_a_scale_per_element_stays_float():
    """G = 1: K scale rows, no group bound to split; the split axes vary freely: a float operand."""
    def f(p, x):
        return jnp.einsum("bthd,hdn->btn", x, keras_dequantize(p).reshape(HEADS, HEAD_DIM, N))
    rep = acecost.analyze(f, keras_int4_params(g=1), S((2, M // 2, HEADS, HEAD_DIM), F32))
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w, rep.totals.ace) == (FLOAT, FLOAT, MACS * 256)


def test_split_reshape_and_renumbering_of_a_joint_bound():
    from acecost.engine.values.groups import moved, partitions, reshaped

    joint = reshaped((K, N), (HEADS, HEAD_DIM, N), frozenset({0, 1}), ((0, 2, G),))  # 2 groups of G rows
    assert joint == (((0, 1), 2, None),)  # a joint bound states no block
    assert partitions((HEADS, HEAD_DIM, N), frozenset({0, 1}), joint) == 2
    # contracting one of the split axes alone: the joint bound says nothing about it
    assert partitions((HEADS, HEAD_DIM, N), frozenset({1}), joint) == HEAD_DIM
    assert moved(joint, {0: 2, 1: 0, 2: 1}) == (((0, 2), 2, None),)  # a transpose keeps it
    assert moved(joint, {0: 0, 2: 1}) == ()  # an axis reduced away: dropped
    # a merge of whole axes is not a split
    assert reshaped((HEADS, HEAD_DIM, N), (K, N), frozenset({0, 1}), ()) == ()


# ----------------------------------------- never wider than a float

XI, WI, KI, NI, PI = 8, 64, 64, 32, 4  # x int8 [8, 64] @ w int8 [64, 32]; then @ v [32, 4]


def accumulate_then_reuse(p, x, w):
    acc = lax.dot_general(x, w, (((1,), (0,)), ((), ())), preferred_element_type=jnp.int32)
    y = acc.astype(F32) * p["s"]  # dequantized per output channel
    return y @ p["v"]  # contracts along that channel


def acc_report(**kw):
    params = {"s": S((NI,), F32), "v": S((NI, PI), F32)}
    return acecost.analyze(accumulate_then_reuse, params, S((XI, KI), jnp.int8), S((KI, NI), jnp.int8), **kw)


# 64 products of two int8 values, each in [-128*127, 128*128]
ACC_BITS = math.ceil(math.log2(KI * (128 * 128 + 128 * 127) + 1))
MACS_1, MACS_2 = XI * KI * NI, XI * NI * PI


@pytest.mark.parametrize("float_bits, second", [
    (16, (16, 16)),           # 21 bits > 16: a float operand
    (32, (ACC_BITS, 32)),     # 21 <= 32: its proven width stands
    (8, (8, 8)),              # both floats at 8 bits; the int8 x int8 dot stays 8 x 8
])
def test_accumulator_is_never_wider_than_a_float(float_bits, second):
    assert ACC_BITS == 21
    rep = acc_report(float_bits=float_bits)
    first, reuse = rep.layers
    assert (first.bits_a, first.bits_w) == (8, 8)
    assert (reuse.bits_a, reuse.bits_w) == second
    assert rep.totals.ace == MACS_1 * 64 + MACS_2 * second[0] * second[1]


@pytest.mark.parametrize("float_bits, ace", [
    ("8", MACS_1 * 8 * 8 + MACS_2 * 8 * 8),
    ("32", MACS_1 * 8 * 8 + MACS_2 * ACC_BITS * 32),
])
def test_float_bits_on_the_command_line(tmp_path, float_bits, ace):
    model = tmp_path / "acc.py"
    model.write_text(
        "import jax, jax.numpy as jnp\nfrom jax import lax\nS = jax.ShapeDtypeStruct\n"
        "def f(p, x, w):\n"
        "    acc = lax.dot_general(x, w, (((1,), (0,)), ((), ())), preferred_element_type=jnp.int32)\n"
        "    return (acc.astype(jnp.float32) * p['s']) @ p['v']\n"
        "def acecost_model():\n"
        f"    return f, ({{'s': S(({NI},), jnp.float32), 'v': S(({NI}, {PI}), jnp.float32)}}, "
        f"S(({XI}, {KI}), jnp.int8), S(({KI}, {NI}), jnp.int8))\n")
    result = CliRunner().invoke(main, ["analyze", str(model), "--format", "json", "--float-bits", float_bits])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["totals"]["ace"] == ace


def test_a_declared_width_is_not_capped():
    """``acecost.tag`` is the user's word: a 24-bit declaration stands."""
    rep = acecost.analyze(lambda p, x: acecost.tag(x, bits=24) @ p, S((16, 4), F32), S((2, 16), F32))
    assert rep.layers[0].bits_a == 24


# ------------------------------------- a GPTQ/AWQ-style W4A16 Llama block

@pytest.fixture(scope="module")
def llama_cfg():
    return dict(batch=1, seq=16, dim=256, heads=4, kv_heads=2, head_dim=64, ffn=512, group=128)


def gptq_linear(k: int, n: int, group: int, codes_dtype) -> dict:
    """GPTQ's tensors, unpacked: one code per weight, zero points and float16 scales per group
    of ``group`` input rows, and the stored group index of every input row (act order)."""
    return {"qweight": S((k, n), codes_dtype), "qzeros": S((k // group, n), codes_dtype),
            "scales": S((k // group, n), F16), "g_idx": S((k,), jnp.int32)}


def llama_params(c, codes_dtype=jnp.uint4) -> dict:
    d, h, kv, dh, f, g = c["dim"], c["heads"], c["kv_heads"], c["head_dim"], c["ffn"], c["group"]
    shapes = {"q_proj": (d, h * dh), "k_proj": (d, kv * dh), "v_proj": (d, kv * dh), "o_proj": (h * dh, d),
              "gate_proj": (d, f), "up_proj": (d, f), "down_proj": (f, d)}
    params = {name: gptq_linear(k, n, g, codes_dtype) for name, (k, n) in shapes.items()}
    params["input_layernorm"] = S((d,), F16)
    params["post_attention_layernorm"] = S((d,), F16)
    return params


def dequantize(p):
    g = p["g_idx"]
    return (p["qweight"].astype(F16) - p["qzeros"][g].astype(F16)) * p["scales"][g]


def linear(p, x):
    return x @ dequantize(p)


def rms_norm(x, w, eps=1e-6):
    x32 = x.astype(F32)
    return (x32 * lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)).astype(F16) * w


def rope(x, theta=10000.0):
    """Rotary embedding of ``x`` [B, T, heads, Dh], in float."""
    t, dh = x.shape[1], x.shape[-1]
    half = dh // 2
    freqs = jnp.arange(t, dtype=F32)[:, None] / theta ** (jnp.arange(half, dtype=F32) / half)[None, :]
    cos, sin = jnp.cos(freqs)[None, :, None, :], jnp.sin(freqs)[None, :, None, :]
    x1, x2 = x[..., :half].astype(F32), x[..., half:].astype(F32)
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1).astype(x.dtype)


def llama_block(c):
    b, t, h, kv, dh = c["batch"], c["seq"], c["heads"], c["kv_heads"], c["head_dim"]

    def block(p, x):
        hid = rms_norm(x, p["input_layernorm"])
        q = rope(linear(p["q_proj"], hid).reshape(b, t, h, dh))
        k = rope(linear(p["k_proj"], hid).reshape(b, t, kv, dh))
        v = linear(p["v_proj"], hid).reshape(b, t, kv, dh)
        k, v = jnp.repeat(k, h // kv, axis=2), jnp.repeat(v, h // kv, axis=2)  # grouped-query attention
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k).astype(F32) / math.sqrt(dh)
        causal = jnp.tril(jnp.ones((t, t), bool))
        probs = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1).astype(F16)
        attn = jnp.einsum("bhqk,bkhd->bqhd", probs, v).reshape(b, t, h * dh)
        x = x + linear(p["o_proj"], attn)
        hid = rms_norm(x, p["post_attention_layernorm"])
        mlp = jax.nn.silu(linear(p["gate_proj"], hid)) * linear(p["up_proj"], hid)
        return x + linear(p["down_proj"], mlp)

    return block


def llama_expected(c, code_bits: int) -> dict:
    """Totals from the configuration alone."""
    b, t, d, h, kv, dh, f, g = (c[k] for k in ("batch", "seq", "dim", "heads", "kv_heads", "head_dim", "ffn",
                                               "group"))
    kn = [(d, h * dh), (d, kv * dh), (d, kv * dh), (h * dh, d), (d, f), (d, f), (f, d)]
    weights = sum(k * n for k, n in kn)
    proj_macs = b * t * weights
    attn_macs = 2 * b * h * t * t * dh  # q.k and p.v, every head
    # size: codes at the width they enter the dot; zero points at their storage width (the same
    # dtype as the codes); float16 scales 16; the int32 group index 32; float16 norm weights 16
    groups = sum((k // g) * n for k, n in kn)
    size = weights * code_bits + groups * (code_bits + 16) + sum(k for k, _ in kn) * 32 + 2 * d * 16
    return {"macs": proj_macs + attn_macs, "ace": proj_macs * 16 * code_bits + attn_macs * 16 * 16,
            "size_bits": size, "proj_macs": proj_macs, "attn_macs": attn_macs}


@pytest.mark.parametrize("codes_dtype, code_bits", [(jnp.uint4, 4), (jnp.uint8, 8)])
def test_gptq_w4a16_llama_block(llama_cfg, codes_dtype, code_bits):
    """uint4 codes are 4 bits; the same codes held in uint8, with nothing to say they stay
    below 16, are priced at their 8-bit storage width (with a warning saying so)."""
    c = llama_cfg
    x = S((c["batch"], c["seq"], c["dim"]), F16)
    rep = acecost.analyze(llama_block(c), llama_params(c, codes_dtype), x)
    want = llama_expected(c, code_bits)
    assert rep.totals.macs == want["macs"]
    assert rep.totals.ace == want["ace"]
    assert rep.totals.size_bits == want["size_bits"]
    widths = sorted({(r.bits_a, r.bits_w, r.macs) for r in rep.layers})
    projections = [r for r in rep.layers if (r.bits_a, r.bits_w) == (16, code_bits)]
    assert sum(r.macs for r in projections) == want["proj_macs"] and len(projections) == 7, widths
    assert sum(r.macs for r in rep.layers if (r.bits_a, r.bits_w) == (16, 16)) == want["attn_macs"]
