"""The examples/ models: exact costs, computed here from each architecture.

Every expected number below is derived by formula from the layer shapes
written out in this file and the operand widths metrics.md assigns
(float operands 16 bits; n levels -> ceil(log2 n) bits), never read back
from acecost. Each example is checked through the library
(``acecost.load.resolve.resolve`` + ``acecost.analyze_target``) and through the
command line (``acecost analyze examples/<file>.py --format json``).
"""
from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import jax
import pytest
from click.testing import CliRunner

import acecost
from acecost.engine.names import base_name
from acecost.load.resolve import load_file, resolve

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FLOAT = 16  # acecost's default width of a float operand with no level structure
F32 = 32  # storage width of a float32 parameter that never enters a dot/conv


# ------------------------------------------------------------------ formulas

@dataclass(frozen=True)
class Layer:
    """One dot/conv as the report should list it (MACs include the multiplier)."""

    name: str
    primitive: str
    macs: int
    bits_a: int
    bits_w: int
    multiplier: int = 1

    @property
    def ace(self) -> int:
        return self.macs * self.bits_a * self.bits_w

    @property
    def binary(self) -> bool:
        return self.bits_a == 1 and self.bits_w == 1


def dense(name: str, rows: int, fin: int, fout: int, a: int, w: int, times: int = 1) -> Layer:
    """``rows`` input vectors of ``fin`` features times a (fin, fout) kernel, ``times`` times."""
    return Layer(name, "dot_general", times * rows * fin * fout, a, w, times)


def conv(name: str, out_hw: int, k: int, cin: int, cout: int, a: int, w: int, batch: int = 1) -> Layer:
    """Square conv: every output position does a full k x k x cin kernel (padded taps count)."""
    return Layer(name, "conv_general_dilated", batch * out_hw * out_hw * cout * k * k * cin, a, w)


@dataclass(frozen=True)
class Expected:
    layers: list[Layer]
    #: every parameter leaf as (elements, bits it is stored at)
    storage: list[tuple[int, int]]
    #: layer names whose operands fall back to float by design
    float_layers: list[str] = field(default_factory=list)
    input_shape: str | None = None

    @property
    def macs(self) -> int:
        return sum(l.macs for l in self.layers)

    @property
    def binary_macs(self) -> int:
        return sum(l.macs for l in self.layers if l.binary)

    @property
    def ace(self) -> int:
        return sum(l.ace for l in self.layers)

    @property
    def cpu64(self) -> Fraction:
        return Fraction(self.binary_macs, 64) + (self.macs - self.binary_macs)

    @property
    def size_bits(self) -> int:
        return sum(n * b for n, b in self.storage)

    @property
    def params(self) -> int:
        return sum(n for n, _ in self.storage)


def _f32(*elements: int) -> list[tuple[int, int]]:
    return [(n, F32) for n in elements]


# ------------------------------------------------------- the six architectures

# binary_mlp.py: 784-512-512-10; fc1 and fc3 real-valued, fc2 sign x sign.
BINARY_MLP = Expected(
    layers=[
        dense("fc1", 1, 784, 512, FLOAT, FLOAT),
        dense("fc2", 1, 512, 512, 1, 1),
        dense("fc3", 1, 512, 10, FLOAT, FLOAT),
    ],
    storage=[(784 * 512, FLOAT), (512 * 512, 1), (512 * 10, FLOAT)]  # kernels at their use width
    + _f32(512, 512, 10)  # biases
    + _f32(512, 512, 512, 512),  # folded batch norms: scale, shift
    float_layers=["fc1", "fc3"],
)

# quantized_cnn.py: 32x32x3 -> conv 3x3 32 (w8a8) -> conv 3x3/2 64 (w4a4)
# -> conv 3x3/2 64 (w4a4) -> global pool -> dense 10 (w8a8).
QUANTIZED_CNN = Expected(
    layers=[
        conv("CNN/conv1", 32, 3, 3, 32, 8, 8),
        conv("CNN/conv2", 16, 3, 32, 64, 4, 4),
        conv("CNN/conv3", 8, 3, 64, 64, 4, 4),
        dense("CNN/head", 1, 64, 10, 8, 8),
    ],
    storage=[(3 * 3 * 3 * 32, 8), (3 * 3 * 32 * 64, 4), (3 * 3 * 64 * 64, 4), (64 * 10, 8)]
    + _f32(32, 64, 64, 10)  # biases
    + _f32(1, 1, 1, 1),  # learned per-tensor activation steps
)

# nnx_mlp.py: 784-256-256-10, every layer W4A8.
NNX_MLP = Expected(
    layers=[
        dense("fc1", 1, 784, 256, 8, 4),
        dense("fc2", 1, 256, 256, 8, 4),
        dense("head", 1, 256, 10, 8, 4),
    ],
    storage=[(784 * 256, 4), (256 * 256, 4), (256 * 10, 4)] + _f32(256, 256, 10),
)

# scan_layers.py: 6 scanned FFN blocks on 64 tokens of width 128, hidden 512, W4A8.
L, T, D, H = 6, 64, 128, 512
SCAN_LAYERS = Expected(
    layers=[
        dense("ffn_in", T, D, H, 8, 4, times=L),
        dense("ffn_out", T, H, D, 8, 4, times=L),
    ],
    storage=[(L * D * H, 4), (L * H * D, 4)] + _f32(L * D, L * H, L * D),  # kernels; norm, biases
)

# tagged.py: 512-256-10, codebook activations and packed int4 weights, both tagged 4-bit.
TAGGED = Expected(
    layers=[dense("fc1", 1, 512, 256, 4, 4), dense("fc2", 1, 256, 10, 4, 4)],
    # packed kernels are uint8 bytes holding two weights each; never a dot operand themselves
    storage=[(512 // 2 * 256, 8), (256 // 2 * 10, 8)]
    + _f32(256, 10)  # per-channel scales
    + _f32(256, 10)  # biases
    + _f32(16, 16),  # codebooks
)

# linen_module.py: int8 LeNet-5 on 28x28x1 (VALID 5x5 convs, 2x2 pools), w8a8 throughout.
LINEN_MODULE = Expected(
    layers=[
        conv("LeNet/conv1", 24, 5, 1, 6, 8, 8),
        conv("LeNet/conv2", 8, 5, 6, 16, 8, 8),
        dense("LeNet/fc1", 1, 4 * 4 * 16, 120, 8, 8),
        dense("LeNet/fc2", 1, 120, 84, 8, 8),
        dense("LeNet/fc3", 1, 84, 10, 8, 8),
    ],
    storage=[(5 * 5 * 1 * 6, 8), (5 * 5 * 6 * 16, 8), (256 * 120, 8), (120 * 84, 8), (84 * 10, 8)]
    + _f32(6, 16, 120, 84, 10),
    input_shape="1,28,28,1",
)

# qwix_cnn.py: Qwix PTQ on 1x16x16x3 -> conv 3x3 16 (w8a8) -> conv 3x3/2 32 (w8a8) -> mean
# -> hand-written einsum 32->64 (w4a8) -> dense 10 (w8a8). PTQ weights are stored as their
# qtype's codes (int8: 8 bits, int4: 4) plus one float32 scale per output channel.
QWIX_CNN = Expected(
    layers=[
        conv("Net/conv1", 16, 3, 3, 16, 8, 8),
        conv("Net/conv2", 8, 3, 16, 32, 8, 8),
        dense("Net/mix", 1, 32, 64, 8, 4),
        dense("Net/head", 1, 64, 10, 8, 8),
    ],
    storage=[(3 * 3 * 3 * 16, 8), (3 * 3 * 16 * 32, 8), (32 * 64, 4), (64 * 10, 8)]
    + _f32(16, 32, 64, 10)  # per-channel scales
    + _f32(16, 32, 10),  # biases (the hand-written layer has none)
)

CASES = {
    "binary_mlp": BINARY_MLP,
    "quantized_cnn": QUANTIZED_CNN,
    "nnx_mlp": NNX_MLP,
    "scan_layers": SCAN_LAYERS,
    "tagged": TAGGED,
    "linen_module": LINEN_MODULE,
    "qwix_cnn": QWIX_CNN,
}
#: examples that need an optional library skip without it
NEEDS = {"qwix_cnn": "qwix"}
NAMES = [pytest.param(n, marks=pytest.mark.skipif(importlib.util.find_spec(NEEDS[n]) is None,
                                                  reason=f"needs {NEEDS[n]}")) if n in NEEDS else n
         for n in CASES]


def test_formulas_match_hand_numbers():
    """Spot checks of the formulas against numbers worked out by hand."""
    assert BINARY_MLP.macs == 668_672 and BINARY_MLP.binary_macs == 262_144
    assert BINARY_MLP.cpu64 == 4_096 + 406_528
    assert QUANTIZED_CNN.layers[1].macs == 16 * 16 * 64 * 9 * 32 == 4_718_592
    assert SCAN_LAYERS.macs == 2 * 6 * 64 * 128 * 512
    assert LINEN_MODULE.macs == 86_400 + 153_600 + 30_720 + 10_080 + 840
    assert QWIX_CNN.macs == 110_592 + 294_912 + 2_048 + 640


# ------------------------------------------------------------------ helpers

def path_of(name: str) -> str:
    return str(EXAMPLES / f"{name}.py")


@functools.lru_cache(maxsize=None)
def target_of(name: str) -> acecost.Target:
    return resolve(path_of(name), input_shape=CASES[name].input_shape)


@functools.lru_cache(maxsize=None)
def report_of(name: str) -> acecost.Report:
    return acecost.analyze_target(target_of(name))


def assert_totals(totals: dict, exp: Expected) -> None:
    assert totals["macs"] == exp.macs
    assert totals["binary_macs"] == exp.binary_macs
    assert totals["ace"] == exp.ace
    assert Fraction(totals["cpu64"]) == exp.cpu64
    assert totals["size_bits"] == exp.size_bits
    assert totals["params"] == exp.params


# ------------------------------------------------------------------ library

@pytest.mark.parametrize("name", NAMES)
def test_arguments_are_abstract(name):
    """Loading an example allocates no weights: every argument leaf is a ShapeDtypeStruct."""
    leaves = jax.tree_util.tree_leaves(target_of(name).args)
    assert leaves and all(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)


@pytest.mark.parametrize("name", NAMES)
def test_layers(name):
    exp = CASES[name]
    got = [(r.name, r.primitive, r.macs, r.bits_a, r.bits_w, r.multiplier, r.ace, r.binary)
           for r in report_of(name).layers]
    want = [(l.name, l.primitive, l.macs, l.bits_a, l.bits_w, l.multiplier, l.ace, l.binary)
            for l in exp.layers]
    assert got == want


@pytest.mark.parametrize("name", NAMES)
def test_totals(name):
    rep = report_of(name)
    assert_totals(vars(rep.totals), CASES[name])


@pytest.mark.parametrize("name", NAMES)
def test_fallbacks_only_where_intended(name):
    """Quantized operands are all recognised; only the real-valued layers fall back to float."""
    exp, rep = CASES[name], report_of(name)
    assert [r.name for r in rep.fallbacks] == exp.float_layers
    counted_as_float = [w for w in rep.warnings if "counted as" in w and "float" in w]
    assert {w.split(":")[0] for w in counted_as_float} == set(exp.float_layers)


@pytest.mark.parametrize("name", NAMES)
def test_complete(name):
    """Every primitive is understood: nothing unsupported, the report is complete."""
    rep = report_of(name)
    assert rep.unsupported == []
    assert rep.totals.complete


def test_scan_is_counted_per_layer():
    """The scan body is walked once and multiplied by the number of stacked layers."""
    loops = report_of("scan_layers").loops
    assert [(lp["kind"], lp["trips"], lp["exact"]) for lp in loops] == [("scan", L, True)]


def test_tags_are_what_sets_the_widths():
    """Without the tags the codebook activations fall back to float; the packed weights stay 4 bits
    (the mask and shift that unpack them prove [-8, 7])."""
    tagged = report_of("tagged")
    assert all(r.bits_a_source == r.bits_w_source == "acecost.tag(bits=4)" for r in tagged.layers)
    fn, args = load_file(Path(path_of("tagged"))).acecost_model(tagged=False)
    plain = acecost.analyze(fn, *args)
    assert [(r.name, r.bits_a, r.bits_w) for r in plain.layers] == [("fc1", FLOAT, 4), ("fc2", FLOAT, 4)]
    assert [r.name for r in plain.fallbacks] == ["fc1", "fc2"]
    assert plain.totals.ace == TAGGED.macs * FLOAT * 4


def test_linen_module_needs_an_input_shape():
    with pytest.raises(acecost.TargetError, match="input-shape"):
        resolve(path_of("linen_module"))


# ---------------------------------------------------------------------- CLI

def cli_args(name: str) -> list[str]:
    args = ["analyze", path_of(name)]
    if CASES[name].input_shape:
        args += ["--input-shape", CASES[name].input_shape]
    return args


@functools.lru_cache(maxsize=None)
def cli_json(name: str) -> dict:
    from acecost.cli import main

    result = CliRunner().invoke(main, [*cli_args(name), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", NAMES)
def test_cli_json_totals(name):
    data = cli_json(name)
    assert_totals(data["totals"], CASES[name])
    assert [(l["name"], l["bits_a"], l["bits_w"], l["macs"]) for l in data["layers"]] == \
        [(l.name, l.bits_a, l.bits_w, l.macs) for l in CASES[name].layers]


@pytest.mark.parametrize("name", NAMES)
def test_cli_strict(name):
    """--strict passes the fully quantized examples and fails the one with float layers."""
    from acecost.cli import main

    result = CliRunner().invoke(main, [*cli_args(name), "--format", "json", "--strict"])
    assert result.exit_code == (1 if CASES[name].float_layers else 0), result.output


# ------------------------------------------------ Qwix: what the README says about its rules

def _qwix_layers(rules, matmul: bool = False) -> list[tuple[str, int, int]]:
    """(name, bits_a, bits_w) of the example's Net quantized by Qwix PTQ ``rules`` (abstractly)."""
    import jax.numpy as jnp
    import qwix

    net = load_file(Path(path_of("qwix_cnn"))).Net(matmul)
    model = qwix.quantize_model(net, qwix.PtqProvider(rules))
    x = jax.ShapeDtypeStruct((1, 16, 16, 3), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    rep = acecost.analyze(lambda v, x: model.apply(v, x), variables, x)
    return [(base_name(r.name), r.bits_a, r.bits_w) for r in rep.layers]


def _rule(path: str, w: str = "int8", a: str = "int8"):
    import jax.numpy as jnp
    import qwix

    return qwix.QuantizationRule(module_path=path, weight_qtype=getattr(jnp, w), act_qtype=getattr(jnp, a))


QWIX = pytest.mark.skipif(importlib.util.find_spec("qwix") is None, reason="needs qwix")


@QWIX
def test_qwix_module_path_is_matched_in_full_against_the_flax_path():
    """``mix`` matches the layer acecost calls ``Net/mix``; the top module's name is not part of
    Qwix's path (``Net/mix`` matches nothing), and a part of the path (``onv1``) matches nothing."""
    assert _qwix_layers([_rule("mix")]) == [("Net/conv1", FLOAT, FLOAT), ("Net/conv2", FLOAT, FLOAT),
                                            ("Net/mix", 8, 8), ("Net/head", FLOAT, FLOAT)]
    for path in ("Net/mix", "onv1", "Net/.*"):  # nothing quantized (the float einsum keeps its own name)
        assert [(a, w) for _, a, w in _qwix_layers([_rule(path)])] == [(FLOAT, FLOAT)] * 4, path


@QWIX
def test_qwix_the_first_matching_rule_wins():
    layers = _qwix_layers([_rule("mix", w="int4"), _rule(".*")])
    assert layers == [("Net/conv1", 8, 8), ("Net/conv2", 8, 8), ("Net/mix", 8, 4), ("Net/head", 8, 8)]


@QWIX
def test_qwix_refuses_w4a8_on_a_conv():
    """PTQ checks the rule; QAT hands int8 and int4 codes to lax.conv_general_dilated, which takes
    one dtype (lax.dot_general takes the two, hence w4a8 on the einsum)."""
    import jax.numpy as jnp
    import qwix

    with pytest.raises(ValueError, match="conv_general_dilated requires same act_qtype and weight_qtype"):
        _qwix_layers([_rule("conv.*", w="int4")])
    net = load_file(Path(path_of("qwix_cnn"))).Net()
    qat = qwix.quantize_model(net, qwix.QtProvider([qwix.QtRule(module_path="conv.*", weight_qtype=jnp.int4,
                                                                act_qtype=jnp.int8)]))
    x = jax.ShapeDtypeStruct((1, 16, 16, 3), jnp.float32)
    with pytest.raises(TypeError, match="conv_general_dilated requires arguments to have the same dtypes, "
                                        "got int8, int4"):
        jax.eval_shape(qat.init, jax.random.key(0), x)
    a, b = jax.ShapeDtypeStruct((1, 3), jnp.int8), jax.ShapeDtypeStruct((3, 4), jnp.int4)
    out = jax.eval_shape(lambda a, b: jax.lax.dot_general(a, b, (((1,), (0,)), ((), ())),
                                                          preferred_element_type=jnp.int32), a, b)
    assert out.shape == (1, 4)


@QWIX
def test_qwix_a_hand_written_matmul_fails_under_ptq():
    """``x @ w`` is quantized at init (Qwix patches jax.lax.dot_general's code, which jnp.matmul
    calls), so ``w`` becomes Qwix's WithAux, which ``@`` refuses when the model is applied."""
    from acecost.cli import main

    result = CliRunner().invoke(main, ["analyze", path_of("qwix_cnn"), "--param", "matmul=true"])
    assert result.exit_code == 2
    assert "unsupported operand type(s) for @" in result.output and "WithAux" in result.output
