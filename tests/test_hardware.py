"""``--hardware``: roofline time per layer, max(2 MACs / class peak, memory bits / 8 / bandwidth).

Expected times are closed forms of the shapes and of the vendors' published rates as the
bundled table quotes them (NVIDIA's H100 datasheet: dense bf16 989.4 TFLOP/s, 3.35 TB/s).
"""
from __future__ import annotations

import json
import math
import re

import jax
import jax.numpy as jnp
import pytest
from click.testing import CliRunner

import acecost
from acecost.cli import main
from acecost.errors import ConfigError
from acecost.figures.breakdown import breakdown
from acecost.report.hardware import CLASSES, builtin, load_hardware
from acecost.report.model import Report

S = jax.ShapeDtypeStruct
F32, BF16 = jnp.float32, jnp.bfloat16
H100_BF16, H100_BW = 989.4e12, 3.35e12


def matmul(w, x):
    return x @ w


def tagged(a_bits, w_bits):
    return lambda w, x: acecost.tag(x, bits=a_bits) @ acecost.tag(w, bits=w_bits)


# ------------------------------------------------------------ the check

def test_h100_runs_a_4096_cubed_bf16_matmul_in_139_microseconds_compute_bound():
    n = 4096
    rep = acecost.analyze(matmul, S((n, n), BF16), S((n, n), BF16), hardware="h100-sxm")
    (r,) = rep.layers
    assert r.time_s == pytest.approx(2 * n**3 / H100_BF16, rel=1e-12)
    assert f"{r.time_s:.3e}" == "1.389e-04"
    assert (r.bound, r.compute_class) == ("compute", "bf16")
    assert rep.totals.time_s == r.time_s
    memory = 3 * n * n * 16 / 8 / H100_BW
    assert memory < r.time_s  # 30 us of memory under 139 us of compute


def test_a_decode_matrix_vector_product_is_memory_bound():
    n = 4096
    rep = acecost.analyze(matmul, S((n, n), BF16), S((1, n), BF16), hardware="h100-sxm")
    (r,) = rep.layers
    bits = (n + n * n + n) * 16  # x, w and the output in bf16 (jnp's bf16 matmul writes bf16)
    assert r.bound == "memory"
    assert r.time_s == pytest.approx(bits / 8 / H100_BW, rel=1e-12)


# ------------------------------------------------------------ operand classes

@pytest.mark.parametrize("device,a,w,cls", [
    ("a100-sxm", 8, 8, "int8"), ("a100-sxm", 4, 4, "int4"), ("a100-sxm", 8, 4, "int8"),
    ("h100-sxm", 4, 4, "int8"), ("h100-sxm", 8, 8, "int8"), ("tpu-v5e", 8, 8, "int8"),
    ("tpu-v4", 1, 1, "int8"), ("a100-sxm", 1, 1, "int4"), ("jetson-agx-orin", 2, 2, "int8"),
    ("h100-sxm", 12, 8, "bf16"),  # wider than every integer class: the float units
])
def test_integer_operands_run_in_the_narrowest_class_that_holds_them(device, a, w, cls):
    hw = load_hardware(device)
    rep = acecost.analyze(tagged(a, w), S((64, 32), F32), S((16, 64), F32), hardware=device)
    (r,) = rep.layers
    assert r.compute_class == cls
    compute = 2 * 16 * 64 * 32 / hw.peak[cls]
    memory = (16 * 64 * a + 64 * 32 * w + 16 * 32 * 32) / 8 / hw.memory_bandwidth
    assert r.time_s == pytest.approx(max(compute, memory), rel=1e-12)
    assert r.bound == ("compute" if compute >= memory else "memory")


def test_one_and_two_bit_operands_run_in_the_narrowest_class_and_the_report_says_which():
    rep = acecost.analyze(tagged(1, 1), S((64, 32), F32), S((16, 64), F32), hardware="h100-sxm")
    (note,) = rep.meta["hardware"]["notes"]
    assert note == ("1 contraction(s) with operands narrower than any class of NVIDIA H100 SXM5 80GB "
                    "(its narrowest is 8 bits) run in int8")
    assert f"hardware: {note}" in rep.warnings
    rep = acecost.analyze(tagged(4, 4), S((64, 32), F32), S((16, 64), F32), hardware="a100-sxm")
    assert rep.meta["hardware"]["notes"] == []  # A100 has int4 units


def test_float_operands_run_in_float_classes():
    args = (S((64, 32), F32), S((16, 64), F32))
    for device, float_bits, cls in (("h100-sxm", 8, "fp8"), ("a100-sxm", 8, "bf16"), ("h100-sxm", 16, "bf16"),
                                    ("h100-sxm", 32, "fp32"), ("jetson-agx-orin", 16, "fp16")):
        rep = acecost.analyze(matmul, *args, float_bits=float_bits, hardware=device)
        assert rep.layers[0].compute_class == cls, (device, float_bits)
    rep = acecost.analyze(matmul, *args, float_bits=32, hardware="tpu-v5e")  # no fp32 units
    assert rep.layers[0].compute_class == "bf16"
    assert "its widest: a lower bound" in rep.meta["hardware"]["notes"][0]


def test_float8_operands_run_in_fp8_units_or_the_next_float_class():
    """256 levels of a float8 dtype are not int8 codes: an A100 or a TPU v5e has no fp8 units."""
    def fp8(w, x):
        return jnp.dot(x, w, preferred_element_type=BF16)

    args = (S((64, 32), jnp.float8_e4m3fn), S((16, 64), jnp.float8_e4m3fn))
    for device, cls in (("h100-sxm", "fp8"), ("a100-sxm", "bf16"), ("tpu-v5e", "bf16")):
        rep = acecost.analyze(fp8, *args, hardware=device)
        assert (rep.layers[0].bits_a, rep.layers[0].compute_class) == (8, cls), device
        assert rep.totals.memory_bits == (16 * 64 + 64 * 32) * 8 + 16 * 32 * 16


def test_the_total_is_the_sum_of_the_layers_and_json_keeps_it():
    def two(p, x):
        return jnp.tanh(x @ p["a"]) @ p["b"]

    params = {"a": S((256, 512), BF16), "b": S((512, 8), BF16)}
    rep = acecost.analyze(two, params, S((4, 256), BF16), hardware="tpu-v4")
    assert rep.totals.time_s == sum(r.time_s for r in rep.layers)
    data = json.loads(json.dumps(rep.to_dict()))
    assert [r["bound"] for r in data["layers"]] == ["memory", "memory"]
    assert data["meta"]["hardware"]["name"] == "tpu-v4" and data["totals"]["time_s"] == rep.totals.time_s
    assert Report.from_dict(data).layers == rep.layers
    assert breakdown("two", rep, x="time_s").known == pytest.approx(rep.totals.time_s, rel=1e-12)
    plain = acecost.analyze(two, params, S((4, 256), BF16))
    assert "time_s" not in plain.to_dict()["layers"][0] and plain.totals.time_s is None


# ------------------------------------------------------------ the table

def test_the_bundled_table_has_the_devices_with_their_sources():
    devices = builtin()["devices"]
    assert {"h100-sxm", "a100-sxm", "tpu-v5e", "tpu-v4", "jetson-agx-orin"} <= set(devices)
    for name, d in devices.items():
        hw = load_hardware(name)
        assert re.search(r"https://\S+", d["source"]), name
        assert set(hw.peak) <= set(CLASSES) and ({"bf16", "fp16"} & set(hw.peak)) and "int8" in hw.peak
        assert hw.memory_bandwidth > 1e11
    h100 = load_hardware("H100-SXM")  # names are case-insensitive
    assert (h100.peak["bf16"], h100.memory_bandwidth) == (H100_BF16, H100_BW)
    assert "int4" not in h100.peak and "fp8" not in load_hardware("a100-sxm").peak


def test_a_user_file_is_a_device(tmp_path):
    chip = tmp_path / "chip.toml"
    chip.write_text('title = "My chip"\nmemory_bandwidth = 1e11\nsource = "measured"\n[peak]\nint8 = 1e13\n')
    rep = acecost.analyze(tagged(8, 8), S((64, 32), F32), S((16, 64), F32), hardware=str(chip))
    (r,) = rep.layers
    memory = (16 * 64 * 8 + 64 * 32 * 8 + 16 * 32 * 32) / 8 / 1e11
    assert r.time_s == pytest.approx(max(2 * 16 * 64 * 32 / 1e13, memory), rel=1e-12)
    assert rep.meta["hardware"]["title"] == "My chip"
    as_json = tmp_path / "chip.json"
    as_json.write_text(json.dumps({"memory_bandwidth": 1e11, "peak": {"int8": 1e13}}))
    assert acecost.analyze(tagged(8, 8), S((64, 32), F32), S((16, 64), F32),
                           hardware=str(as_json)).totals.time_s == rep.totals.time_s


MODEL = '''
import jax, jax.numpy as jnp
def acecost_model():
    return (lambda w, x: x @ w), (jax.ShapeDtypeStruct((64, 32), jnp.float32),
                                  jax.ShapeDtypeStruct((16, 64), jnp.float32))
'''

BAD_FILES = {
    "no_bandwidth.toml": ("[peak]\nbf16 = 1e14\n", "memory_bandwidth must be a number of bytes per second > 0"),
    "negative.toml": ("memory_bandwidth = -1\n[peak]\nbf16 = 1e14\n", "got -1"),
    "class.toml": ("memory_bandwidth = 1e12\n[peak]\nbf17 = 1e14\n", "unknown peak class 'bf17'"),
    "empty.toml": ("memory_bandwidth = 1e12\n[peak]\n", "peak must be a table"),
    "rate.toml": ('memory_bandwidth = 1e12\n[peak]\nbf16 = "fast"\n', "peak bf16 must be a number"),
    "key.toml": ("memory_bandwidth = 1e12\nbandwith = 1\n[peak]\nbf16 = 1e14\n", "unknown key 'bandwith'"),
    "syntax.toml": ("memory_bandwidth = \n", "not valid TOML"),
    "syntax.json": ("{", "not valid JSON"),
    "missing.toml": (None, "cannot read it"),
    "chip.txt": ("", "not a bundled device"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_bad_file_is_one_clear_line_and_exit_2(name, tmp_path):
    text, reason = BAD_FILES[name]
    (tmp_path / "m.py").write_text(MODEL)
    if text is not None:
        (tmp_path / name).write_text(text)
    res = CliRunner().invoke(main, ["analyze", str(tmp_path / "m.py"), "--hardware", str(tmp_path / name)])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("acecost: error: invalid --hardware ") and reason in lines[0]
    assert "Traceback" not in res.output
    with pytest.raises(ConfigError, match=re.escape(reason)):
        load_hardware(str(tmp_path / name))


def test_the_command_line_prints_the_time(tmp_path):
    (tmp_path / "m.py").write_text(MODEL)
    res = CliRunner().invoke(main, ["analyze", str(tmp_path / "m.py"), "--hardware", "h100-sxm", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    bits = (16 * 64 + 64 * 32 + 16 * 32) * 32
    expected = max(2 * 16 * 64 * 32 / H100_BF16, bits / 8 / H100_BW)  # --float-bits 16: the bf16 units
    assert math.isclose(data["totals"]["time_s"], expected, rel_tol=1e-12)
    res = CliRunner().invoke(main, ["analyze", str(tmp_path / "m.py"), "--hardware", "h100-sxm"],
                             terminal_width=100)
    assert re.search(r"Time +4\.279e-09 s +4\.28 ns", res.output), res.output  # 114,688 bits at 3.35 TB/s
    assert re.search(r"on +h100-sxm +roofline: a lower bound", res.output)


# ------------------------------------------------------------ budgets and sweeps

def test_check_budgets_time_and_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(MODEL)
    bits = (16 * 64 + 64 * 32 + 16 * 32) * 32
    seconds = bits / 8 / H100_BW
    runner = CliRunner()
    ok = runner.invoke(main, ["check", "m.py", "--hardware", "h100-sxm", f"--max-time-s={seconds * 1.01}",
                              f"--max-memory-bits={bits}"])
    assert ok.exit_code == 0, ok.output
    over = runner.invoke(main, ["check", "m.py", "--hardware", "h100-sxm", f"--max-time-s={seconds * 0.99}"])
    assert over.exit_code == 1, over.output
    (tmp_path / "acecost.toml").write_text('[[models]]\nname = "m"\ntarget = "m.py"\nhardware = "h100-sxm"\n'
                                           f'max_time_s = "{seconds * 1e6 * 1.01}us"\nmax_memory_bits = {bits - 1}\n')
    res = runner.invoke(main, ["check"])
    assert res.exit_code == 1 and "memory" in res.output, res.output
    (tmp_path / "acecost.toml").unlink()
    no_hw = runner.invoke(main, ["check", "m.py", "--max-time-s=1"])
    assert no_hw.exit_code != 0 and "time_s is unknown" in no_hw.output and "--hardware" in no_hw.output


def test_a_sweep_takes_hardware_as_an_axis(tmp_path):
    (tmp_path / "m.py").write_text(MODEL)
    out = tmp_path / "sweep.csv"
    res = CliRunner().invoke(main, ["sweep", str(tmp_path / "m.py"), "--grid", "hardware=h100-sxm,tpu-v5e",
                                    "--no-cache", "-j", "1", "-q", "-o", str(out)])
    assert res.exit_code == 0, res.output
    import pandas as pd

    df = pd.read_csv(out)
    bits = (16 * 64 + 64 * 32 + 16 * 32) * 32
    assert list(df["memory_bits"]) == [bits, bits]
    for device, seconds in zip(df["hardware"], df["time_s"]):
        hw = load_hardware(device)
        assert seconds == pytest.approx(max(2 * 16 * 64 * 32 / hw.peak["bf16"], bits / 8 / hw.memory_bandwidth))


def test_a_device_file_in_the_config_is_relative_to_the_config(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "m.py").write_text(MODEL)
    (project / "chip.toml").write_text("memory_bandwidth = 1e11\n[peak]\nbf16 = 1e13\n")
    bits = (16 * 64 + 64 * 32 + 16 * 32) * 32
    seconds = max(2 * 16 * 64 * 32 / 1e13, bits / 8 / 1e11)
    (project / "acecost.toml").write_text('[[models]]\nname = "m"\ntarget = "m.py"\nhardware = "chip.toml"\n'
                                          f"max_time_s = {seconds * 1.001}\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    res = CliRunner().invoke(main, ["check", "--config", str(project / "acecost.toml")])
    assert res.exit_code == 0, res.output
    (project / "acecost.toml").write_text('[[models]]\nname = "m"\ntarget = "m.py"\nhardware = "chip.toml"\n'
                                          f"max_time_s = {seconds * 0.999}\n")
    assert CliRunner().invoke(main, ["check", "--config", str(project / "acecost.toml")]).exit_code == 1


def test_a_sweep_point_on_a_device_file_is_priced_again_when_the_file_changes(tmp_path):
    from acecost.sweeps.cache import point_key

    chip = tmp_path / "chip.toml"
    chip.write_text("memory_bandwidth = 1e11\n[peak]\nbf16 = 1e13\n")
    options = {"build": {}, "analysis": {"hardware": str(chip)}}
    before = point_key({"file": "m.py"}, None, {}, options)
    assert point_key({"file": "m.py"}, None, {}, options) == before
    chip.write_text("memory_bandwidth = 2e11\n[peak]\nbf16 = 1e13\n")
    assert point_key({"file": "m.py"}, None, {}, options) != before
    named = {"build": {}, "analysis": {"hardware": "h100-sxm"}}
    assert point_key({"file": "m.py"}, None, {}, named) != point_key({"file": "m.py"}, None, {}, {"build": {},
                                                                                                   "analysis": {}})
