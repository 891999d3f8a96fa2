"""``levels="measured"``: a weight operand priced at no more bits than its concrete values need.

Every expectation is a closed form of the shapes and of how the weights were
made here (ternary codes times a per-column scale: 3 values per column; 4-bit
codes: 15), or a brute-force count of distinct values with numpy; never a
number read back from the tool.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner

import acecost
from acecost.cli import main
from acecost.errors import AcecostError
from acecost.report.model import BitsOrigin, to_json

S, F32 = jax.ShapeDtypeStruct, jnp.float32
X = S((8, 256), F32)
FLOAT = 16  # --float-bits default


def ternary_columns(rng, k: int, n: int, zeros: int) -> np.ndarray:
    """[k, n] codes in {-1, 0, 1}: exactly ``zeros`` zeros in each column, both signs present."""
    codes = np.zeros((k, n), np.float32)
    for c in range(n):
        rows = rng.permutation(k)
        nonzero = rows[zeros:]
        codes[nonzero, c] = 1.0
        codes[nonzero[: len(nonzero) // 2], c] = -1.0
    return codes


def example_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """The issue's example: w1 ternary with a per-column scale, half of each column zero;
    w2 4-bit codes in {-8..-1, 1..7} times a per-column scale."""
    rng = np.random.default_rng(seed)
    w1 = ternary_columns(rng, 256, 512, 128) * rng.uniform(0.5, 2.0, 512).astype(np.float32)
    values = np.array([v for v in range(-8, 8) if v], np.float32)
    codes = np.stack([rng.permutation(np.resize(values, 512)) for _ in range(10)], axis=1)  # all 15 per column
    w2 = codes * rng.uniform(0.5, 2.0, 10).astype(np.float32)
    return {"w1": w1, "w2": w2}


def example(p, x):
    return jax.nn.relu(x @ p["w1"]) @ p["w2"]


@dataclass
class Layer:
    rows: int
    fin: int
    fout: int
    levels: int  # distinct values per output column, by construction
    density: float = 1.0

    @property
    def macs(self) -> int:
        return self.rows * self.fin * self.fout

    @property
    def bits(self) -> int:
        return math.ceil(math.log2(self.levels))


EXAMPLE = [Layer(8, 256, 512, 3, 0.5), Layer(8, 512, 10, 15)]


def test_the_weights_hold_what_the_example_says():
    p = example_weights()
    for name, layer in zip(("w1", "w2"), EXAMPLE):
        per_column = [len(np.unique(p[name][:, c])) for c in range(layer.fout)]
        assert set(per_column) == {layer.levels}
    assert all(np.count_nonzero(p["w1"][:, c]) == 128 for c in range(512))


def test_the_issue_example_default_and_measured():
    p = example_weights()
    default = acecost.analyze(example, p, X)
    ace_default = sum(layer.macs * FLOAT * FLOAT for layer in EXAMPLE)
    assert ace_default == 278_921_216
    assert default.totals.ace == ace_default
    assert default.totals.size_bits == sum(layer.fin * layer.fout * FLOAT for layer in EXAMPLE)

    measured = acecost.analyze(example, p, X, levels="measured")
    ace_measured = sum(layer.macs * FLOAT * layer.bits for layer in EXAMPLE)
    assert ace_measured == 36_175_872
    assert measured.totals.ace == ace_measured
    assert measured.totals.macs == default.totals.macs == sum(layer.macs for layer in EXAMPLE)
    # the size follows: 2 bits per w1 element, 4 per w2 element
    assert measured.totals.size_bits == sum(layer.fin * layer.fout * layer.bits for layer in EXAMPLE)
    assert [(r.bits_a, r.bits_w, r.measured_levels) for r in measured.layers] == \
        [(FLOAT, layer.bits, layer.levels) for layer in EXAMPLE]
    assert all(r.origin("w") is BitsOrigin.MEASURED for r in measured.layers)
    assert measured.meta["levels"] == "measured" and "sparsity" not in measured.meta


def test_jax_arrays_and_a_jaxpr_are_measured_alike():
    p = example_weights()
    on_device = jax.tree_util.tree_map(jnp.asarray, p)
    closed = jax.make_jaxpr(example)(p, X)
    for rep in (acecost.analyze(example, on_device, X, levels="measured"),
                acecost.analyze_jaxpr(closed, p, X, levels="measured")):
        assert rep.totals.ace == 36_175_872


def test_a_training_step_measures_each_contraction_along_its_own_axes():
    """Forward: as in inference. The input gradient ``dy @ w2^T`` contracts w2's output axis:
    its channels are w2's rows, whose 10 values (one per column scale) are as many as their
    elements, so no sign of fewer levels: 16 bits, by the rule."""
    p = example_weights()
    rep = acecost.analyze_train(example, p, X, levels="measured")
    forward = [(r.bits_w, r.measured_levels) for r in rep.layers if r.phase == "forward"]
    assert forward == [(layer.bits, layer.levels) for layer in EXAMPLE]
    (through_w2,) = [r for r in rep.layers if r.phase == "backward" and r.gradient == "input"]
    rows = max(len(np.unique(p["w2"][r])) for r in range(512))
    assert (through_w2.measured_levels, through_w2.bits_w) == (rows, FLOAT) and rows == 10


def test_the_json_gives_measured_levels_beside_the_inferred_bits():
    rep = acecost.analyze(example, example_weights(), X, levels="measured")
    data = json.loads(to_json(rep.to_dict()))
    first = data["layers"][0]
    assert first["measured_levels"] == 3 and first["bits_w"] == 2
    assert first["bits_w_source"] == "measured 3 levels per output channel of 'w1' (inferred: 16 bits)"
    assert "weight_density" not in first
    back = acecost.Report.from_dict(data)
    assert back.layers[0].measured_levels == 3 and back.layers[0].origin("w") is BitsOrigin.MEASURED


def test_a_default_report_is_byte_identical_with_or_without_values():
    """Weights with as many values as elements (random floats): nothing to hint, nothing measured."""
    rng = np.random.default_rng(1)
    concrete = {"w1": rng.normal(size=(256, 512)).astype(np.float32),
                "w2": rng.normal(size=(512, 10)).astype(np.float32)}
    abstract = {k: S(v.shape, v.dtype) for k, v in concrete.items()}
    a = to_json(acecost.analyze(example, abstract, X).to_dict())
    b = to_json(acecost.analyze(example, concrete, X).to_dict())
    assert a == b
    assert "measured_levels" not in a and "weight_density" not in a and '"levels"' not in a


def test_levels_measured_never_raises_a_width():
    """min(inferred, measured): float weights with all values distinct stay at 16 bits."""
    rng = np.random.default_rng(2)
    w = rng.normal(size=(256, 512)).astype(np.float32)
    rep = acecost.analyze(lambda p, x: x @ p, w, X, levels="measured")
    assert rep.layers[0].bits_w == FLOAT and rep.layers[0].measured_levels == 256
    assert rep.layers[0].origin("w") is BitsOrigin.FLOAT_FALLBACK


def test_a_per_channel_scale_factors_out_but_a_whole_tensor_bound_does_not():
    """Reshaped before use, the weight's channels are lost: the whole tensor's distinct count
    (3 codes x 512 scales, zero shared) bounds every channel of the operand."""
    p = example_weights()
    flat = p["w1"].reshape(-1)
    rep = acecost.analyze(lambda w, x: x @ w.reshape(256, 512), flat, X, levels="measured")
    whole = len(np.unique(flat))
    assert whole == 2 * 512 + 1
    assert rep.layers[0].bits_w == math.ceil(math.log2(whole)) == 11
    assert "in the whole tensor (a bound)" in rep.layers[0].bits_w_source


def test_a_transposed_and_cast_weight_is_measured_per_channel():
    """``x @ w.T`` (a stored [out, in] kernel) and a bfloat16 cast keep the channels."""
    p = example_weights()
    stored = np.ascontiguousarray(p["w1"].T)  # [512, 256]: one row per output channel

    def fn(w, x):
        return x.astype(jnp.bfloat16) @ w.T.astype(jnp.bfloat16)

    before = stored.copy()
    rep = acecost.analyze(fn, stored, X, levels="measured")
    assert (rep.layers[0].bits_w, rep.layers[0].measured_levels) == (2, 3)
    assert np.array_equal(stored, before)  # its channels are rows: counted on a copy
    assert rep.totals.size_bits == stored.size * 2


def test_a_scanned_stack_is_measured_per_layer_and_channel():
    """A scan over stacked weights: the largest count over every layer and channel."""
    rng = np.random.default_rng(3)
    ws = np.stack([ternary_columns(rng, 64, 64, 16), np.round(rng.normal(size=(64, 64)) * 2)])
    expect = max(len(np.unique(ws[i][:, c])) for i in range(2) for c in range(64))

    def fn(ws, x):
        return jax.lax.scan(lambda h, w: (jnp.tanh(h @ w), None), x, ws)[0]

    rep = acecost.analyze(fn, ws.astype(np.float32), S((4, 64), F32), levels="measured")
    assert expect > 3
    assert [(r.measured_levels, r.bits_w) for r in rep.layers] == [(expect, math.ceil(math.log2(expect)))]
    assert rep.layers[0].macs == 2 * 4 * 64 * 64


def test_a_stack_whose_slices_could_sit_elsewhere_is_bounded_by_the_whole_tensor():
    """[16, 16, 16] read as [16, 16] slices: the slice's axes could be the stack's first two as
    well as its last two, so only the whole tensor's count is sure."""
    rng = np.random.default_rng(12)
    ws = ternary_columns(rng, 16, 256, 4).reshape(16, 16, 16) * rng.uniform(1, 2, 16).astype(np.float32)

    def fn(ws, x):
        return jax.lax.scan(lambda h, w: (h @ w, None), x, ws)[0]

    rep = acecost.analyze(fn, ws, S((2, 16), F32), levels="measured")
    whole = len(np.unique(ws))
    assert rep.layers[0].measured_levels == whole and whole > 3
    assert "in the whole tensor (a bound)" in rep.layers[0].bits_w_source


def test_a_weight_computed_from_another_is_not_measured_and_says_so():
    p = example_weights()
    rep = acecost.analyze(lambda p, x: x @ (p["w1"] + p["w1"] ** 2), p, X, levels="measured")
    assert rep.layers[0].bits_w == FLOAT and rep.layers[0].measured_levels is None
    assert any("not measured" in w and "^w1$" in w for w in rep.warnings)


# ------------------------------------------------------------------ warnings


def test_far_fewer_levels_than_priced_suggest_levels_measured():
    rep = acecost.analyze(example, example_weights(), X)
    hints = [w for w in rep.warnings if "pass --levels measured" in w]
    assert hints == [
        "w1: weight 'w1' holds 3 distinct values per output channel (2 bits) but is priced at 16 bits: "
        "pass --levels measured, or --bits '^w1$=,2'.",
        "w2: weight 'w2' holds 15 distinct values per output channel (4 bits) but is priced at 16 bits: "
        "pass --levels measured, or --bits '^w2$=,4'."]
    assert not [w for w in acecost.analyze(example, example_weights(), X, levels="measured").warnings
                if "--levels measured" in w]


@dataclass
class Codes:
    """A quantized array that declares its codes' type (as Qwix's ``QArray`` does)."""

    qvalue: jax.Array
    scale: jax.Array
    qtype: str = "int2"


jax.tree_util.register_dataclass(Codes, data_fields=["qvalue", "scale"], meta_fields=["qtype"])


def test_a_declaration_the_weights_do_not_keep_is_warned():
    """Codes declared int2 (4 levels) but holding 7 values per column: a quantizer that did not
    reach the stored weights. The declared width stays (min), the warning names the count."""
    rng = np.random.default_rng(4)
    q = np.stack([rng.permutation(np.resize(np.arange(-3, 4), 32)) for _ in range(16)], axis=1).astype(np.int8)
    w = Codes(q, np.ones((16,), np.float32))
    x = S((4, 32), jnp.int8)

    def fn(w, x):
        return jax.lax.dot(x, w.qvalue, preferred_element_type=jnp.int32)

    for levels in (None, "measured"):
        rep = acecost.analyze(fn, w, x, levels=levels)
        assert rep.layers[0].bits_w == 2
        assert any("holds 7 distinct values per output channel (3 bits) but the graph prices it at 2 bits" in t
                   for t in rep.warnings)


def test_a_tag_the_weights_do_not_keep_is_warned_and_kept():
    """``acecost.tag(w, bits=1)`` on ternary weights: the tag wins (never lowered nor raised by
    measuring), and the weights' 3 values per channel are more than it declares."""
    p = example_weights()

    def fn(p, x):
        return x @ acecost.tag(p["w1"], bits=1)

    for levels in (None, "measured"):
        rep = acecost.analyze(fn, p, X, levels=levels)
        assert rep.layers[0].bits_w == 1 and rep.layers[0].origin("w") is BitsOrigin.DECLARED
        assert any("holds 3 distinct values per output channel (2 bits) but the graph prices it at 1 bit" in t
                   for t in rep.warnings), rep.warnings
        assert not any("--levels measured" in t for t in rep.warnings)


# ------------------------------------------------------------ where options go


def test_measuring_without_values_is_refused():
    abstract = {k: S(v.shape, v.dtype) for k, v in example_weights().items()}
    with pytest.raises(AcecostError, match="levels 'measured' needs the weights' values"):
        acecost.analyze(example, abstract, X, levels="measured")
    with pytest.raises(acecost.ConfigError, match="invalid levels 'measure': expected 'inferred' or 'measured'"):
        acecost.analyze(example, abstract, X, levels="measure")


MODEL = '''
import numpy as np, jax, jax.numpy as jnp, acecost
import sys
sys.path.insert(0, {tests!r})
from test_measured_levels import example, example_weights

def acecost_model():
    return acecost.Target(example, (example_weights(), jax.ShapeDtypeStruct((8, 256), jnp.float32)))
'''


@pytest.fixture
def model_file(tmp_path):
    import os

    path = tmp_path / "example_model.py"
    path.write_text(MODEL.format(tests=os.path.dirname(__file__)))
    return path


def test_the_command_line_and_the_config_take_levels(model_file, tmp_path):
    res = CliRunner().invoke(main, ["analyze", str(model_file), "--levels", "measured", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["totals"]["ace"] == 36_175_872 and data["meta"]["levels"] == "measured"
    config = tmp_path / "acecost.toml"
    config.write_text(f'[[models]]\nname = "ex"\ntarget = "{model_file}"\nmax_ace = 40000000\nlevels = "measured"\n')
    assert CliRunner().invoke(main, ["check", "--config", str(config)]).exit_code == 0
    config.write_text(f'[[models]]\nname = "ex"\ntarget = "{model_file}"\nmax_ace = 40000000\n')
    assert CliRunner().invoke(main, ["check", "--config", str(config)]).exit_code == 1  # 278,921,216 > 40M
    abstract = tmp_path / "abstract.py"
    abstract.write_text("import jax, jax.numpy as jnp\nimport acecost\n"
                        "def acecost_model():\n    s = jax.ShapeDtypeStruct\n"
                        "    return acecost.Target(lambda w, x: x @ w, (s((4, 3), jnp.float32), s((2, 4), jnp.float32)))\n")
    res = CliRunner().invoke(main, ["analyze", str(abstract), "--levels", "measured"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1].startswith("acecost: error: levels 'measured' needs the weights'")


def test_levels_and_sparsity_are_sweep_axes(model_file, tmp_path):
    df = acecost.sweep(str(model_file), {"levels": ["inferred", "measured"], "sparsity": ["dense", "discount"]},
                       jobs=1, cache_dir=str(tmp_path / "cache"))
    got = {(row.levels, row.sparsity): (row.macs, row.ace) for row in df.itertuples()}
    dense_macs = sum(layer.macs for layer in EXAMPLE)
    sparse_macs = sum(int(layer.macs * layer.density) for layer in EXAMPLE)
    assert got == {
        ("inferred", "dense"): (dense_macs, 278_921_216),
        ("measured", "dense"): (dense_macs, 36_175_872),
        ("inferred", "discount"): (sparse_macs, sum(int(layer.macs * layer.density) * FLOAT * FLOAT
                                                    for layer in EXAMPLE)),
        ("measured", "discount"): (565_248, 19_398_656),
    }


# ------------------------------------------------------------ the count itself


@pytest.mark.parametrize("axes", [(0,), (1,), (0, 2), (0, 1, 2), ()])
def test_distinct_per_fiber_is_numpys_count_per_channel(axes, monkeypatch):
    from acecost.engine import measured

    monkeypatch.setattr(measured, "_CHUNK", 16)  # several blocks of channels
    rng = np.random.default_rng(10)
    a = rng.integers(-3, 4, size=(6, 5, 4)).astype(np.float32) * rng.uniform(1, 2, (1, 5, 1)).astype(np.float32)
    keep = [d for d in range(3) if d not in axes]
    fibers = np.moveaxis(a, keep, list(range(len(keep)))).reshape(
        int(np.prod([a.shape[d] for d in keep])), -1)
    expect = max(len(np.unique(f)) for f in fibers)
    before = a.copy()
    assert measured.distinct_per_fiber(a, axes) == expect
    assert np.array_equal(a, before)  # sorted copies, never the weights themselves
    assert measured.distinct_per_fiber(a.astype(jnp.bfloat16), axes) == expect  # exact in bfloat16 too


def test_distinct_values_compare_as_numbers():
    from acecost.engine.measured import distinct_per_fiber

    assert distinct_per_fiber(np.array([0.0, -0.0, 1.0], np.float32), (0,)) == 2  # -0 is 0
    assert distinct_per_fiber(np.array([np.nan, np.nan, 1.0], np.float32), (0,)) == 3  # never fewer


def test_a_hint_counts_no_further_than_it_needs_and_measuring_counts_in_full(monkeypatch):
    from acecost.engine import measured

    monkeypatch.setattr(measured, "_CHUNK", 256 * 300)  # one block: 300 channels of 256 rows
    rng = np.random.default_rng(11)
    w = rng.normal(size=(256, 512)).astype(np.float32)
    assert measured.distinct_per_fiber(w, (0,), cap=255) == 256  # the first block exceeds the cap
    w[:, 400] = 0.0
    w[0, 400] = 1.0  # a channel past the first block: it does not change the maximum
    facts = measured.WeightFacts({"w": w}, {"w": w.shape})
    assert facts.levels("w", (0,), cap=255) == 256
    assert facts.levels("w", (0,)) == 256  # made exact when asked without a cap
