"""The analysis options are declared once (acecost.options.OPTIONS) and every place reads them there.

The command line's flags, the Python API's checks, the ``[tool.acecost]``
keys, the sweep's option axes and the sweep cache key's option part all come
from the table, so a value one of them refuses the others refuse, with the
same reason.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import re

import click
import jax
import jax.numpy as jnp
import pytest
from click.testing import CliRunner

import acecost
from acecost.ci import budget as B
from acecost.cli import main
from acecost.errors import AcecostError, ConfigError
from acecost.engine.walker import Options
from acecost.options import OPTION, OPTIONS
from acecost.sweeps.run import ANALYSIS_DEFAULTS, split_fixed
from acecost.sweeps.space import ANALYSIS, OPTION_AXES

S = jax.ShapeDtypeStruct
F32 = jnp.float32
NAMES = ("float_bits", "bits", "while_trips", "mode", "cond", "scales", "levels", "sparsity", "weights",
         "hardware")


def _fn(p, x):
    return x @ p


ARGS = (S((3, 4), F32), S((2, 3), F32))


def test_the_table_holds_the_analysis_options():
    assert tuple(o.name for o in OPTIONS) == NAMES
    assert {o.name: o.flag for o in OPTIONS} == {
        "float_bits": "--float-bits", "bits": "--bits", "while_trips": "--while-trips", "mode": "--mode",
        "cond": "--cond", "scales": "--scales", "levels": "--levels", "sparsity": "--sparsity",
        "weights": "--weights", "hardware": "--hardware"}


# ------------------------------------------------------------ the command line


def _params(command: str) -> dict[str, click.Option]:
    cmd = main.get_command(None, command)
    return {p.opts[0]: p for p in cmd.params if isinstance(p, click.Option)}


@pytest.mark.parametrize("command", ["analyze", "check", "sweep"])
@pytest.mark.parametrize("option", OPTIONS, ids=[o.name for o in OPTIONS])
def test_every_option_is_on_the_command_line_as_the_table_says(command, option):
    p = _params(command)[option.flag]
    assert p.name == option.name and p.help == option.help and p.multiple == option.multiple
    if option.choices:
        assert isinstance(p.type, click.Choice) and tuple(p.type.choices) == option.choices
    else:
        assert p.metavar == option.metavar
    ctx = click.Context(main.get_command(None, command), info_name=command)
    assert p.get_help_extra(ctx).get("default") == option.shown_default


def test_analyze_help_shows_each_option_with_its_help_and_default():
    out = CliRunner().invoke(main, ["analyze", "--help"], terminal_width=1000).output
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip().startswith("--")}
    expected_default = {"float_bits": "[default: 16]", "mode": "[default: inference]", "cond": "[default: max]",
                        "scales": "[default: strict]", "bits": None, "while_trips": None,
                        "levels": None, "sparsity": None, "weights": None, "hardware": None}
    for option in OPTIONS:
        line = lines[option.flag]
        assert option.help in line, option.name
        if expected_default[option.name]:
            assert expected_default[option.name] in line
        else:
            assert "[default:" not in line
    assert "--mode [inference|train]" in out and "--cond [max|quantized]" in out
    assert "--scales [strict|codes]" in out


# ------------------------------------------------------------ the same refusals

#: option -> values the command line refuses (as typed)
BAD = {
    "float_bits": ["0", "65", "100", "fp16", "-1", "²"],
    "bits": ["fc", "fc=100,1", "fc=0,8", "=8,8", "fc=,", "fc=8", "(=8,8"],
    "while_trips": ["-1", "abc", str(2**63), "2.5"],
    "mode": ["eval", "Train", ""],
    "cond": ["min", "MAX"],
    "scales": ["loose", "code"],
    "levels": ["measure", "Measured", ""],
    "sparsity": ["sparse", "on"],
    "weights": ["", " "],
    "hardware": ["h200", "", "missing.toml", "chip.txt"],
}
CASES = [(name, value) for name in NAMES for value in BAD[name]]


def _cli_error(args: list[str]) -> str:
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    line = res.output.strip().splitlines()[-1]
    m = re.fullmatch(r"acecost: error: (.*?)(?: \(see '\w+ \w+ --help'\))?", line)
    assert m, line
    return m[1]


def _api_error(name: str, value) -> str:
    option = OPTION[name]
    with pytest.raises(ConfigError) as info:
        if name == "mode":
            acecost.analyze_target(acecost.Target(_fn, ARGS), mode=value)
        else:
            acecost.analyze(_fn, *ARGS, **{option.api_name: [value] if option.multiple else value})
    return str(info.value)


def _reason(message: str, where: str, value) -> str:
    prefix = f"invalid {where} {value!r}: "
    assert message.startswith(prefix), (message, prefix)
    return message[len(prefix):]


@pytest.mark.parametrize("name,value", CASES, ids=[f"{n}={v}" for n, v in CASES])
def test_the_api_refuses_what_the_command_line_refuses_with_the_same_message(name, value, tmp_path):
    option = OPTION[name]
    cli = _cli_error(["analyze", str(tmp_path / "m.py"), f"{option.flag}={value}"])
    api = _api_error(name, value)
    # the same message, naming the option as each place spells it
    assert api == cli.replace(f"invalid {option.flag} ", f"invalid {option.api_name} ", 1)
    assert _reason(api, option.api_name, value) == _reason(cli, option.flag, value)


@pytest.mark.parametrize("name,value", CASES, ids=[f"{n}={v}" for n, v in CASES])
def test_check_and_its_config_refuse_the_same_values(name, value, tmp_path, monkeypatch):
    option = OPTION[name]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text("")
    cli = _cli_error(["check", "m.py", "--max-ace", "1", f"{option.flag}={value}"])
    raw = f"[{json.dumps(value)}]" if option.multiple else json.dumps(value)  # a TOML string
    (tmp_path / "acecost.toml").write_text(f'[[models]]\nname = "m"\ntarget = "m.py"\nmax_ace = 1\n{name} = {raw}\n')
    config = _cli_error(["check"])
    where = f"{name} entry of model 'm'" if option.multiple else f"{name} of model 'm'"
    assert config.startswith(f"{tmp_path / 'acecost.toml'}: ")
    config = config.split(": ", 1)[1]
    assert _reason(config, where, value) == _reason(cli, option.flag, value)


def test_float_bits_100_is_refused_by_the_api_as_by_the_command_line():
    with pytest.raises(ConfigError, match=re.escape(
            "invalid float_bits 100: expected an integer from 1 to 64 or 'dtype'")):
        acecost.analyze(_fn, *ARGS, float_bits=100)
    # ConfigError is an AcecostError: code catching the API's old error still catches it
    with pytest.raises(AcecostError):
        acecost.analyze_jaxpr(jax.make_jaxpr(_fn)(*ARGS), *ARGS, float_bits=100)


@pytest.mark.parametrize("overrides,message", [
    ({"fc": (100, 8)}, "invalid overrides 'fc=100,8': bit-widths must be from 1 to 64"),
    ([("fc", None, None)], "invalid overrides 'fc=,': expected REGEX=A,W like 'conv1=8,8' or 'head=,8'"),
    ([(re.compile("fc"), 8.5, 8)], "invalid overrides 'fc=8.5,8': expected REGEX=A,W"),
    ({"(": (8, 8)}, "invalid overrides '(=8,8': bad regex"),
    (["fc=8,8", 3], "invalid overrides 3: expected REGEX=A,W"),
    (7, "invalid overrides 7: expected 'REGEX=A,W' strings"),
])
def test_overrides_in_their_python_forms_are_checked_as_their_text(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        acecost.analyze(_fn, *ARGS, overrides=overrides)


def test_the_python_forms_of_good_values_still_work():
    import numpy as np

    rep = acecost.analyze(_fn, *ARGS, float_bits=np.int64(8), overrides=[".=,4"],
                          while_trips=np.int32(3))
    assert rep.meta["float_bits"] == 8 and type(rep.meta["float_bits"]) is int
    (r,) = rep.layers
    assert (r.bits_a, r.bits_w) == (8, 4) and r.ace == 2 * 3 * 4 * 8 * 4
    rep = acecost.analyze(_fn, *ARGS, float_bits="dtype", overrides=[(re.compile("."), 2, None)])
    assert (rep.layers[0].bits_a, rep.layers[0].bits_w) == (2, 32)


# ------------------------------------------------------------ config keys, sweep axes, defaults


def test_the_config_keys_are_the_tables():
    assert {o.name for o in OPTIONS if o.config} <= B.OPTION_KEYS
    assert B.OPTION_KEYS - {o.name for o in OPTIONS} == {
        "input_shape", "dtype", "entry", "resolution", "batch", "baseline", "max_increase", "strict"}
    fields = {f.name: f for f in dataclasses.fields(B.ModelSpec)}
    for option in OPTIONS:
        assert option.name in fields and fields[option.name].kw_only


def test_a_config_reads_each_option_with_its_parser(tmp_path):
    (tmp_path / "acecost.toml").write_text(
        '[[models]]\nname = "m"\ntarget = "m.py"\nmax_ace = 1\nfloat_bits = "8"\nbits = "fc=4,"\n'
        'while_trips = 3\nmode = "train"\ncond = "quantized"\nscales = "codes"\nweights = "w/ckpt.npz"\n')
    (spec,) = B.load_models(B.read_config_file(tmp_path / "acecost.toml"), tmp_path / "acecost.toml")
    assert (spec.float_bits, spec.bits, spec.while_trips, spec.mode, spec.cond, spec.scales) == \
        (8, ["fc=4,"], 3, "train", "quantized", "codes")
    assert spec.weights == str(tmp_path / "w" / "ckpt.npz")  # a path in the config is the config's neighbour


def test_the_sweep_axes_are_the_tables():
    analysis = {name: axis for name, axis in OPTION_AXES.items() if axis.stage == ANALYSIS}
    assert list(analysis) == [o.name for o in OPTIONS if o.axis_sep]
    assert {n: a.sep for n, a in analysis.items()} == {"float_bits": ",", "bits": ";", "while_trips": ",",
                                                       "mode": ",", "cond": ",", "scales": ",",
                                                       "levels": ",", "sparsity": ",", "weights": ",",
                                                       "hardware": ","}
    assert [n for n, a in analysis.items() if a.multiple] == ["bits"]


def test_the_cache_keys_option_part_is_unchanged():
    # what every point's key names when no option is given, as it did before the table
    assert ANALYSIS_DEFAULTS == {"float_bits": 16, "mode": "inference", "cond": "max", "scales": "strict"}
    build, analysis = split_fixed({"float_bits": "8", "bits": ("a=1,1",), "while_trips": None, "batch": 2})
    assert build == {"batch": 2}
    assert analysis == {"float_bits": 8, "mode": "inference", "cond": "max", "scales": "strict",
                        "bits": ["a=1,1"]}


def test_a_fixed_sweep_option_is_checked_by_the_table():
    with pytest.raises(ConfigError, match=re.escape("invalid cond 'min': expected 'max' or 'quantized'")):
        split_fixed({"cond": "min"})
    with pytest.raises(ConfigError, match=re.escape("invalid bits 'fc=100,1': bit-widths must be from 1 to 64")):
        split_fixed({"bits": "fc=100,1"})
    with pytest.raises(AcecostError, match="unknown option 'floatbits'"):
        split_fixed({"floatbits": 8})


@pytest.mark.parametrize("fn", [acecost.analyze, acecost.analyze_jaxpr, acecost.analyze_train,
                                acecost.analyze_target])
def test_the_apis_defaults_are_the_tables(fn):
    params = inspect.signature(fn).parameters
    for option in OPTIONS:
        if option.name == "mode" and fn is not acecost.analyze_target:
            assert option.api_name not in params  # mode picks analyze or analyze_train
            continue
        # a repeatable option's keyword defaults to None: none given
        assert params[option.api_name].default == (None if option.multiple else option.default), option.name


def test_the_engines_defaults_are_the_tables():
    engine = Options()
    for option in OPTIONS:
        if option.engine:
            assert getattr(engine, option.api_name) == (list(option.default) if option.multiple
                                                        else option.default)


def test_an_option_that_is_no_axis_can_still_be_fixed_for_a_sweep(monkeypatch):
    from acecost import options as O
    from acecost.sweeps.space import fixed_axis

    fixed = O.Option("chip", O.parse_entry, None, help="A target chip.", axis_sep=None)
    monkeypatch.setitem(O.OPTION, "chip", fixed)
    axis = fixed_axis("chip")
    assert axis is not None and axis.stage == ANALYSIS and "chip" not in OPTION_AXES
    assert axis.check("tpu") == "tpu" and axis.check(None) is None
    with pytest.raises(ConfigError, match=re.escape("invalid chip '1x': expected a Python name")):
        axis.check("1x")
    assert fixed_axis("width") is None
