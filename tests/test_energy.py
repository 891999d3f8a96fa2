"""Energy estimates: table figures, interpolation, per-layer attribution, overrides, errors.

Expected energies are written out from the formulas in docs/energy.md with
Horowitz's figures typed in here, not read from the shipped table.
"""
import json
import math

import pytest
from rich.console import Console

from acecost.report.energy import UNATTRIBUTED, attribute, estimate, load_table
from acecost.report.energy_text import energy_markdown, energy_rich_table, format_energy
from acecost.errors import ConfigError
from acecost.report.model import OpRecord, ParamRecord, Report, Totals

# Horowitz, ISSCC 2014, 45 nm (pJ); DRAM from QKeras QTools; SRAM = 1 MB cache, 100 pJ per 64 bits.
MUL8, MUL16, MUL32 = 0.2, 0.78, 3.1
ADD8, ADD16, ADD32 = 0.025, 0.05, 0.1
FP16_MUL, FP16_ADD, FP32_MUL, FP32_ADD = 1.1, 0.4, 3.7, 0.9
SRAM, DRAM = 100 / 64, 20.0

INT = "acecost.tag(bits={})"
FLOAT = "float, no level structure (parameter 'params/x' (float32) is used without a quantizer)"


def approx(x):
    return pytest.approx(x, rel=1e-12, abs=1e-15)


def rec(name, macs, a, w, src_a=None, src_w=None):
    return OpRecord(name=name, primitive="dot_general", lhs_shape=[1], rhs_shape=[1], out_shape=[1],
                    bits_a=a, bits_w=w, bits_a_source=src_a or INT.format(a),
                    bits_w_source=src_w or INT.format(w), multiplier=1, macs=macs, ace=macs * a * w,
                    binary=a == w == 1)


def param(path, size_bits):
    return ParamRecord(path=path, shape=[size_bits], dtype="float32", bits=1, size_bits=size_bits)


def report(layers, params=(), elementwise=None, complete=True):
    return Report(totals=Totals(macs=sum(r.macs for r in layers), complete=complete), layers=list(layers),
                  params=list(params), elementwise_by_layer=dict(elementwise or {}))


@pytest.fixture(scope="module")
def table():
    return load_table("horowitz45")


# ------------------------------------------------------------------ table
def test_builtin_table_holds_horowitz_figures(table):
    assert (table.int8_mult_pj, table.int16_mult_pj, table.int32_mult_pj) == (MUL8, MUL16, MUL32)
    assert (table.int8_add_pj, table.int16_add_pj, table.int32_add_pj) == (ADD8, ADD16, ADD32)
    assert (table.fp16_mult_pj, table.fp16_add_pj) == (FP16_MUL, FP16_ADD)
    assert (table.fp32_mult_pj, table.fp32_add_pj) == (FP32_MUL, FP32_ADD)
    assert table.sram_read_pj_per_bit == SRAM and table.dram_read_pj_per_bit == DRAM
    assert table.accumulator_bits == 32 and table.elementwise_op_pj == FP32_ADD
    assert table.name == "horowitz45" and "ISSCC 2014" in table.source and table.notes


@pytest.mark.parametrize("a, w, expected", [
    (8, 8, MUL8), (16, 16, MUL16), (32, 32, MUL32),          # the table points
    (1, 1, MUL8 / 64), (4, 4, MUL8 * 16 / 64), (2, 8, MUL8 * 16 / 64),  # proportional below 8x8
    (8, 16, MUL8 + (MUL16 - MUL8) * (128 - 64) / (256 - 64)),
    (4, 64, MUL16),                                           # only a*w matters
    (16, 32, MUL16 + (MUL32 - MUL16) * (512 - 256) / (1024 - 256)),
    (64, 64, MUL32 + (MUL32 - MUL16) * (4096 - 1024) / (1024 - 256)),  # last segment extended
])
def test_int_multiply_interpolates_in_a_times_w(table, a, w, expected):
    assert table.int_mult_pj(a, w) == approx(expected)


@pytest.mark.parametrize("bits, expected", [
    (8, ADD8), (16, ADD16), (32, ADD32), (1, ADD8 / 8), (4, ADD8 / 2),
    (12, ADD8 + (ADD16 - ADD8) * 4 / 8), (24, ADD16 + (ADD32 - ADD16) * 8 / 16),
    (64, ADD32 + (ADD32 - ADD16) * 32 / 16),
])
def test_int_add_interpolates_in_width(table, bits, expected):
    assert table.int_add_pj(bits) == approx(expected)


# ------------------------------------------------------------ MAC energy
def test_int8_dense_mac_energy(table):
    er = estimate(report([rec("Net/fc", 1000, 8, 8)]), table)
    assert er.rows[0].compute_pj == approx(1000 * (0.2 + 0.1))
    assert er.rows[0].float_macs == 0


def test_binary_mac_energy_is_tiny_multiply_plus_accumulator(table):
    er = estimate(report([rec("bin", 6400, 1, 1)]), table)
    assert er.totals.compute_pj == approx(6400 * (0.2 / 64 + 0.1))


def test_mixed_integer_widths(table):
    er = estimate(report([rec("w4a8", 300, 8, 4)]), table)
    assert er.totals.compute_pj == approx(300 * (MUL8 * 32 / 64 + ADD32))


@pytest.mark.parametrize("a, src_a, w, src_w, expected_per_mac", [
    (16, FLOAT, 16, FLOAT, FP16_MUL + FP32_ADD),
    (32, FLOAT, 32, FLOAT, FP32_MUL + FP32_ADD),
    (16, FLOAT, 4, None, FP16_MUL + FP32_ADD),     # one operand quantized: float MAC at the float width
    (8, None, 32, FLOAT, FP32_MUL + FP32_ADD),
    (8, FLOAT, 8, FLOAT, FP16_MUL + FP32_ADD),      # float_bits=8: fp16 figures (no fp8 figure)
])
def test_float_fallback_mac_energy(table, a, src_a, w, src_w, expected_per_mac):
    er = estimate(report([rec("f", 500, a, w, src_a, src_w)]), table)
    assert er.rows[0].compute_pj == approx(500 * expected_per_mac)
    assert er.rows[0].float_macs == 500 and er.totals.float_macs == 500
    assert not er.warnings


def test_float_wider_than_32_bits_uses_fp32_and_warns(table):
    er = estimate(report([rec("f64", 10, 64, 64, FLOAT, FLOAT)]), table)
    assert er.totals.compute_pj == approx(10 * (FP32_MUL + FP32_ADD))
    assert any("64-bit float" in w for w in er.warnings)


def test_bits_override_counts_as_integer(table):
    src = "override --bits fc=16,16"
    er = estimate(report([rec("fc", 7, 16, 16, src, src)]), table)
    assert er.totals.compute_pj == approx(7 * (MUL16 + ADD32))
    assert er.totals.float_macs == 0


# ------------------------------------------------------- rows and totals
def test_rows_elementwise_weights_and_totals(table):
    rep = report(
        [rec("Net/fc1", 1000, 8, 8), rec("Net/fc2", 40, 1, 1), rec("Net/fc1", 10, 4, 4)],
        params=[param("params/fc1/kernel", 8000), param("params/fc1/bias", 320),
                param("params/fc2/kernel", 40), param("params/block/bn/scale", 64),
                param("params/embed/embedding", 1000)],
        elementwise={"Net/fc1": 50, "Net": 7, "Net/block/bn": 30, "top level": 3},
    )
    er = estimate(rep, table)
    rows = {r.layer: r for r in er.rows}
    assert [r.layer for r in er.rows] == ["Net/fc1", "Net/fc2", "Net", "Net/block/bn", "top level", UNATTRIBUTED]

    fc1 = rows["Net/fc1"]
    assert fc1.macs == 1010
    assert fc1.compute_pj == approx(1000 * (MUL8 + ADD32) + 10 * (MUL8 * 16 / 64 + ADD32))
    assert fc1.elementwise_ops == 50 and fc1.elementwise_pj == approx(50 * FP32_ADD)
    assert fc1.params == ["params/fc1/kernel", "params/fc1/bias"] and fc1.weight_bits == 8320
    assert fc1.sram_pj == approx(8320 * SRAM) and fc1.dram_pj == approx(8320 * DRAM)
    assert fc1.total_pj == approx(fc1.compute_pj + fc1.elementwise_pj + fc1.sram_pj)

    assert rows["Net/fc2"].sram_pj == approx(40 * SRAM) and rows["Net/fc2"].elementwise_pj == 0
    assert rows["Net"].compute_pj == 0 and rows["Net"].elementwise_pj == approx(7 * FP32_ADD)
    bn = rows["Net/block/bn"]
    assert bn.elementwise_pj == approx(30 * FP32_ADD) and bn.params == ["params/block/bn/scale"]
    assert rows["top level"].elementwise_pj == approx(3 * FP32_ADD)
    assert rows[UNATTRIBUTED].params == ["params/embed/embedding"]
    assert rows[UNATTRIBUTED].dram_pj == approx(1000 * DRAM)

    t = er.totals
    compute = 1000 * (MUL8 + ADD32) + 10 * (MUL8 / 4 + ADD32) + 40 * (MUL8 / 64 + ADD32)
    ew = (50 + 7 + 30 + 3) * FP32_ADD
    bits = 8000 + 320 + 40 + 64 + 1000
    assert (t.macs, t.elementwise_ops, t.weight_bits) == (1050, 90, bits)
    assert t.compute_pj == approx(compute) and t.elementwise_pj == approx(ew)
    assert t.sram_pj == approx(bits * SRAM) and t.dram_pj == approx(bits * DRAM)
    assert t.total_pj == approx(compute + ew + bits * SRAM)  # DRAM is not in the on-chip total
    assert not er.warnings


@pytest.mark.parametrize("path, names, expected", [
    ("params/fc/kernel", ["Net/fc"], "Net/fc"),                    # linen: collection vs class prefix
    ("params/Net/fc/kernel", ["Net/fc"], "Net/fc"),                # full path
    ("fc1/kernel", ["fc1", "fc2"], "fc1"),                         # NNX / plain pytree
    ("params/a/fc/kernel", ["Net/a/fc", "Net/b/fc"], "Net/a/fc"),  # longest prefix decides
    ("params/fc/kernel", ["Net/a/fc", "Net/fc"], "Net/fc"),        # shortest name wins a tie in length
    ("params/block/sub/w", ["Net/block"], "Net/block"),            # nested parameter goes to its layer
    ("params/fcx/kernel", ["Net/fc"], None),                       # component boundaries, not substrings
    ("kernel", ["kernel"], None),                                  # no prefix at all
])
def test_parameter_attribution(path, names, expected):
    assert attribute(path, names)[0] == expected


@pytest.mark.parametrize("path, layers, scopes, expected", [
    # AQT: the contraction sits in a submodule; the weights go with the MACs, not the bias-add scope
    ("params/conv/kernel", ["ConvNet/conv/AqtConvGeneralDilated_0"], ["ConvNet/conv"],
     "ConvNet/conv/AqtConvGeneralDilated_0"),
    # Qwix on NNX names the layer after its weight's path
    ("conv/bias", ["conv/kernel/array", "fc/kernel/array"], ["top level"], "conv/kernel/array"),
    # a normalisation's parameters go to its elementwise scope, the closer match
    ("params/block/bn/scale", ["Net/block/conv"], ["Net/block/bn", "Net/block"], "Net/block/bn"),
    ("params/block/bn/scale", ["Net/block/conv"], ["Net"], "Net/block/conv"),
    ("params/head/w", [], ["Net/head"], "Net/head"),
])
def test_parameter_attribution_layers_then_scopes(path, layers, scopes, expected):
    assert attribute(path, layers, scopes) == (expected, [])


def test_parameter_inside_several_layers_is_a_tie():
    assert attribute("block/bias", ["block/c1", "block/c2"], []) == (None, ["block/c1", "block/c2"])


def test_ambiguous_parameter_is_unattributed_with_a_warning(table):
    rep = report([rec("A/fc", 1, 8, 8), rec("B/fc", 1, 8, 8)], params=[param("params/fc/kernel", 64)])
    er = estimate(rep, table)
    assert er.rows[-1].layer == UNATTRIBUTED and er.rows[-1].sram_pj == approx(64 * SRAM)
    assert any("params/fc/kernel" in w and "A/fc" in w and "B/fc" in w for w in er.warnings)


def test_incomplete_report_warns(table):
    assert any("incomplete" in w for w in estimate(report([], complete=False), table).warnings)


def test_analyzed_linen_model(table):
    """A traced 2-layer model: int8 x int8 (1000 MACs) then binary (4000 MACs), ReLU between."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    import acecost
    from acecost.report.model import Report as R

    class QDense(nn.Module):
        features: int
        bits: int

        @nn.compact
        def __call__(self, x):
            k = self.param("kernel", nn.initializers.zeros, (x.shape[-1], self.features))
            return acecost.tag(x, bits=self.bits) @ acecost.tag(k, bits=self.bits)

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            return QDense(4, 1, name="fc2")(nn.relu(QDense(10, 8, name="fc1")(x)))

    m, x = Net(), jax.ShapeDtypeStruct((100, 1), jnp.float32)
    params = jax.eval_shape(m.init, jax.random.key(0), x)
    rep = acecost.analyze(lambda p, x: m.apply(p, x), params, x)
    er = estimate(rep, table)
    rows = {r.layer: r for r in er.rows}
    assert rows["Net/fc1"].compute_pj == approx(100 * 10 * (MUL8 + ADD32))
    assert rows["Net/fc2"].compute_pj == approx(100 * 10 * 4 * (MUL8 / 64 + ADD32))
    assert rows["Net/fc1"].sram_pj == approx(1 * 10 * 8 * SRAM)   # 10 int8 weights
    assert rows["Net/fc2"].dram_pj == approx(10 * 4 * 1 * DRAM)   # 40 binary weights
    assert rows["Net"].elementwise_pj == approx(100 * 10 * FP32_ADD)  # the ReLU
    assert UNATTRIBUTED not in rows
    again = estimate(R.from_dict(json.loads(json.dumps(rep.to_dict()))), table)
    assert again.to_dict() == er.to_dict()


# -------------------------------------------------------------- overrides
def test_override_from_json_changes_only_given_keys(tmp_path):
    path = tmp_path / "my7nm.json"
    path.write_text(json.dumps({"int8_mult_pj": 0.03, "accumulator_bits": 16, "sram_read_pj_per_bit": 0.5}))
    t = load_table(str(path))
    assert t.name == "my7nm" and t.origin == str(path)
    assert (t.int8_mult_pj, t.accumulator_bits, t.sram_read_pj_per_bit) == (0.03, 16, 0.5)
    assert (t.int16_mult_pj, t.fp32_add_pj, t.dram_read_pj_per_bit) == (MUL16, FP32_ADD, DRAM)
    er = estimate(report([rec("fc", 100, 8, 8)], params=[param("params/fc/w", 10)]), t)
    assert er.totals.compute_pj == approx(100 * (0.03 + ADD16))
    assert er.totals.sram_pj == approx(10 * 0.5)
    assert er.to_dict()["table"]["values"]["int8_mult_pj"] == 0.03


def test_override_from_toml_with_name(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('name = "edge"\nelementwise_op_pj = 0.1\ndram_read_pj_per_bit = 10\n')
    t = load_table(path)
    assert t.name == "edge" and t.elementwise_op_pj == 0.1 and t.dram_read_pj_per_bit == 10
    assert t.int8_mult_pj == MUL8


@pytest.mark.parametrize("content, suffix, message", [
    ("{not json", ".json", "invalid JSON"),
    ("a = = 1", ".toml", "invalid TOML"),
    ("[1, 2]", ".json", "expected an object"),
    ('{"int8_mul_pj": 0.2}', ".json", "unknown key 'int8_mul_pj'; did you mean 'int8_mult_pj'"),
    ('{"zzz": 1}', ".json", "unknown key 'zzz'; known keys: int8_mult_pj"),
    ('{"int8_mult_pj": -0.1}', ".json", "'int8_mult_pj' must be a finite, non-negative number"),
    ('{"int8_mult_pj": NaN}', ".json", "'int8_mult_pj' must be a finite, non-negative number"),
    ('{"fp32_add_pj": "0.9"}', ".json", "'fp32_add_pj' must be a number"),
    ('{"fp32_add_pj": true}', ".json", "'fp32_add_pj' must be a number"),
    ('{"accumulator_bits": 0}', ".json", "'accumulator_bits' must be a positive integer"),
    ('{"accumulator_bits": 24.5}', ".json", "'accumulator_bits' must be a positive integer"),
    ('{"notes": "x"}', ".json", "'notes' must be a list of strings"),
    ('{"name": 3}', ".json", "'name' must be a string"),
])
def test_bad_tables_are_config_errors(tmp_path, content, suffix, message):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(ConfigError, match="energy table") as exc:
        load_table(str(path))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_missing_table_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file, and not a built-in table .*horowitz45"):
        load_table(str(tmp_path / "nope.json"))


def test_unknown_builtin_name():
    with pytest.raises(ConfigError, match="'horowitz7'"):
        load_table("horowitz7")


# -------------------------------------------------------------- rendering
@pytest.mark.parametrize("pj, text", [
    (0, "0"), (812, "812 pJ"), (0.5, "0.5 pJ"), (999.6, "1 nJ"), (4100, "4.1 nJ"),
    (1.5e6, "1.5 uJ"), (2.354e9, "2.35 mJ"), (3e12, "3 J"),
])
def test_format_energy(pj, text):
    assert format_energy(pj) == text


def test_rendering_and_json(table):
    rep = report([rec("Net/fc1", 1000, 8, 8)], params=[param("params/fc1/kernel", 6400)], elementwise={"Net": 10})
    er = estimate(rep, table)
    # 300 pJ compute, 9 pJ elementwise, 10 nJ SRAM, 128 nJ DRAM; on-chip 10.309 nJ
    md = energy_markdown(er)
    assert "| `Net/fc1` | 300 pJ | 0 | 10 nJ | 10.3 nJ | 128 nJ |" in md
    assert "| `Net` | 0 | 9 pJ | 0 | 9 pJ | 0 |" in md
    assert "| **Total** | **300 pJ** | **9 pJ** | **10 nJ** | **10.3 nJ** | **128 nJ** |" in md
    console = Console(width=140, record=True)
    console.print(energy_rich_table(er))
    text = console.export_text()
    assert "Net/fc1" in text and "128 nJ" in text and "Total" in text and "horowitz45" in text
    d = json.loads(json.dumps(er.to_dict()))
    assert d["totals"]["total_pj"] == approx(300 + 9 + 10000)
    assert d["rows"][0]["total_pj"] == approx(300 + 10000)
    assert d["table"]["name"] == "horowitz45" and math.isclose(d["table"]["values"]["dram_read_pj_per_bit"], 20)
