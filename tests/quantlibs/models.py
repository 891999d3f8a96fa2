"""Tiny AQT v2 and Qwix models with independently computed costs.

Every builder returns ``(fn, args, expected)``: ``fn(*args)`` is the model's
forward pass, ``args`` leaves are ``jax.ShapeDtypeStruct`` (parameters come
from ``jax.eval_shape`` of the library's own init, so nothing is executed),
and ``expected`` holds MACs and ACE computed here by formula from the layer
shapes and the bit-widths that the metric definitions (metrics.md) assign to each
operand. The expected numbers never come from acecost itself.

The libraries are imported inside the builders so this module imports
without them; tests skip when a library is missing.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp

# ---------------------------------------------------------------- shapes

BATCH = 2
IMG = (BATCH, 6, 6, 2)  # NHWC
CONV_OUT, KSIZE = 4, 3  # 3x3 SAME conv, stride 1
DENSE_OUT = 3
FLAT = IMG[1] * IMG[2] * CONV_OUT  # conv output flattened into the dense layer
MLP_IN, MLP_HIDDEN, MLP_OUT = 8, 6, 3
FLOAT_BITS = 16  # acecost's default price of a float operand


@dataclass(frozen=True)
class Layer:
    """One dot/conv: its MACs and the bit-width of each operand."""

    name: str
    macs: int
    bits_a: int
    bits_w: int
    zero_point: bool = False  # the extra dot of an asymmetric activation

    @property
    def ace(self) -> int:
        return self.macs * self.bits_a * self.bits_w


def conv_macs(n: int, h: int, w: int, cin: int, cout: int, kh: int, kw: int) -> int:
    """MACs of a stride-1 SAME conv: every output pixel does a full kernel."""
    return n * h * w * cout * kh * kw * cin


def dense_macs(batch: int, fin: int, fout: int) -> int:
    return batch * fin * fout


CONV_MACS = conv_macs(IMG[0], IMG[1], IMG[2], IMG[3], CONV_OUT, KSIZE, KSIZE)  # 5184
FC_MACS = dense_macs(BATCH, FLAT, DENSE_OUT)  # 864
FC1_MACS = dense_macs(BATCH, MLP_IN, MLP_HIDDEN)  # 96
FC2_MACS = dense_macs(BATCH, MLP_HIDDEN, MLP_OUT)  # 36


def expect(*layers: Layer, note: str = "") -> dict[str, Any]:
    """Totals the way metrics.md defines them, from per-layer records."""
    return {
        "macs": sum(l.macs for l in layers),
        "ace": sum(l.ace for l in layers),
        "binary_macs": sum(l.macs for l in layers if l.bits_a == 1 and l.bits_w == 1),
        "layers": list(layers),
        "note": note,
    }


def convnet_expect(bits_a: int, bits_w: int, note: str = "") -> dict[str, Any]:
    return expect(Layer("conv", CONV_MACS, bits_a, bits_w),
                  Layer("fc", FC_MACS, bits_a, bits_w), note=note)


def mlp_expect(bits_a: int, bits_w: int, note: str = "", bits_a2: int | None = None) -> dict[str, Any]:
    return expect(Layer("fc1", FC1_MACS, bits_a, bits_w),
                  Layer("fc2", FC2_MACS, bits_a if bits_a2 is None else bits_a2, bits_w), note=note)


def _sds(shape, dtype=jnp.float32) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(tuple(shape), jnp.dtype(dtype))


def _abstract(tree):
    """Abstract leaves of an ``eval_shape`` result (already abstract; strips weak types)."""
    return jax.tree.map(lambda a: _sds(a.shape, a.dtype), tree)


# ---------------------------------------------------------- linen models

def _linen_convnet(conv_kwargs=None, dense_kwargs=None):
    import flax.linen as nn

    class ConvNet(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(CONV_OUT, (KSIZE, KSIZE), name="conv", **(conv_kwargs or {}))(x)
            x = x.reshape((x.shape[0], -1))
            return nn.Dense(DENSE_OUT, name="fc", **(dense_kwargs or {}))(x)

    return ConvNet()


def _linen_mlp():
    import flax.linen as nn

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(MLP_HIDDEN, name="fc1")(x))
            return nn.Dense(MLP_OUT, name="fc2")(x)

    return MLP()


def _linen_init(model, x_shape) -> Any:
    rngs = {"params": jax.random.key(0)}
    return _abstract(jax.eval_shape(lambda: model.init(rngs, jnp.zeros(x_shape))))


# ================================================================ AQT v2

def _aqt_layers(lhs_bits: int, rhs_bits: int, *, rng: bool, **freeze):
    """AqtConvGeneralDilated / AqtDotGeneral partials for nn.Conv / nn.Dense."""
    from aqt.jax.v2 import aqt_conv_general
    from aqt.jax.v2 import config as aqt_config
    from aqt.jax.v2.flax import aqt_flax

    if lhs_bits == rhs_bits:
        dg_cfg = aqt_config.fully_quantized(fwd_bits=lhs_bits, bwd_bits=8)
    else:
        dg_cfg = aqt_config.dot_general_make(lhs_bits=lhs_bits, rhs_bits=rhs_bits, bwd_bits=8)
    conv_cfg = aqt_config.default_unquantized_config()
    conv_cfg.fwd = aqt_conv_general.conv_general_dilated_make(2, lhs_bits, rhs_bits)
    prng = {} if rng else {"prng_name": None}
    dense_freeze = dict(freeze)
    conv_freeze = {k: v for k, v in freeze.items() if k != "use_legacy_freezer"}
    dg = functools.partial(aqt_flax.AqtDotGeneral, dg_cfg, **prng, **dense_freeze)
    cg = functools.partial(aqt_flax.AqtConvGeneralDilated, conv_cfg, **prng, **conv_freeze)
    return {"conv_general_dilated_cls": cg}, {"dot_general_cls": dg}


def aqt_train(bits: int, *, bits_w: int | None = None, rng: bool = False):
    """AQT TRAIN mode: both operands quantized in the graph every call.

    Dense: int dot inside ``custom_vjp_call``; conv: float conv of
    ``convert(int -> f32)`` operands. Clip to +-(2^(b-1)-1) then round gives
    2^b - 1 levels, i.e. b bits, whatever the int8/int4 container.
    """
    bits_w = bits if bits_w is None else bits_w
    conv_kw, dense_kw = _aqt_layers(bits, bits_w, rng=rng)
    model = _linen_convnet(conv_kw, dense_kw)
    x = _sds(IMG)
    variables = _linen_init(model, IMG)
    if rng:
        def fn(variables, x):
            return model.apply(variables, x, rngs={"params": jax.random.key(0)})
    else:
        def fn(variables, x):
            return model.apply(variables, x)
    return fn, (variables, x), convnet_expect(bits, bits_w)


def aqt_serve(bits: int, *, legacy_freezer: bool = True):
    """AQT SERVE mode: weights are frozen int tensors fed as inputs.

    Activations stay in TRAIN mode (quantized in the graph, as in AQT's own
    weight-only serving example). The frozen weight's dtype is all the
    variables declare: int4 for 4-bit, int8 for 2..8-bit (no range), so a
    2-bit weight prices at 8 unless the user declares its width.
    """
    from aqt.jax.v2 import utils as aqt_utils
    from aqt.jax.v2.flax import aqt_flax

    qm = aqt_utils.QuantMode
    freeze = dict(lhs_freeze_mode=aqt_flax.FreezerMode.CALIBRATION,
                  rhs_freeze_mode=aqt_flax.FreezerMode.CALIBRATION_AND_VALUE,
                  use_legacy_freezer=legacy_freezer, lhs_quant_mode=qm.TRAIN)

    def net(weight_mode):
        return _linen_convnet(*_aqt_layers(bits, bits, rng=False, rhs_quant_mode=weight_mode, **freeze))

    params = _linen_init(net(qm.TRAIN), IMG)
    converter = net(qm.CONVERT)
    _, frozen = jax.eval_shape(
        lambda p, x: converter.apply(p, x, mutable=True), params, jnp.zeros(IMG))
    variables = _abstract(frozen)
    server = net(qm.SERVE)

    def fn(variables, x):
        return server.apply(variables, x)

    container = 4 if bits == 4 else 8
    note = "" if container == bits else f"{bits}-bit weights frozen in int8: {container} bits unless declared"
    return fn, (variables, _sds(IMG)), convnet_expect(bits, container, note=note)


# ================================================================== Qwix

def _qtype(name: str | None):
    table = {"int8": jnp.int8, "int4": jnp.int4, "f8": jnp.float8_e4m3fn}
    return None if name is None else table.get(name, name)


def _qwix_provider(mode: str, weight: str | None, act: str | None, calibration: str | None):
    import qwix

    kw = dict(module_path=".*", weight_qtype=_qtype(weight), act_qtype=_qtype(act))
    if calibration:
        kw["act_calibration_method"] = calibration
    if mode == "qat":
        return qwix.QtProvider([qwix.QtRule(**kw)])
    return qwix.PtqProvider([qwix.QuantizationRule(**kw)])


def qwix_linen(mode: str, weight: str | None, act: str | None, *, net: str = "convnet",
               calibration: str | None = None):
    """``qwix.quantize_model`` on a linen model; ``mode`` is "qat" or "ptq".

    PTQ params come from the quantized model's own (abstract) init, so the
    weights are ``WithAux(QArray(qvalue, scale, qtype=...))`` leaves.
    """
    import qwix

    base = _linen_convnet() if net == "convnet" else _linen_mlp()
    model = qwix.quantize_model(base, _qwix_provider(mode, weight, act, calibration))
    x_shape = IMG if net == "convnet" else (BATCH, MLP_IN)
    variables = _linen_init(model, x_shape)

    def fn(variables, x):
        return model.apply(variables, x)

    return fn, (variables, _sds(x_shape)), _qwix_expect(weight, act, net, calibration)


def _nnx_convnet(rngs):
    from flax import nnx

    class ConvNet(nnx.Module):
        def __init__(self, rngs):
            self.conv = nnx.Conv(IMG[3], CONV_OUT, (KSIZE, KSIZE), rngs=rngs)
            self.fc = nnx.Linear(FLAT, DENSE_OUT, rngs=rngs)

        def __call__(self, x):
            x = self.conv(x)
            return self.fc(x.reshape((x.shape[0], -1)))

    return ConvNet(rngs)


def _nnx_mlp(rngs):
    from flax import nnx

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.fc1 = nnx.Linear(MLP_IN, MLP_HIDDEN, rngs=rngs)
            self.fc2 = nnx.Linear(MLP_HIDDEN, MLP_OUT, rngs=rngs)

        def __call__(self, x):
            return self.fc2(nnx.relu(self.fc1(x)))

    return MLP(rngs)


def qwix_nnx(mode: str, weight: str | None, act: str | None, *, net: str = "convnet",
             calibration: str | None = None):
    """``qwix.quantize_model`` on an NNX model, built and quantized abstractly.

    The quantized module itself is the first argument (NNX modules are
    pytrees), so PTQ's ``QArray.qtype`` stays visible in the argument tree.
    """
    import qwix
    from flax import nnx

    x_shape = IMG if net == "convnet" else (BATCH, MLP_IN)
    build = _nnx_convnet if net == "convnet" else _nnx_mlp
    provider = _qwix_provider(mode, weight, act, calibration)
    model = nnx.eval_shape(
        lambda: qwix.quantize_model(build(nnx.Rngs(0)), provider, jnp.zeros(x_shape)))

    def fn(model, x):
        return model(x)

    return fn, (model, _sds(x_shape)), _qwix_expect(weight, act, net, calibration)


#: Bits metrics.md assigns to a Qwix qtype used as a dot/conv operand.
#: int8/int4/f8: the dtype; int2/int3: clip(-2^(b-1), 2^(b-1)-1) levels (QAT)
#: or the declared ``QArray.qtype`` (PTQ weights, stored in int4); nf4: a
#: 16-entry table lookup; None: a float operand.
QWIX_BITS = {"int8": 8, "int4": 4, "int3": 3, "int2": 2, "f8": 8, "nf4": 4, None: FLOAT_BITS}


def _qwix_expect(weight, act, net, calibration) -> dict[str, Any]:
    bw, ba = QWIX_BITS[weight], QWIX_BITS[act]
    if calibration != "minmax":
        return convnet_expect(ba, bw) if net == "convnet" else mlp_expect(ba, bw)
    # Asymmetric activations: q = round(x / s + zp) in the act dtype, and
    # dot(x, w) = s * (dot(q, w) - dot(broadcast(zp), w)). The zero-point
    # operand is one value per row (constant along the contracting dims), so
    # once that per-row factor is taken out it has 1 level -> 1 bit.
    if net == "convnet":
        return expect(Layer("conv", CONV_MACS, ba, bw), Layer("conv", CONV_MACS, 1, bw, True),
                      Layer("fc", FC_MACS, ba, bw), Layer("fc", FC_MACS, 1, bw, True))
    return expect(Layer("fc1", FC1_MACS, ba, bw), Layer("fc1", FC1_MACS, 1, bw, True),
                  Layer("fc2", FC2_MACS, ba, bw), Layer("fc2", FC2_MACS, 1, bw, True))


# ================================================================ registry

Builder = Callable[[], tuple[Callable, tuple, dict]]

AQT_CASES: dict[str, Builder] = {
    "aqt_train_int8": functools.partial(aqt_train, 8, rng=True),
    "aqt_train_int4": functools.partial(aqt_train, 4),
    "aqt_train_int3": functools.partial(aqt_train, 3),
    "aqt_train_int2": functools.partial(aqt_train, 2, rng=True),
    "aqt_train_w4a8": functools.partial(aqt_train, 8, bits_w=4),
    "aqt_serve_int8": functools.partial(aqt_serve, 8),
    "aqt_serve_int4": functools.partial(aqt_serve, 4, legacy_freezer=False),
    "aqt_serve_int2": functools.partial(aqt_serve, 2),
}

QWIX_CASES: dict[str, Builder] = {
    # quantized training (QtProvider), linen
    "qwix_qat_int8_linen": functools.partial(qwix_linen, "qat", "int8", "int8"),
    "qwix_qat_int4_linen": functools.partial(qwix_linen, "qat", "int4", "int4"),
    "qwix_qat_int2_linen": functools.partial(qwix_linen, "qat", "int2", "int2"),
    "qwix_qat_w4a8_linen": functools.partial(qwix_linen, "qat", "int4", "int8", net="mlp"),
    "qwix_qat_w4_linen": functools.partial(qwix_linen, "qat", "int4", None),
    "qwix_qat_f8_linen": functools.partial(qwix_linen, "qat", "f8", "f8"),
    "qwix_qat_nf4_linen": functools.partial(qwix_linen, "qat", "nf4", None),
    "qwix_qat_asym_int8_linen": functools.partial(qwix_linen, "qat", "int8", "int8", net="mlp",
                                                  calibration="minmax"),
    # post-training quantization (PtqProvider), linen
    "qwix_ptq_int8_linen": functools.partial(qwix_linen, "ptq", "int8", "int8"),
    "qwix_ptq_int2_linen": functools.partial(qwix_linen, "ptq", "int2", "int2"),
    "qwix_ptq_w4a8_linen": functools.partial(qwix_linen, "ptq", "int4", "int8", net="mlp"),
    "qwix_ptq_w4_linen": functools.partial(qwix_linen, "ptq", "int4", None, net="mlp"),
    "qwix_ptq_f8_linen": functools.partial(qwix_linen, "ptq", "f8", "f8"),
    "qwix_ptq_nf4_linen": functools.partial(qwix_linen, "ptq", "nf4", None, net="mlp"),
    "qwix_ptq_asym_int8_linen": functools.partial(qwix_linen, "ptq", "int8", "int8", net="mlp",
                                                  calibration="minmax"),
    # NNX
    "qwix_qat_int8_nnx": functools.partial(qwix_nnx, "qat", "int8", "int8"),
    "qwix_qat_int2_nnx": functools.partial(qwix_nnx, "qat", "int2", "int2"),
    "qwix_qat_asym_int8_nnx": functools.partial(qwix_nnx, "qat", "int8", "int8", net="mlp",
                                                calibration="minmax"),
    "qwix_ptq_int4_nnx": functools.partial(qwix_nnx, "ptq", "int4", "int4"),
    "qwix_ptq_int2_nnx": functools.partial(qwix_nnx, "ptq", "int2", None, net="mlp"),
    "qwix_ptq_nf4_nnx": functools.partial(qwix_nnx, "ptq", "nf4", None, net="mlp"),
}

CASES: dict[str, Builder] = {**AQT_CASES, **QWIX_CASES}
