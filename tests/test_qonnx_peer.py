"""acecost beside QONNX's ``inference_cost`` on the same networks (issue 23, part 4).

Each network is built twice from the same numpy weights: as a QONNX model
(``onnx.helper``, ``Quant`` nodes giving the bits) and as a JAX function that
fake-quantizes to the same widths (``clip(round(v / s), lo, hi) * s``, the
arithmetic of QONNX's ``Quant``). Both tools' MACs, bit-operations (QONNX's
``total_bops``, acecost's ACE) and weight bits are checked against closed
forms from the layer shapes and the weights' zero counts, and so against
each other. Where the conventions differ (docs/metrics.md, "QONNX's
inference_cost beside acecost") each side's number is pinned.

Needs the ``qonnx`` extra: ``pip install 'acecost[qonnx]'``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

pytest.importorskip("qonnx", reason="qonnx is not installed (pip install 'acecost[qonnx]')")
pytest.importorskip("onnx", reason="onnx is not installed (pip install 'acecost[qonnx]')")

import jax
import jax.numpy as jnp
from jax import lax
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.inference_cost import inference_cost

import acecost

S_W = 0.125  # weight scale: a power of two, so codes * S_W / S_W is exact and the zeros are the codes' zeros
S_X = 0.05   # input quantizer's scale
S_R = 0.1    # scale of the quantizer after the ReLU
QDOMAIN = "qonnx.custom_op.general"


def signed(bits: int) -> tuple[int, int]:
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


@dataclass(frozen=True)
class Net:
    """x -> Quant(a, signed) -> Conv(Quant(w)) [+bias] -> Relu -> Quant(a, unsigned) -> Flatten
    -> Gemm/MatMul(Quant(w)) [+bias]."""
    name: str
    batch: int
    c_in: int
    hw: int
    c_out: int
    kernel: int
    stride: int
    pad: int
    group: int
    dense_out: int
    a_bits: int
    w_bits: int
    conv_zeros: int
    dense_zeros: int
    bias: bool
    seed: int

    @property
    def out_hw(self) -> int:
        return (self.hw + 2 * self.pad - self.kernel) // self.stride + 1

    @property
    def conv_shape(self) -> tuple[int, ...]:
        return (self.c_out, self.c_in // self.group, self.kernel, self.kernel)

    @property
    def dense_shape(self) -> tuple[int, int]:
        return (self.c_out * self.out_hw ** 2, self.dense_out)

    # closed forms: every weight element of a conv meets batch x H_out x W_out inputs (padded taps
    # counted), every weight element of the dense layer meets batch rows
    def conv_macs(self, nonzero_only: bool = False) -> int:
        count = np.count_nonzero(self.weights()["conv"]) if nonzero_only else int(np.prod(self.conv_shape))
        return int(count) * self.batch * self.out_hw ** 2

    def dense_macs(self, nonzero_only: bool = False) -> int:
        count = np.count_nonzero(self.weights()["dense"]) if nonzero_only else int(np.prod(self.dense_shape))
        return int(count) * self.batch

    def weights(self) -> dict[str, np.ndarray]:
        """Quantized weights (codes x S_W, codes nonzero but for exactly the stated number of zeros) and biases."""
        rng = np.random.default_rng(self.seed)
        lo, hi = signed(self.w_bits)
        out = {}
        for key, shape, zeros in (("conv", self.conv_shape, self.conv_zeros),
                                  ("dense", self.dense_shape, self.dense_zeros)):
            size = int(np.prod(shape))
            nonzero_codes = np.array([c for c in range(lo, hi + 1) if c != 0])
            codes = rng.choice(nonzero_codes, size)
            codes[rng.choice(size, zeros, replace=False)] = 0
            out[key] = (codes.reshape(shape) * S_W).astype(np.float32)
        out["conv_bias"] = rng.standard_normal(self.c_out).astype(np.float32)
        out["dense_bias"] = rng.standard_normal(self.dense_out).astype(np.float32)
        return out


NETS = [
    Net("conv-gemm", batch=2, c_in=3, hw=8, c_out=8, kernel=3, stride=1, pad=1, group=1, dense_out=10,
        a_bits=8, w_bits=4, conv_zeros=54, dense_zeros=2560, bias=True, seed=0),
    Net("grouped-strided-matmul", batch=2, c_in=4, hw=9, c_out=8, kernel=3, stride=2, pad=1, group=2,
        dense_out=6, a_bits=4, w_bits=2, conv_zeros=36, dense_zeros=600, bias=False, seed=1),
]


# ------------------------------------------------------------------ the QONNX side

def _init(name: str, value) -> TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def _quant(inp: str, out: str, scale: str, bits: str, is_signed: int, zero: str = "zero"):
    return helper.make_node("Quant", [inp, scale, zero, bits], [out], domain=QDOMAIN, signed=is_signed, narrow=0,
                            rounding_mode="ROUND", name=f"quant_{out}")


def _model(nodes, inits, x_shape, out_name: str, out_shape):
    graph = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                              [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, list(out_shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QDOMAIN, 1)])
    return ModelWrapper(model)


def qonnx_model(net: Net) -> ModelWrapper:
    w = net.weights()
    conv_inputs = ["xq", "wcq"] + (["bc"] if net.bias else [])
    nodes = [
        _quant("x", "xq", "sx", "ba", 1),
        _quant("wc", "wcq", "sw", "bw", 1),
        helper.make_node("Conv", conv_inputs, ["y"], kernel_shape=[net.kernel] * 2, pads=[net.pad] * 4,
                         strides=[net.stride] * 2, group=net.group, name="conv"),
        helper.make_node("Relu", ["y"], ["r"], name="relu"),
        _quant("r", "rq", "sr", "ba", 0),
        helper.make_node("Flatten", ["rq"], ["f"], axis=1, name="flatten"),
        _quant("wd", "wdq", "sw", "bw", 1),
        (helper.make_node("Gemm", ["f", "wdq", "bd"], ["out"], name="dense") if net.bias
         else helper.make_node("MatMul", ["f", "wdq"], ["out"], name="dense")),
    ]
    inits = [_init("wc", w["conv"]), _init("wd", w["dense"]), _init("sx", S_X), _init("sr", S_R), _init("sw", S_W),
             _init("zero", 0.0), _init("ba", net.a_bits), _init("bw", net.w_bits)]
    if net.bias:
        inits += [_init("bc", w["conv_bias"]), _init("bd", w["dense_bias"])]
    return _model(nodes, inits, (net.batch, net.c_in, net.hw, net.hw), "out", (net.batch, net.dense_out))


def qonnx_cost(model: ModelWrapper, discount: bool) -> dict:
    return inference_cost(model, discount_sparsity=discount, cost_breakdown=True)


# ------------------------------------------------------------------ the JAX side

def fake_quant(v, scale: float, lo: int, hi: int):
    """QONNX's Quant with a zero point of 0: clip(round(v / scale), lo, hi) * scale."""
    return jnp.clip(jnp.round(v / scale), lo, hi) * scale


def jax_model(net: Net, quantize_weights: bool = True):
    """The same network in JAX (NCHW/OIHW, as ONNX), its parameters the same numpy weights.

    ``quantize_weights=False``: the weights are used as stored, quantized offline (the
    ``Quant`` nodes of the QONNX model leave them unchanged: they are codes x S_W already).
    """
    w = net.weights()
    params = {"conv": {"kernel": jnp.asarray(w["conv"])}, "dense": {"kernel": jnp.asarray(w["dense"])}}
    if net.bias:
        params["conv"]["bias"] = jnp.asarray(w["conv_bias"])
        params["dense"]["bias"] = jnp.asarray(w["dense_bias"])

    def weight(v):
        return fake_quant(v, S_W, *signed(net.w_bits)) if quantize_weights else v

    def fn(p, x):
        y = lax.conv_general_dilated(fake_quant(x, S_X, *signed(net.a_bits)), weight(p["conv"]["kernel"]),
                                     (net.stride,) * 2, ((net.pad, net.pad),) * 2,
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"), feature_group_count=net.group)
        if net.bias:
            y = y + p["conv"]["bias"][None, :, None, None]
        r = fake_quant(jax.nn.relu(y), S_R, 0, 2 ** net.a_bits - 1)
        out = r.reshape(net.batch, -1) @ weight(p["dense"]["kernel"])
        return out + p["dense"]["bias"] if net.bias else out

    x = jax.ShapeDtypeStruct((net.batch, net.c_in, net.hw, net.hw), jnp.float32)
    return fn, params, x


# ------------------------------------------------------------------ the comparisons

@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_zero_counts_are_as_built(net):
    w = net.weights()
    assert int(np.prod(net.conv_shape)) - np.count_nonzero(w["conv"]) == net.conv_zeros
    assert int(np.prod(net.dense_shape)) - np.count_nonzero(w["dense"]) == net.dense_zeros


@pytest.mark.parametrize("discount", [False, True], ids=["dense-count", "discount_sparsity"])
@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_qonnx_counts_the_closed_forms(net, discount):
    """QONNX's MACs per node, its BOPs (MACs x bits x bits) and weight bits, with and without its discount."""
    got = qonnx_cost(qonnx_model(net), discount)
    conv_macs, dense_macs = net.conv_macs(discount), net.dense_macs(discount)
    op = f"op_mac_SCALEDINT<{net.a_bits}>_SCALEDINT<{net.w_bits}>"
    nodes = got["node_cost"]
    dense_node = "Gemm_0" if net.bias else "MatMul_0"
    assert set(nodes) == {"Conv_0", dense_node}
    assert nodes["Conv_0"][op] == conv_macs
    assert nodes[dense_node][op] == dense_macs
    total = got["total_cost"]
    assert total["total_macs"] == conv_macs + dense_macs
    assert total["total_bops"] == (conv_macs + dense_macs) * net.a_bits * net.w_bits
    # weight elements (the discount drops the zero ones); no bias anywhere
    w = net.weights()
    elements = (np.count_nonzero(w["conv"]) + np.count_nonzero(w["dense"]) if discount
                else w["conv"].size + w["dense"].size)
    assert total["total_mem_w_elems"] == elements
    assert total["total_mem_w_bits"] == elements * net.w_bits
    assert total["unsupported"] == "set()"


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_acecost_matches_qonnx_without_the_discount(net):
    """Same MACs per layer, acecost's ACE = QONNX's total_bops, same weight bits; bias apart."""
    q = qonnx_cost(qonnx_model(net), discount=False)
    fn, params, x = jax_model(net)
    rep = acecost.analyze(fn, params, x)
    conv_macs, dense_macs = net.conv_macs(), net.dense_macs()
    assert [(r.name, r.macs, r.bits_a, r.bits_w) for r in rep.layers] == [
        ("conv", conv_macs, net.a_bits, net.w_bits), ("dense", dense_macs, net.a_bits, net.w_bits)]
    dense_node = "Gemm_0" if net.bias else "MatMul_0"
    assert [r.macs for r in rep.layers] == [q["node_cost"]["Conv_0"]["total_macs"],
                                           q["node_cost"][dense_node]["total_macs"]]
    assert rep.totals.macs == q["total_cost"]["total_macs"] == conv_macs + dense_macs
    assert rep.totals.ace == q["total_cost"]["total_bops"] == (conv_macs + dense_macs) * net.a_bits * net.w_bits
    assert rep.totals.binary_macs == 0  # acecost's BOPs: MACs whose two operands are 1-bit
    kernel_bits = sum(p.size_bits for p in rep.params if p.path.endswith("kernel"))
    assert kernel_bits == q["total_cost"]["total_mem_w_bits"] == net.w_bits * (
        int(np.prod(net.conv_shape)) + int(np.prod(net.dense_shape)))
    # acecost's size also stores the biases, at their float32 width; QONNX's mem_w leaves them out
    bias_bits = 32 * (net.c_out + net.dense_out) if net.bias else 0
    assert rep.totals.size_bits == kernel_bits + bias_bits


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_acecost_discount_matches_qonnx_discount_sparsity(net):
    """Weights quantized offline, measured (``levels="measured"``) and zero weights discounted
    (``sparsity="discount"``): the MACs and ACE of QONNX's ``discount_sparsity``. The size is not
    discounted: acecost stores every element, QONNX's mem_w keeps the nonzero ones only."""
    q = qonnx_cost(qonnx_model(net), discount=True)
    fn, params, x = jax_model(net, quantize_weights=False)
    w = net.weights()
    conv_macs, dense_macs = net.conv_macs(nonzero_only=True), net.dense_macs(nonzero_only=True)
    rep = acecost.analyze(fn, params, x, levels="measured", sparsity="discount")
    assert [(r.name, r.macs, r.bits_a, r.bits_w) for r in rep.layers] == [
        ("conv", conv_macs, net.a_bits, net.w_bits), ("dense", dense_macs, net.a_bits, net.w_bits)]
    assert [r.weight_density for r in rep.layers] == [np.count_nonzero(w["conv"]) / w["conv"].size,
                                                      np.count_nonzero(w["dense"]) / w["dense"].size]
    dense_node = "Gemm_0" if net.bias else "MatMul_0"
    assert [r.macs for r in rep.layers] == [q["node_cost"]["Conv_0"]["total_macs"],
                                           q["node_cost"][dense_node]["total_macs"]]
    assert rep.totals.macs == q["total_cost"]["total_macs"] == conv_macs + dense_macs
    assert rep.totals.ace == q["total_cost"]["total_bops"] == (conv_macs + dense_macs) * net.a_bits * net.w_bits
    stored = net.w_bits * (w["conv"].size + w["dense"].size)
    nonzero = np.count_nonzero(w["conv"]) + np.count_nonzero(w["dense"])
    assert q["total_cost"]["total_mem_w_bits"] == net.w_bits * nonzero
    assert rep.totals.size_bits == stored + (32 * (net.c_out + net.dense_out) if net.bias else 0)
    # without the discount the measured model counts every MAC, as QONNX with discount_sparsity=False
    plain = acecost.analyze(fn, params, x, levels="measured")
    assert (plain.totals.macs, plain.totals.ace) == (net.conv_macs() + net.dense_macs(),
                                                     qonnx_cost(qonnx_model(net), False)["total_cost"]["total_bops"])


# ------------------------------------------------------------------ where the conventions differ

def _dense_only(x_quant: list, x_name: str, k: int = 256, n: int = 10, batch: int = 2, weights=None):
    """x [batch, k] -> (x_quant nodes) -> MatMul with 4-bit weights: (ModelWrapper, weights)."""
    w = (np.random.default_rng(7).choice([-8, -3, -1, 1, 2, 7], (k, n)) * S_W).astype(np.float32) \
        if weights is None else weights
    nodes = x_quant + [_quant("w", "wq", "sw", "b4", 1), helper.make_node("MatMul", [x_name, "wq"], ["out"], name="mm")]
    inits = [_init("w", w), _init("sw", S_W), _init("sx", S_X), _init("zero", 0.0), _init("zp", 3.0),
             _init("b4", 4), _init("b8", 8)]
    return _model(nodes, inits, (batch, k), "out", (batch, n)), w


def test_unquantized_float_input_is_32_bits_in_qonnx_16_in_acecost():
    """QONNX prices an unquantized input at its FLOAT32 width; acecost at 16 bits unless ``float_bits="dtype"``."""
    model, w = _dense_only([], "x")
    macs = 2 * 256 * 10
    q = qonnx_cost(model, discount=False)["total_cost"]
    assert q["op_mac_FLOAT32_SCALEDINT<4>"] == macs and q["total_bops"] == macs * 32 * 4
    fn = lambda w, x: x @ fake_quant(w, S_W, -8, 7)
    x = jax.ShapeDtypeStruct((2, 256), jnp.float32)
    assert acecost.analyze(fn, jnp.asarray(w), x).totals.ace == macs * 16 * 4
    assert acecost.analyze(fn, jnp.asarray(w), x, float_bits="dtype").totals.ace == macs * 32 * 4


def test_nonzero_zero_point_is_float_in_qonnx_8_bits_in_acecost():
    """QONNX types a Quant with a zero point other than 0 as FLOAT32; acecost counts its 256 levels, 8 bits."""
    model, w = _dense_only([_quant("x", "xq", "sx", "b8", 0, zero="zp")], "xq")
    macs = 2 * 256 * 10
    q = qonnx_cost(model, discount=False)["total_cost"]
    assert q["op_mac_FLOAT32_SCALEDINT<4>"] == macs and q["total_bops"] == macs * 32 * 4

    def fn(w, x):  # QONNX's Quant: clip(round(x / s + z), 0, 255), then (q - z) * s
        return ((jnp.clip(jnp.round(x / S_X + 3.0), 0, 255) - 3.0) * S_X) @ fake_quant(w, S_W, -8, 7)
    rep = acecost.analyze(fn, jnp.asarray(w), jax.ShapeDtypeStruct((2, 256), jnp.float32))
    assert [(r.bits_a, r.bits_w) for r in rep.layers] == [(8, 4)]
    assert rep.totals.ace == macs * 8 * 4


def test_binary_layer_bops_are_macs_in_both_tools():
    """Bipolar x bipolar: QONNX's total_bops = MACs x 1 x 1 (its activation BipolarQuant is 'unsupported');
    acecost's ACE and BOPs (binary MACs) are the MACs, CPU64 = MACs / 64."""
    k, n, batch = 256, 16, 2
    w = np.random.default_rng(3).choice([-1.0, 1.0], (k, n)).astype(np.float32)
    nodes = [helper.make_node("BipolarQuant", ["x", "one"], ["xq"], domain=QDOMAIN, name="bq_x"),
             helper.make_node("BipolarQuant", ["w", "one"], ["wq"], domain=QDOMAIN, name="bq_w"),
             helper.make_node("MatMul", ["xq", "wq"], ["out"], name="mm")]
    model = _model(nodes, [_init("w", w), _init("one", 1.0)], (batch, k), "out", (batch, n))
    macs = batch * k * n
    q = qonnx_cost(model, discount=True)["total_cost"]
    assert q["op_mac_BIPOLAR_BIPOLAR"] == macs and q["total_bops"] == macs
    assert q["total_mem_w_bits"] == k * n
    assert q["unsupported"] == "{'BipolarQuant'}"
    rep = acecost.analyze(lambda w, x: jnp.sign(x) @ jnp.sign(w), jnp.asarray(w),
                          jax.ShapeDtypeStruct((batch, k), jnp.float32))
    assert (rep.totals.macs, rep.totals.ace, rep.totals.binary_macs) == (macs, macs, macs)
    assert rep.totals.cpu64 == macs // 64
    assert rep.totals.size_bits == k * n


def test_weights_a_quantizer_rounds_to_zero_are_discounted_by_qonnx_not_by_acecost():
    """QONNX measures the density after folding the weight Quant: stored weights with no zero, of which
    4 columns of 10 (|w| < S_W / 2) round to 0, lose 40% of their MACs and weight bits. acecost measures
    stored parameters (and their transposes, casts, reshapes), never the result of a quantizer in the
    graph: it counts every MAC and says that the weight was not measured."""
    k, n, batch = 256, 10, 2
    w = np.random.default_rng(5).choice([-0.5, -0.25, 0.25, 0.5], (k, n)).astype(np.float32)
    w[:, :4] = 0.03
    assert np.count_nonzero(w) == w.size
    model, _ = _dense_only([_quant("x", "xq", "sx", "b8", 1)], "xq", weights=w)
    plain, discounted = (qonnx_cost(model, d)["total_cost"] for d in (False, True))
    assert (plain["total_macs"], plain["total_mem_w_bits"]) == (batch * k * n, 4 * k * n)
    assert (discounted["total_macs"], discounted["total_mem_w_bits"]) == (batch * k * 6, 4 * k * 6)
    assert discounted["total_bops"] == batch * k * 6 * 8 * 4
    rep = acecost.analyze(lambda w, x: fake_quant(x, S_X, -128, 127) @ fake_quant(w, S_W, -8, 7), jnp.asarray(w),
                          jax.ShapeDtypeStruct((batch, k), jnp.float32), levels="measured", sparsity="discount")
    assert [(r.macs, r.bits_a, r.bits_w, r.weight_density) for r in rep.layers] == [(batch * k * n, 8, 4, None)]
    assert rep.totals.ace == batch * k * n * 8 * 4
    assert any("not measured" in m for m in rep.warnings)
