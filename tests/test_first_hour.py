"""What a new user meets first: helper modules beside a model, the Equinox idiom,
a default table that fits the screen, and grouping options that are honoured or refused."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import acecost
from acecost.load import resolve as T
from acecost.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


def one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("acecost: error:"), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ----------------------------------------------------- helper modules beside a model

@pytest.fixture
def isolated_imports(monkeypatch):
    """sys.path, acecost's model directories and the helpers imported are restored afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(T, "_MODEL_DIRS", [])
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("quantlib", "helpers_pkg", "netmod")):
            del sys.modules[name]


def quantlib(levels: int) -> str:
    """A helper quantizing to the integers -levels..levels (2 * levels + 1 values)."""
    return ("import jax.numpy as jnp\n"
            f"def q(x):\n    return jnp.round(jnp.clip(x, -{levels}, {levels}))\n")


NET = ("import jax, jax.numpy as jnp\n"
       "from quantlib import q\n"
       "def acecost_model():\n"
       "    S = jax.ShapeDtypeStruct\n"
       "    return (lambda w, x: q(x) @ w), (S((8, 4), jnp.int8), S((2, 8), jnp.float32))\n")

MACS = 2 * 8 * 4


def model_dir(root: Path, name: str, net: str, levels: int) -> Path:
    d = root / name
    d.mkdir()
    (d / "net.py").write_text(net)
    (d / "quantlib.py").write_text(quantlib(levels))
    return d


def totals(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["totals"]


def test_model_file_imports_a_helper_beside_it_from_another_directory(tmp_path, monkeypatch, isolated_imports):
    models = model_dir(tmp_path, "models", NET, 127)  # 255 levels: 8-bit activations
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    t = totals(run("analyze", "../models/net.py", "--format", "json", "-q"))
    assert (t["macs"], t["ace"]) == (MACS, MACS * 8 * 8)  # int8 weights
    assert str(models.resolve()) in sys.path


def test_a_helper_imported_lazily_is_found(tmp_path, monkeypatch, isolated_imports):
    lazy = ("import jax, jax.numpy as jnp\n"
            "def f(w, x):\n"
            "    from quantlib import q   # at trace time\n"
            "    return q(x) @ w\n"
            "def acecost_model():\n"
            "    import quantlib          # inside the entry\n"
            "    S = jax.ShapeDtypeStruct\n"
            "    return f, (S((8, 4), jnp.int8), S((2, 8), jnp.float32))\n")
    model_dir(tmp_path, "m", lazy, 7)  # 15 levels: 4 bits
    monkeypatch.chdir(tmp_path)
    t = totals(run("analyze", "m/net.py", "--format", "json", "-q"))
    assert t["ace"] == MACS * 4 * 8


def test_two_models_with_same_named_helpers_each_get_their_own(tmp_path, monkeypatch, isolated_imports):
    model_dir(tmp_path, "a", NET, 127)
    model_dir(tmp_path, "b", NET, 7)
    monkeypatch.chdir(tmp_path)
    first = acecost.analyze_target(T.resolve("a/net.py"))
    second = acecost.analyze_target(T.resolve("b/net.py"))
    assert (first.totals.ace, second.totals.ace) == (MACS * 8 * 8, MACS * 4 * 8)


def test_module_attr_target_resolves_from_the_current_directory(tmp_path, monkeypatch, isolated_imports):
    d = model_dir(tmp_path, "proj", NET.replace("def acecost_model", "def build"), 127)
    (d / "net.py").rename(d / "netmod.py")
    monkeypatch.chdir(d)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(d))])
    t = totals(run("analyze", "netmod:build", "--format", "json", "-q"))
    assert (t["macs"], t["ace"]) == (MACS, MACS * 8 * 8)


# ----------------------------------------------------------------- Equinox idiom

EQX_NET = '''
import equinox as eqx, jax, jax.numpy as jnp, acecost

class Net(eqx.Module):
    conv: eqx.nn.Conv2d
    mlp: eqx.nn.MLP

    def __init__(self, key):
        k1, k2 = jax.random.split(key)
        self.conv = eqx.nn.Conv2d(3, 8, kernel_size=3, padding=1, key=k1)
        self.mlp = eqx.nn.MLP(8 * 6 * 6, 10, 32, 2, key=k2)

    def __call__(self, x):
        return self.mlp(jax.nn.relu(self.conv(x)).reshape(-1))

def acecost_model(filter=eqx.is_array):
    model = eqx.filter_eval_shape(Net, jax.random.key(0))
    params, static = eqx.partition(model, filter)
    return acecost.Target(lambda p, x: jax.vmap(eqx.combine(p, static))(x),
                          (params, jax.ShapeDtypeStruct((2, 3, 6, 6), jnp.float32)))

def by_struct():
    return acecost_model(lambda leaf: isinstance(leaf, jax.ShapeDtypeStruct))
'''


def test_equinox_partition_by_is_array_on_an_abstract_model(tmp_path):
    pytest.importorskip("equinox")
    path = tmp_path / "eqx_net.py"
    path.write_text(EQX_NET)
    rep = acecost.analyze_target(T.resolve(str(path)))
    batch = 2
    conv = 8 * 6 * 6 * (3 * 3 * 3)  # output positions x channels, each a 3x3x3 window (padding 1)
    dense = [288 * 32, 32 * 32, 32 * 10]
    assert [(r.name, r.macs) for r in rep.layers] == \
        [("conv", batch * conv)] + [(f"mlp/layers/{i}", batch * m) for i, m in enumerate(dense)]
    assert rep.totals.macs == batch * (conv + sum(dense))
    assert rep.totals.ace == rep.totals.macs * 16 * 16  # float, no quantizer: 16 bits by default
    assert rep.totals.params == 8 * 27 + 8 + sum(dense) + 32 + 32 + 10
    # the same report as partitioning by ShapeDtypeStruct, where the weights are arguments already
    same = acecost.analyze_target(T.resolve(f"{path}:by_struct"))
    assert rep.to_dict()["layers"] == same.to_dict()["layers"]
    assert rep.to_dict()["params"] == same.to_dict()["params"]
    assert rep.totals == same.totals


def test_equinox_idiom_under_train_mode(tmp_path):
    pytest.importorskip("equinox")
    path = tmp_path / "eqx_net.py"
    path.write_text(EQX_NET)
    rep = acecost.analyze_target(T.resolve(str(path)), mode="train")
    same = acecost.analyze_target(T.resolve(f"{path}:by_struct"), mode="train")
    assert rep.totals == same.totals and rep.totals.macs > 0


def test_readme_equinox_snippet(tmp_path):
    pytest.importorskip("equinox")
    readme = (ROOT / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "eqx.is_array" in b]
    path = tmp_path / "readme_eqx.py"
    path.write_text(block)
    rep = acecost.analyze_target(T.resolve(str(path)))
    assert rep.totals.macs == 8 * (784 * 256 + 256 * 256 + 256 * 10)
    assert [r.name for r in rep.layers] == ["layers/0", "layers/1", "layers/2"]


def test_a_struct_closed_over_for_its_shape_is_not_a_weight(tmp_path):
    path = tmp_path / "spec.py"
    path.write_text("import jax, jax.numpy as jnp\n"
                    "def acecost_model():\n"
                    "    spec = jax.ShapeDtypeStruct((2, 8), jnp.float32)\n"
                    "    w = jax.ShapeDtypeStruct((8, 4), jnp.float32)\n"
                    "    return (lambda w: jnp.ones(spec.shape, spec.dtype) @ w), (w,)\n")
    target = T.resolve(str(path))
    assert len(target.args) == 1
    assert acecost.analyze_target(target).totals.params == 8 * 4


def test_the_python_api_names_the_closed_over_structs():
    pytest.importorskip("equinox")
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    model = eqx.filter_eval_shape(eqx.nn.Linear, 4, 3, key=jax.random.key(0))
    params, static = eqx.partition(model, eqx.is_array)
    with pytest.raises(acecost.TargetError, match="closes over jax.ShapeDtypeStruct leaves in static"):
        acecost.analyze(lambda p, x: eqx.combine(p, static)(x), params, jax.ShapeDtypeStruct((4,), jnp.float32))


WRAPPED = '''
import functools, equinox as eqx, jax, jax.numpy as jnp
S = jax.ShapeDtypeStruct
X = S((2, 16), jnp.float32)

def abstract():
    return eqx.filter_eval_shape(eqx.nn.MLP, 16, 5, 8, 1, key=jax.random.key(0))

def fwd(p, x, static):
    return jax.vmap(eqx.combine(p, static))(x)

def by_partial():
    params, static = eqx.partition(abstract(), eqx.is_array)
    return functools.partial(fwd, static=static), (params, X)

def by_positional_partial():
    params, static = eqx.partition(abstract(), eqx.is_array)
    return functools.partial(lambda static, p, x: fwd(p, x, static), static), (params, X)

def by_filter_jit():
    params, static = eqx.partition(abstract(), eqx.is_array)
    @eqx.filter_jit
    def f(p, x):
        return jax.vmap(eqx.combine(p, static))(x)
    return f, (params, X)

def whole_model():
    model = abstract()
    return (lambda x: jax.vmap(model)(x)), (X,)

def declared():
    model = abstract()
    return acecost_target((lambda x: jax.vmap(model)(x)), (X,), params_argnums=(0,))

def jit_of_partial():
    params, static = eqx.partition(abstract(), eqx.is_array)
    return eqx.filter_jit(functools.partial(fwd, static=static)), (params, X)

def module_itself():
    return (lambda m: eqx.filter_vmap(m))(abstract()), (X,)

def wrapped_partial():
    params, static = eqx.partition(abstract(), eqx.is_array)
    inner = functools.partial(fwd, static=static)
    def outer(p, x):
        return inner(p, x)
    outer.__wrapped__ = inner  # a wrapper that is no jit: the partial cannot be swapped inside it
    return outer, (params, X)

def vmap_of_module():
    return jax.vmap(abstract()), (X,)  # jax.vmap's wrapper is no pytree: the model cannot be swapped

def acecost_target(*a, **k):
    import acecost
    return acecost.Target(*a, **k)
'''
#: MLP 16 -> 8 -> 5 on a batch of 2: its weights and biases, and its MACs
MLP_PARAMS = 16 * 8 + 8 + 8 * 5 + 5
MLP_MACS = 2 * (16 * 8 + 8 * 5)


@pytest.mark.parametrize("entry", ["by_partial", "by_positional_partial", "by_filter_jit", "whole_model",
                                   "jit_of_partial", "module_itself"])
def test_weights_reached_through_wrappers_are_lifted(tmp_path, entry):
    pytest.importorskip("equinox")
    import jax
    path = tmp_path / "wrapped.py"
    path.write_text(WRAPPED)
    target = T.resolve(f"{path}:{entry}")
    rep = acecost.analyze_target(target)
    assert (rep.totals.macs, rep.totals.params) == (MLP_MACS, MLP_PARAMS)  # the input (2 x 16) is no weight
    prefix = "_fun/" if entry == "module_itself" else ""  # the path inside eqx.filter_vmap's wrapper
    assert sorted(p["path"] for p in rep.to_dict()["params"]) == \
        [f"{prefix}layers/{i}/{w}" for i in (0, 1) for w in ("bias", "weight")]
    # traced again (train mode, then inference): no tracer of an earlier trace is reused
    assert acecost.analyze_target(target, mode="train").totals.params == MLP_PARAMS
    assert acecost.analyze_target(target).totals == rep.totals
    # the user's objects hold their structs again
    fn = target.fn._acecost_lifted_from
    held = {"by_partial": lambda: fn.keywords["static"], "by_positional_partial": lambda: fn.args[0],
            "by_filter_jit": lambda: fn.__wrapped__.__closure__[0].cell_contents,
            "whole_model": lambda: fn.__closure__[0].cell_contents,
            "jit_of_partial": lambda: fn.__wrapped__.keywords["static"],
            "module_itself": lambda: fn.__wrapped__}[entry]()
    assert isinstance(held.layers[0].weight, jax.ShapeDtypeStruct)


def test_a_lift_keeps_the_parameters_the_target_declared(tmp_path):
    pytest.importorskip("equinox")
    path = tmp_path / "wrapped.py"
    path.write_text(WRAPPED)
    rep = acecost.analyze_target(T.resolve(f"{path}:declared"))
    assert rep.totals.params == MLP_PARAMS + 2 * 16  # the input, declared a parameter on purpose


@pytest.mark.parametrize("entry, holder", [("wrapped_partial", "static"), ("vmap_of_module", "MLP")])
def test_weights_inside_a_wrapper_get_the_hint(tmp_path, entry, holder):
    pytest.importorskip("equinox")
    path = tmp_path / "wrapped.py"
    path.write_text(WRAPPED)
    with pytest.raises(acecost.TargetError, match=f"closes over jax.ShapeDtypeStruct leaves in {holder}.*"
                                                  "inside a wrapper they are not lifted"):
        acecost.analyze_target(T.resolve(f"{path}:{entry}"))


def test_the_python_api_hints_through_partial_and_filter_jit():
    pytest.importorskip("equinox")
    import functools

    import equinox as eqx
    import jax
    import jax.numpy as jnp

    model = eqx.filter_eval_shape(eqx.nn.Linear, 4, 3, key=jax.random.key(0))
    params, static = eqx.partition(model, eqx.is_array)

    def fwd(p, x, static):
        return eqx.combine(p, static)(x)

    @eqx.filter_jit
    def jitted(p, x):
        return eqx.combine(p, static)(x)

    for fn in (functools.partial(fwd, static=static), jitted):
        with pytest.raises(acecost.TargetError, match="closes over jax.ShapeDtypeStruct leaves in static"):
            acecost.analyze(fn, params, jax.ShapeDtypeStruct((4,), jnp.float32))


def test_a_struct_closed_over_for_its_shape_is_traced_once(tmp_path):
    path = tmp_path / "spec.py"
    path.write_text("import jax, jax.numpy as jnp\n"
                    "CALLS = []\n"
                    "def acecost_model():\n"
                    "    spec = jax.ShapeDtypeStruct((2, 8), jnp.float32)\n"
                    "    def f(w):\n"
                    "        CALLS.append(1)\n"
                    "        return jnp.ones(spec.shape, spec.dtype) @ w\n"
                    "    return f, (jax.ShapeDtypeStruct((8, 4), jnp.float32),)\n")
    target = T.resolve(str(path))
    assert acecost.analyze_target(target).totals.macs == 2 * 8 * 4
    assert len(target.fn.__globals__["CALLS"]) == 1  # the lift's check and the analysis share one trace


# ------------------------------------------------------------ the default table

def test_readme_sample_is_what_make_demo_prints(monkeypatch):
    makefile = (ROOT / "Makefile").read_text()
    command = re.search(r"^demo:.*\n\t@?\$\(BIN\)/(acecost .*)$", makefile, re.M).group(1)
    readme = (ROOT / "README.md").read_text()
    block = readme.split(f"```\n$ {command}\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("COLUMNS", "80")
    result = run(*command.split()[1:])
    assert result.exit_code == 0, result.output
    assert [line.rstrip() for line in result.output.splitlines()] == block.splitlines()
    assert len(block.splitlines()) + 1 <= 24  # with the command line, one 80x24 screen
    assert max(len(line) for line in block.splitlines()) <= 80


def test_default_table_groups_a_long_model_and_full_lists_every_layer(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    report = json.loads(run("analyze", "zoo:pokebnn-1.0x", "--format", "json", "-q").stdout)
    names = [layer["name"] for layer in report["layers"]]
    depth2 = list(dict.fromkeys("/".join(n.split("/")[:2]) for n in names))
    short = run("analyze", "zoo:pokebnn-1.0x", "-q").output
    rows = [line.split()[0] for line in short.splitlines() if line.startswith(" PokeBNN/")]
    assert rows == depth2
    assert f"Grouped at --depth 2: {len(depth2)} rows for {len(names)} layers. Every layer: --full" in short
    full = run("analyze", "zoo:pokebnn-1.0x", "--full", "-q").output
    assert "--full" not in full
    lines = full.splitlines()
    assert max(len(line) for line in lines) <= 80
    # names are broken after a '/', never inside a part: rejoined, every layer is there in order
    body = lines[lines.index(next(l for l in lines if l.lstrip().startswith("─"))) + 1:]
    joined = []
    for line in body:
        if not line.strip():
            break
        cell = re.split(r"\s{2,}", line.strip())[0]
        if line.startswith("   "):  # a name continued after its '/'
            joined[-1] += cell
        else:
            joined.append(cell)
    assert joined == names


def test_flat_names_keep_their_costliest_rows(tmp_path):
    n = 12
    path = tmp_path / "flat.py"
    path.write_text("import jax, jax.numpy as jnp\n"
                    "def acecost_model():\n"
                    "    S = jax.ShapeDtypeStruct\n"
                    f"    p = {{f'layer_{{i}}': S((8 + i, 9 + i), jnp.float32) for i in range({n})}}\n"
                    "    def f(p, x):\n"
                    f"        for i in range({n}):\n"
                    "            x = x @ p[f'layer_{i}']\n"
                    "        return x\n"
                    "    return f, (p, S((2, 8), jnp.float32))\n")
    out = run("analyze", path, "-q").output
    rows = [line.split() for line in out.splitlines() if line.startswith((" layer_", " ..."))]
    macs = [2 * (8 + i) * (9 + i) for i in range(n)]  # later layers are wider: the costliest
    assert [r[0] for r in rows[:-1]] == [f"layer_{i}" for i in range(5, n)]
    assert rows[-1][:3] == ["...", "5", "more"]
    assert rows[-1][-3] == f"{sum(macs[:5]) / 1e3:.3g}k"
    assert "Top 7 layers by ACE, 5 more in one row. Every layer: --full" in out
    csv = run("analyze", path, "--format", "csv", "-q").output
    assert len(csv.splitlines()) == 1 + n  # CSV keeps every layer


# ---------------------------------------------------- --by and --depth, honoured or refused

MIXED = ("import jax, jax.numpy as jnp\n"
         "def sign(x):\n    return x + jax.lax.stop_gradient(jnp.sign(x) - x)\n"
         "def acecost_model():\n"
         "    S = jax.ShapeDtypeStruct\n"
         "    p = {'a': {'fc': S((8, 8), jnp.int8)}, 'b': {'fc': S((8, 8), jnp.float32)}}\n"
         "    def f(p, x):\n"
         "        h = jnp.clip(jnp.round(x), -127, 127) @ p['a']['fc']\n"
         "        return sign(h) @ sign(p['b']['fc'])\n"
         "    return f, (p, S((2, 8), jnp.float32))\n")


def test_by_primitive_shows_bits_when_they_agree(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(MIXED)
    csv = run("analyze", path, "--by", "primitive", "--format", "csv", "-q").output.splitlines()
    assert csv[1].split(",")[:5] == ["dot_general", "dot", "", "", ""]  # 8x8 and 1x1: no one width
    path.write_text(MIXED.replace("sign(h) @ sign(p['b']['fc'])", "jnp.clip(jnp.round(h), -127, 127) @ p['a']['fc']"))
    csv = run("analyze", path, "--by", "primitive", "--format", "csv", "-q").output.splitlines()
    assert csv[1].split(",")[:5] == ["dot_general", "dot", "", "8", "8"]
    assert csv[1].split(",")[5] == str(2 * 2 * 8 * 8)


def test_depth_is_honoured_by_csv_and_markdown(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(MIXED)
    csv = run("analyze", path, "--depth", "1", "--format", "csv", "-q").output.splitlines()
    assert [line.split(",")[0] for line in csv[1:]] == ["a", "b"]


@pytest.mark.parametrize("args, fragment", [
    (["--depth", "1", "--by", "bits"], "--depth groups layers by name"),
    (["--depth", "1", "--by", "primitive"], "--depth groups layers by name"),
    (["--depth", "1", "--format", "json"], "--format json lists every layer"),
    (["--by", "bits", "--format", "json"], "--format json lists every layer"),
    (["--full", "--depth", "2"], "exclude each other"),
    (["--full", "--by", "bits"], "--full lists every layer"),
])
def test_grouping_options_that_would_be_ignored_are_refused(tmp_path, args, fragment):
    path = tmp_path / "m.py"
    path.write_text(MIXED)
    one_line_error(run("analyze", path, *args), fragment)


@pytest.mark.parametrize("name, width", [("a/bb/ccc/dddd/eeeee", 8), ("x" * 30 + "/y", 12), ("short", 12),
                                         ("enc/" + "z" * 25 + "/head", 12)])
def test_wrap_name_breaks_after_slashes_and_folds_only_a_longer_part(name, width):
    from acecost.report.render import wrap_name

    lines = wrap_name(name, width).split("\n")
    assert all(len(line) <= width for line in lines)
    assert lines[0] + "".join(line[2:] for line in lines[1:]) == name  # continuations indented by 2
    parts_fit = all(len(p) + 1 <= width - 2 for p in name.split("/"))
    if parts_fit:  # every break is right after a '/'
        assert all(line.endswith("/") for line in lines[:-1])


def test_a_grouping_with_one_name_per_phase_is_not_chosen():
    from acecost.report.render import compact_rows
    from acecost.report.model import OpRecord, Report, Totals

    def rec(name, phase, macs):
        return OpRecord(name, "dot_general", [1], [1], [1], 8, 8, "", "", 1, macs, macs * 64, False, phase=phase)

    layers = [rec(f"Net/s{i}/fc", phase, base + i) for phase, base in (("forward", 10), ("backward", 100))
              for i in range(5)]
    report = Report(Totals(ace=sum(r.ace for r in layers)), layers)
    compact = compact_rows(report)  # depth 1 is "Net" and "Net (backward)"; depth 2 has 10 rows
    assert compact.depth == 2 and compact.hidden == 3
    kept = [r.name for r in compact.rows[:-1]]
    # the costliest, in model order; records with no gradient kind are named "(backward)"
    assert kept == ["Net/s3", "Net/s4"] + [f"Net/s{i} (backward)" for i in range(5)]
    assert compact.rows[-1].macs == 10 + 11 + 12


def test_a_sweep_imports_a_module_attr_target_from_the_current_directory(tmp_path, monkeypatch, isolated_imports):
    """The same import as analyze: a sweep of ``netmod:build`` finds netmod.py (and its helper) in the cwd."""
    d = model_dir(tmp_path, "proj", NET.replace("def acecost_model():", "def build(scale=1):"), 127)
    (d / "net.py").rename(d / "netmod.py")
    monkeypatch.chdir(d)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(d))])
    df = acecost.sweep("netmod:build", {"scale": [1, 2]}, jobs=1, cache=False)
    assert list(df["ace"]) == [MACS * 8 * 8] * 2
