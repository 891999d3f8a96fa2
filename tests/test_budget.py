"""Budget config loading, verdicts and baseline regressions."""

from pathlib import Path

import pytest

from acecost.ci import budget as B
from acecost.errors import ConfigError


def totals(macs=0, bops=0, ace=None, size_bits=0, elementwise=0, a=16, w=16):
    """Totals of a model whose non-binary MACs are all a x w bits (by formula)."""
    other = macs - bops
    return {
        "macs": macs,
        "binary_macs": bops,
        "ace": other * a * w + bops if ace is None else ace,
        "cpu64": bops / 64 + other,
        "size_bits": size_bits,
        "params": 0,
        "elementwise_ops": elementwise,
        "complete": True,
    }


# ------------------------------------------------------------- evaluate


def test_evaluate_rows_and_headroom():
    t = totals(macs=1_000_000, size_bits=8_000_000)  # ACE = 256e6
    rows = B.evaluate(t, {"size": 10_000_000, "ace": 200_000_000, "macs": 1_000_000})
    assert [r.metric for r in rows] == ["ace", "size", "macs"]  # METRICS order
    ace, size, macs = rows
    assert (ace.value, ace.budget, ace.passed) == (256_000_000, 200_000_000, False)
    assert ace.headroom_pct == pytest.approx(-28.0)
    assert ace.over_pct == pytest.approx(28.0)
    assert size.passed and size.headroom_pct == pytest.approx(20.0)
    assert macs.passed and macs.headroom_pct == 0.0  # equal to the budget passes


def test_evaluate_bops_and_cpu64_keys():
    t = totals(macs=6400, bops=6400)  # all binary: cpu64 = 100, ace = 6400
    rows = {r.metric: r for r in B.evaluate(t, {"bops": 6399, "cpu64": 100, "ace": 6400})}
    assert rows["bops"].value == 6400 and not rows["bops"].passed
    assert rows["cpu64"].value == 100 and rows["cpu64"].passed
    assert rows["ace"].value == 6400 and rows["ace"].passed


def test_zero_budget():
    rows = B.evaluate(totals(macs=10, bops=10), {"bops": 0, "elementwise": 0})
    bops, ew = rows
    assert not bops.passed and bops.headroom_pct is None
    assert ew.passed and ew.headroom_pct == 0.0


def test_evaluate_accepts_report_objects_totals():
    class T:  # stands in for acecost.report.model.Totals
        def __init__(self):
            self.macs, self.binary_macs, self.ace = 5, 0, 1280
            self.cpu64, self.size_bits, self.elementwise_ops = 5, 0, 0

    class R:
        totals = T()

    t = B.totals_of(R())
    assert B.evaluate(t, {"ace": 1279})[0].passed is False


# ----------------------------------------------------------- regressions


def test_regression_boundary_is_exact():
    base = totals(macs=1000)
    at = totals(macs=1020)  # +2.0% exactly
    over = totals(macs=1021)
    rows = {r.metric: r for r in B.check_regression(at, base, 2.0)}
    assert rows["macs"].passed and rows["ace"].passed
    assert rows["macs"].change_pct == pytest.approx(2.0)
    rows = {r.metric: r for r in B.check_regression(over, base, 2.0)}
    assert not rows["macs"].passed and not rows["ace"].passed and not rows["cpu64"].passed
    assert rows["macs"].change_pct == pytest.approx(2.1)


def test_regression_decimal_percent_boundary():
    # 0.1% of 10000 is 10: exactly at the limit passes, one more fails.
    base = totals(macs=10_000)
    assert all(r.passed for r in B.check_regression(totals(macs=10_010), base, 0.1))
    assert not all(r.passed for r in B.check_regression(totals(macs=10_011), base, 0.1))


def test_regression_ignores_bops_and_handles_zero_baseline():
    base = totals(macs=640, bops=0, size_bits=0)
    new = totals(macs=640, bops=640, size_bits=8)  # binarized: cheaper, but size went 0 -> 8
    rows = {r.metric: r for r in B.check_regression(new, base, 0)}
    assert "bops" not in rows
    assert rows["ace"].passed and rows["ace"].change_pct < 0
    assert not rows["size"].passed and rows["size"].change_pct is None


# -------------------------------------------------------------- options


@pytest.mark.parametrize(
    "raw, shape",
    [("1,224,224,3", (1, 224, 224, 3)), ("1x784", (1, 784)), ("(2, 3)", (2, 3)),
     ([1, 28, 28, 1], (1, 28, 28, 1))],
)
def test_input_shape(raw, shape):
    assert B.parse_input_shape(raw) == shape


@pytest.mark.parametrize("raw", ["", "1,a", "1,,2", [1, -2], [], [1.5], "1;2"])
def test_bad_input_shape(raw):
    with pytest.raises(ConfigError, match="input_shape"):
        B.parse_input_shape(raw)


def test_bits_override():
    assert B.parse_bits_override("conv1=8,4") == ("conv1", 8, 4)
    assert B.parse_bits_override("a=b=1, 1") == ("a=b", 1, 1)  # last '=' splits
    assert B.parse_bits_override("head=,8") == ("head", None, 8)  # empty side: keep inference
    for bad in ["conv1", "conv1=8", "=8,8", "x=0,8", "x=8,65", "([=8,8", "x=a,b", "x=,", 3]:
        with pytest.raises(ConfigError):
            B.parse_bits_override(bad)


def test_float_bits_and_while_trips():
    assert B.parse_float_bits("dtype") == "dtype"
    assert B.parse_float_bits("32") == 32 and B.parse_float_bits(16) == 16
    for bad in ["fp16", 0, 65, True, 8.0]:
        with pytest.raises(ConfigError):
            B.parse_float_bits(bad)
    assert B.parse_while_trips("10") == 10
    for bad in ["-1", -1, "x", 2.5, True]:
        with pytest.raises(ConfigError):
            B.parse_while_trips(bad)


# --------------------------------------------------------------- config


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


PYPROJECT = """
[project]
name = "demo"

[tool.acecost]
float_bits = 16
max_increase = "2%"

[[tool.acecost.models]]
name = "small"
target = "models/small.py"
input_shape = "1,784"
bits = ["dense_0=8,8", "dense_1=4,4"]
max_ace = "5e9"
max_size = "4MB"
baseline = "base/small.json"

[[tool.acecost.models]]
name = "zoo"
target = "zoo:pokebnn-1.0x"
float_bits = "dtype"
while_trips = 3
resolution = 64
batch = 2
mode = "train"
max_cpu64 = 1.2e8
max_bops = "5G"
strict = true
"""


def test_load_pyproject(tmp_path):
    write(tmp_path, "pyproject.toml", PYPROJECT)
    path, table = B.find_config(tmp_path)
    small, zoo = B.load_models(table, path)
    assert small.name == "small"
    assert small.target == str(tmp_path / "models/small.py")  # relative to the config file
    assert small.input_shape == (1, 784)
    assert small.bits == ["dense_0=8,8", "dense_1=4,4"]
    assert small.budgets == {"ace": 5 * 10**9, "size": 32 * 10**6}
    assert small.float_bits == 16 and small.max_increase == 2.0
    assert small.baseline == tmp_path / "base/small.json"
    assert not small.strict
    assert zoo.target == "zoo:pokebnn-1.0x"  # not a path: untouched
    assert zoo.float_bits == "dtype" and zoo.while_trips == 3 and zoo.strict
    assert (zoo.resolution, zoo.batch, zoo.mode) == (64, 2, "train")
    assert (small.resolution, small.batch, small.mode) == (None, None, None)
    assert zoo.budgets == {"cpu64": 120_000_000, "bops": 5 * 10**9}


def test_pyproject_first_then_acecost_toml(tmp_path):
    write(tmp_path, "acecost.toml", '[[models]]\nname = "a"\ntarget = "a.py"\nmax_ace = 1\n')
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n')  # no [tool.acecost]
    path, table = B.find_config(tmp_path)
    assert path.name == "acecost.toml"
    assert [s.name for s in B.load_models(table, path)] == ["a"]
    write(tmp_path, "pyproject.toml", '[[tool.acecost.models]]\nname = "p"\ntarget = "p.py"\n')
    path, table = B.find_config(tmp_path)
    assert path.name == "pyproject.toml"
    assert [s.name for s in B.load_models(table, path)] == ["p"]


def test_no_config(tmp_path):
    assert B.find_config(tmp_path) is None


def test_name_defaults_to_target(tmp_path):
    path = write(tmp_path, "acecost.toml", '[[models]]\ntarget = "zoo:x"\n')
    (spec,) = B.load_models(B.read_config_file(path), path)
    assert spec.name == "zoo:x"


@pytest.mark.parametrize(
    "body, fragment",
    [
        ('[[models]]\nname = "a"\ntarget = "a.py"\nmax_flops = 3\n', "unknown budget 'max_flops'"),
        ('[[models]]\nname = "a"\ntarget = "a.py"\nmax_aec = 3\n', "unknown budget 'max_aec'"),
        ('[[models]]\nname = "a"\ntarget = "a.py"\ninput_shap = "1,2"\n', "unknown key 'input_shap'"),
        ('[[models]]\nname = "a"\nmax_ace = 3\n', "has no 'target'"),
        ('[[models]]\nname = "a"\ntarget = ""\n', "has no 'target'"),
        ('[[models]]\nname = "a"\ntarget = "a.py"\nmax_ace = "-3"\n', "must not be negative"),
        ('[[models]]\nname = "a"\ntarget = "a.py"\nmax_ace = "lots"\n', "max_ace"),
        ('[[models]]\nname = "a"\ntarget = "a.py"\nmax_ace = nan\n', "finite"),
        ('[[models]]\nname = "a"\ntarget = "a.py"\nmax_size = "4Mb"\n', "ambiguous"),
        ('[[models]]\nname = "a"\ntarget = "a.py"\nbits = ["x=9"]\n', "REGEX=A,W"),
        ('[[models]]\nname = "a"\ntarget = "a.py"\nstrict = "yes"\n', "true or false"),
        ('[[models]]\nname = "a"\ntarget = "a.py"\nmode = "eval"\n', "'inference' or 'train'"),
        ('[[models]]\nname = "a"\ntarget = "a.py"\nresolution = 4\n', "integer >= 8"),
        ('[[models]]\nname = "a"\ntarget = "a.py"\nbatch = 0\n', "integer >= 1"),
        ('[[models]]\nname = "a"\ntarget = "a.py"\n[[models]]\nname = "a"\ntarget = "b.py"\n',
         "duplicate model name 'a'"),
        ("models = []\n", "no models"),
        ('max_ace = 5\n', "no models"),
        ('models = "a.py"\n', "array of tables"),
        ('colour = "red"\n[[models]]\ntarget = "a.py"\n', "unknown key 'colour'"),
        ("[[models]\n", "invalid TOML"),
    ],
)
def test_config_errors(tmp_path, body, fragment):
    path = write(tmp_path, "acecost.toml", body)
    with pytest.raises(ConfigError) as err:
        B.load_models(B.read_config_file(path), path)
    assert fragment in str(err.value)
    assert str(path) in str(err.value) or "invalid TOML" in str(err.value)


def test_bad_pyproject_toml(tmp_path):
    write(tmp_path, "pyproject.toml", "[tool.acecost\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        B.find_config(tmp_path)


def test_explicit_pyproject_without_table(tmp_path):
    path = write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"no \[tool.acecost\] table"):
        B.read_config_file(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        B.read_config_file(tmp_path / "nope.toml")


def test_override_keeps_config_where_cli_is_silent():
    spec = B.ModelSpec(name="m", target="m.py", budgets={"ace": 5, "size": 8}, float_bits=16,
                       bits=["a=1,1"], strict=True)
    out = B.override(spec, budgets={"ace": 3}, float_bits=None, bits=[], strict=None, dtype="bfloat16")
    assert out.budgets == {"ace": 3, "size": 8}
    assert out.float_bits == 16 and out.bits == ["a=1,1"] and out.strict and out.dtype == "bfloat16"
    assert spec.budgets == {"ace": 5, "size": 8}  # the original is not modified
