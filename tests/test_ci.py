"""acecost in CI: annotations at the budget's line, budgets from the command
line, diffs in an 80-column log, start-up without jax, the markdown summary
and the composite action (action.yml) run step by step."""

import json
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import acecost.cli.check as C
import acecost.cli.diff as D
from acecost.errors import TargetError
from acecost.ci.tomllines import scan

ROOT = Path(__file__).resolve().parents[1]


def report(layers, size_bits=0):
    """A schema-shaped report whose totals follow from (name, macs, a, w) by formula."""
    recs = [{"name": n, "primitive": "dot_general", "lhs_shape": [1], "rhs_shape": [1], "out_shape": [1],
             "bits_a": a, "bits_w": w, "bits_a_source": "test", "bits_w_source": "test", "multiplier": 1,
             "macs": m, "ace": m * a * w, "binary": a == w == 1} for n, m, a, w in layers]
    macs = sum(m for _, m, _, _ in layers)
    bops = sum(m for _, m, a, w in layers if a == w == 1)
    return {"schema_version": 1, "meta": {},
            "totals": {"macs": macs, "binary_macs": bops, "ace": sum(r["ace"] for r in recs),
                       "cpu64": bops / 64 + macs - bops, "size_bits": size_bits, "params": 0,
                       "elementwise_ops": 0, "complete": True},
            "layers": recs, "params": [], "warnings": [], "unsupported": []}


# ACE: small = 1000*16*16 + 6400*1*1 = 262400; big = 1e6*16*16 = 2.56e8.
REPORTS = {"small.py": report([("d0", 1000, 16, 16), ("d1", 6400, 1, 1)], size_bits=8000),
           "big.py": report([("d0", 10**6, 16, 16)], size_bits=40 * 10**6)}


@pytest.fixture
def fake(monkeypatch):
    seen = []

    def analyze(spec):
        seen.append(spec)
        name = spec.target.rsplit("/", 1)[-1]
        if name not in REPORTS:
            raise TargetError(f"no such file: {name}")
        return json.loads(json.dumps(REPORTS[name]))

    monkeypatch.setattr(C, "analyze_spec", analyze)
    return seen


def run(*args, cmd=None, env=None):
    return CliRunner(env=env).invoke(cmd or C.check, [str(a) for a in args])


# --------------------------------------------------- annotations at lines

PYPROJECT = """\
[project]
name = "demo"

[tool.acecost]
max_size = "1kB"                  # a default for every model

[[tool.acecost.models]]
name = "small"
target = "small.py"
bits = [
    "d0=16,16",
]
max_ace = "300k"

[[tool.acecost.models]]
name = "big"
target = "big.py"
'max_ace' = "200M"

[[tool.acecost.models]]
name = "broken"
target = "broken.py"
"""


def test_scan_finds_each_key_line():
    lines = scan(PYPROJECT)
    assert lines.defaults == {"max_size": 5}
    assert lines.models == [{"": 7, "name": 8, "target": 9, "bits": 10, "max_ace": 13},
                            {"": 15, "name": 16, "target": 17, "max_ace": 18},
                            {"": 20, "name": 21, "target": 22}]
    assert lines.of_model(1, {"name", "target", "max_ace"}) == {"max_size": 5, "": 15, "name": 16,
                                                                "target": 17, "max_ace": 18}
    flat = scan('max_ace = "1"\ntext = """\n[[models]]\nmax_ace = 2\n"""\n[[models]]\nname = "a"\n')
    assert flat.defaults == {"max_ace": 1, "text": 2} and flat.models == [{"": 6, "name": 7}]


def test_github_annotations_point_at_the_budget_line(fake, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    monkeypatch.chdir(tmp_path)
    r = run("--format", "github")
    assert r.exit_code == 2, r.output  # broken.py cannot be analysed
    # small passes (ACE 262400 <= 3e5, size 8000 bits <= 1kB): no annotation at all.
    assert r.stdout.splitlines() == [
        "::error file=pyproject.toml,line=18,title=acecost budget::model big: "
        "ACE 256M exceeds budget 200M (+28.0%25)",
        "::error file=pyproject.toml,line=5,title=acecost budget::model big: "
        "size 40Mbit exceeds budget 1kB (+499900.0%25)",
        "::error file=pyproject.toml,line=22,title=acecost error::model broken: no such file: broken.py",
        "ERROR: 1 of 3 models could not be checked: broken",
    ]
    # 40e6 bits against 8000: (40e6 - 8000) / 8000 = 4999 = +499900%.
    assert (40 * 10**6 - 8000) / 8000 * 100 == 499900.0


def test_github_annotations_all_passing_is_one_line(fake, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    monkeypatch.chdir(tmp_path)
    r = run("small", "--format", "github")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == ["PASS: 1 model within budget"]


def test_github_annotation_of_a_command_line_budget_names_no_line(fake, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    monkeypatch.chdir(tmp_path)
    r = run("small", "--max-ace", "262399", "--format", "github")
    assert r.exit_code == 1
    assert r.stdout.splitlines()[0] == ("::error title=acecost budget::model small: "
                                        "ACE 262400 exceeds budget 262399 (+0.0%25)")


def test_github_annotations_in_an_acecost_toml_given_by_path(fake, tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    for name in ("big.py", "small.py"):
        (conf / name).write_text("")
    (conf / "acecost.toml").write_text(textwrap.dedent("""\
        # budgets
        [[models]]
        target = "small.py"
        max_ace = "262399"

        [[models]]
        target = "big.py"
        max_ace = "1G"
        """))
    monkeypatch.chdir(tmp_path)
    r = run("--config", "conf/acecost.toml", "--format", "github")
    assert r.exit_code == 1
    assert r.stdout.splitlines()[0] == ("::error file=conf/acecost.toml,line=4,title=acecost budget::"
                                        "model small.py: ACE 262400 exceeds budget 262399 (+0.0%25)")
    assert len(r.stdout.splitlines()) == 2


# ------------------------------------------- --max-* with several models

TWO = """\
[[tool.acecost.models]]
name = "small"
target = "small.py"
max_ace = "200k"

[[tool.acecost.models]]
name = "big"
target = "big.py"
max_ace = "1G"
"""


def test_budget_flag_without_target_and_several_models_is_refused(fake, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(TWO)
    monkeypatch.chdir(tmp_path)
    # small (ACE 262400) is over its 200k budget: --max-ace 1G would have loosened it to a pass.
    assert run().exit_code == 1
    n = len(fake)
    r = run("--max-ace", "1G", "--max-size", "1GB")
    assert r.exit_code == 2 and len(fake) == n  # refused before any analysis
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output
    assert lines[0] == ("acecost: error: --max-ace, --max-size without a TARGET would replace "
                        "the budgets of all 2 models configured in pyproject.toml; name one model "
                        "('acecost check small --max-ace ...') or change the config")
    assert run("small", "--max-ace", "1G").exit_code == 0  # named: replaces that model's budget


def test_budget_flag_with_a_single_configured_model_applies(fake, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(TWO.split("\n\n")[0] + "\n")
    monkeypatch.chdir(tmp_path)
    assert run().exit_code == 1  # 262400 > 200k
    assert run("--max-ace", "262400").exit_code == 0
    assert run("--max-ace", "262399").exit_code == 1
    assert [s.budgets for s in fake[-2:]] == [{"ace": 262400}, {"ace": 262399}]


def test_budget_flag_help_says_it_replaces_the_configured_budget():
    r = run("--help")
    text = " ".join(r.stdout.split())
    assert "with several configured models and no TARGET it is refused" in text
    assert "Budget for ACE (e.g. 5e9, 4.2G), replacing the configured one." in text


# ------------------------------------------------------------------- diff

LONG = "BinaryCNN/stage3/block2/conv_dw"


def long_diff(tmp_path):
    base = report([("stem", 1000, 16, 16), (LONG, 4000, 8, 8)])
    new = report([("stem", 1000, 16, 16), (LONG, 4000, 1, 1)])
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "new.json").write_text(json.dumps(new))
    return tmp_path / "base.json", tmp_path / "new.json"


@pytest.mark.parametrize("columns", ["80", None])  # None: piped, no COLUMNS
def test_diff_never_cuts_a_layer_name_at_80_columns(tmp_path, columns):
    base, new = long_diff(tmp_path)
    r = run(base, new, cmd=D.diff, env={"COLUMNS": columns})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert f"  {LONG}" in lines  # the whole name, on a line of its own
    assert "…" not in r.stdout
    # ACE 4000*8*8 = 256000 -> 4000*1*1 = 4000: -252000, -98.4375%
    assert "      bits 8x8 -> 1x1, MACs 0, ACE 256k -> 4k (-252k, -98.4%)" in lines
    assert lines[0] == f"totals: {base} -> {new}"  # paths are not cut either
    assert max(len(line) for line in lines[1:] if LONG not in line) <= 80


def test_diff_wide_terminal_keeps_the_table(tmp_path):
    base, new = long_diff(tmp_path)
    r = run(base, new, cmd=D.diff, env={"COLUMNS": "200"})
    assert r.exit_code == 0
    row = next(line for line in r.stdout.splitlines() if LONG in line)
    assert row.startswith("│ " + LONG) and "8x8 -> 1x1" in row and "-98.4%" in row


# ------------------------------------------------------------------ start-up

STARTUP = """
import json, sys
from acecost.cli import main
codes = []
for args in ARGS:
    try:
        main(args)
    except SystemExit as e:
        codes.append(e.code)
print(json.dumps([codes, [m for m in ("jax", "flax", "matplotlib") if m in sys.modules]]))
"""


def test_diff_and_check_config_errors_do_not_import_jax(tmp_path):
    base, new = long_diff(tmp_path)
    (tmp_path / "bad.toml").write_text("[[models]\n")
    (tmp_path / "typo.toml").write_text('[[models]]\ntarget = "m.py"\nmax_aec = 1\n')
    (tmp_path / "pyproject.toml").write_text(TWO)
    args = [["diff", str(base), str(new)], ["diff", str(base), "missing.json"],
            ["check", "--config", "bad.toml"], ["check", "--config", "typo.toml"],
            ["check", "--config", "missing.toml"], ["check", "--max-ace", "1G"],
            ["check", "missing.py", "--max-ace", "1"]]
    r = subprocess.run([sys.executable, "-c", STARTUP.replace("ARGS", repr(args))],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    codes, imported = json.loads(r.stdout.strip().splitlines()[-1])
    assert codes == [0, 2, 2, 2, 2, 2, 2]
    assert imported == []


# ------------------------------------------------------------- markdown


def test_markdown_summary_is_appended(fake, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(TWO)
    monkeypatch.chdir(tmp_path)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    r = run("--summary", summary, "--format", "markdown")
    assert r.exit_code == 1
    text = summary.read_text()
    assert text == "earlier step\n" + r.stdout
    assert r.stdout.splitlines()[:5] == [
        "### acecost check: FAIL: 1 of 2 models over budget: small (ACE +31.2%)",
        "",
        "| model | metric | value | budget | headroom | |",
        "|---|---|---:|---:|---:|---|",
        "| small | ACE | 262k | 200k | -31.2% | **OVER** |",
    ]
    assert (262400 - 200000) / 200000 * 100 == 31.2


# ---------------------------------------------------------- action.yml

MLP = '''
import jax
import jax.numpy as jnp


def acecost_model():
    w = jax.ShapeDtypeStruct((784, 64), jnp.float32)
    return (lambda w, x: x @ w), (w, jax.ShapeDtypeStruct((1, 784), jnp.float32))
'''
MLP_ACE = 784 * 64 * 16 * 16  # float operands at 16 bits: 12845056


def action():
    return yaml.safe_load((ROOT / "action.yml").read_text())


def test_action_declares_its_inputs():
    doc = action()
    assert doc["runs"]["using"] == "composite"
    inputs = doc["inputs"]
    assert inputs["format"]["default"] == "github"
    for name in ("config", "baseline", "junit-xml", "extras", "args", "install", "summary", "target"):
        assert name in inputs
    for step in doc["runs"]["steps"]:
        assert step["shell"] == "bash"
        assert "${{" not in step["run"], "inputs reach the script through env only"


EXPR = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")


def run_action(tmp_path, inputs, path_dirs=()):
    """Run action.yml's steps as a runner would: bash -eo pipefail, inputs through env."""
    doc = action()
    values = {k: str(v.get("default", "")) for k, v in doc["inputs"].items()} | inputs
    summary, output = tmp_path / "step_summary.md", tmp_path / "github_output"
    context = {"github.action_path": str(ROOT)} | {f"inputs.{k}": v for k, v in values.items()}

    def expand(text):
        return EXPR.sub(lambda m: context[m[1]], str(text))

    env = dict(os.environ, GITHUB_ACTION_PATH=str(ROOT), GITHUB_STEP_SUMMARY=str(summary),
               GITHUB_OUTPUT=str(output),
               PATH=os.pathsep.join([*map(str, path_dirs), str(Path(sys.executable).parent),
                                     os.environ.get("PATH", "")]))
    out = []
    for step in doc["runs"]["steps"]:
        script = tmp_path / "step.sh"
        script.write_text(step["run"])
        cwd = tmp_path / expand(step.get("working-directory", "."))
        r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                           env=env | {k: expand(v) for k, v in step.get("env", {}).items()},
                           cwd=cwd, capture_output=True, text=True, timeout=300)
        out.append(r)
        if r.returncode:
            break
    return out, summary, output


def test_action_install_step_installs_from_its_own_checkout(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    log = tmp_path / "pip.log"
    (fake_bin / "python").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (fake_bin / "python").chmod(0o755)
    (fake_bin / "acecost").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "acecost").chmod(0o755)
    steps, _, _ = run_action(tmp_path, {"extras": "aqt,qwix"}, path_dirs=[fake_bin])
    assert steps[0].returncode == 0, steps[0].stderr
    assert log.read_text() == f"-m pip install --disable-pip-version-check {ROOT}[aqt,qwix]\n"


@pytest.fixture
def budget_project(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "models").mkdir()
    (proj / "models" / "mlp.py").write_text(MLP)
    return proj


@pytest.mark.parametrize("budget, code", [(MLP_ACE, 0), (MLP_ACE - 1, 1)])
def test_action_runs_check_and_writes_summary_junit_and_exit_code(tmp_path, budget_project, budget, code):
    (budget_project / "pyproject.toml").write_text(
        f'[project]\nname = "p"\n\n[[tool.acecost.models]]\nname = "mlp"\n'
        f'target = "models/mlp.py"\nmax_ace = {budget}\n')
    steps, summary, output = run_action(tmp_path, {"install": "false", "working-directory": "proj",
                                                   "junit-xml": "junit.xml", "args": "--float-bits 16"})
    assert steps[0].returncode == 0
    check = steps[1]
    assert check.returncode == code, check.stdout + check.stderr
    assert output.read_text() == f"exit-code={code}\n"
    md = summary.read_text()
    verdict = "PASS: 1 model within budget" if code == 0 else "FAIL: 1 of 1 model over budget: mlp (ACE +0.0%)"
    assert md.startswith(f"### acecost check: {verdict}\n")
    # the value in full when its 3 figures (12.8M) would read like the budget it exceeds by one
    value = "12.8M" if code == 0 else str(MLP_ACE)
    assert f"| mlp | ACE | {value} | {budget} | {'0.0' if code == 0 else '-0.0'}% |" in md
    suite = ET.parse(budget_project / "junit.xml").getroot().find("testsuite")
    # the budget, and the float operands' fallback as a skipped "exact" case
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", str(code), "1")
    lines = check.stdout.splitlines()
    if code:
        assert lines[0].startswith("::error file=pyproject.toml,line=7,title=acecost budget::model mlp: ACE")
    assert lines[-1] == verdict


def test_docs_list_the_action_inputs_and_install_acecost_from_its_repository():
    text = (ROOT / "docs" / "ci.md").read_text()
    table = text[text.index("Its inputs:"):text.index("The step's output")]
    rows = re.findall(r"^\| `([\w-]+)` \|([^|]*)\|", table, re.M)
    inputs = action()["inputs"]
    assert [name for name, _ in rows] == list(inputs)
    for name, default in rows:
        if default.strip().startswith("`"):
            assert default.strip().strip("`") == inputs[name]["default"]
    assert "pip install -e . acecost" not in text  # acecost is not on the package index
    assert "uses: <owner>/acecost@<ref>" in text
    assert '"acecost @ git+https://github.com/<owner>/acecost@<ref>"' in text


# ------------------------------------ review fixes: refusals, lines, paths


REGRESS = """\
[[tool.acecost.models]]
name = "small"
target = "small.py"
baseline = "base-small.json"
max_increase = "0%"

[[tool.acecost.models]]
name = "big"
target = "big.py"
baseline = "base-big.json"
max_increase = "0%"
"""


def test_max_increase_without_target_and_several_models_is_refused(fake, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(REGRESS)
    # Baselines 10% cheaper in MACs: small 900*256 + 6400 = 236800 ACE (now 262400, +10.8%),
    # big 9e5*256 (now 1e6*256, +11.1%); sizes equal. Both regress at 0%, both pass at 50%.
    (tmp_path / "base-small.json").write_text(json.dumps(
        report([("d0", 900, 16, 16), ("d1", 6400, 1, 1)], size_bits=8000)))
    (tmp_path / "base-big.json").write_text(json.dumps(report([("d0", 9 * 10**5, 16, 16)], size_bits=40 * 10**6)))
    monkeypatch.chdir(tmp_path)
    assert run().exit_code == 1
    n = len(fake)
    r = run("--max-increase", "50%")
    assert r.exit_code == 2 and len(fake) == n, r.output  # refused before any analysis
    assert r.stderr.splitlines() == [
        "acecost: error: --max-increase without a TARGET would replace the budgets of all 2 models "
        "configured in pyproject.toml; name one model ('acecost check small --max-increase ...') "
        "or change the config"]
    assert run("small", "--max-increase", "50%").exit_code == 0  # named: only that model loosened
    assert run("small").exit_code == 1


def test_baseline_refusal_names_the_config_as_given(fake, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(TWO)
    (tmp_path / "base.json").write_text(json.dumps(REPORTS["small.py"]))
    monkeypatch.chdir(tmp_path)
    r = run("--baseline", "base.json")
    assert r.exit_code == 2 and fake == []
    assert r.stderr.splitlines() == [
        "acecost: error: --baseline compares one model but 2 are configured in pyproject.toml; "
        "name one model as TARGET or set 'baseline' per model in the config"]


def test_docs_and_action_do_not_suggest_a_refused_option():
    """The action's default runs every configured model, so its `args` example must not be refused."""
    action_text = (ROOT / "action.yml").read_text()
    ci = (ROOT / "docs" / "ci.md").read_text()
    args = yaml.safe_load(action_text)["inputs"]["args"]["description"]
    row = next(line for line in ci.splitlines() if line.startswith("| `args` |"))
    for text, target in ((args, "only with a target"), (row, "only with a `target`")):
        assert "--strict" in text and "--strict --max-increase" not in text
        assert text.count("--max-increase") == 1 and text.index("--max-increase") < text.index(target)
    assert "`--max-increase`" in ci.split("A `--max-*` option")[1].split("\n\n")[0]


INLINE_MODELS = """\
[tool.acecost]
max_ace = "1G"
max_size = "1kB"
models = [
  { name = "net", target = "small.py", max_ace = 100 },
  { name = "big", target = "big.py" },
]
"""


def test_a_model_key_the_scan_cannot_place_has_no_line(fake, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(INLINE_MODELS)
    monkeypatch.chdir(tmp_path)
    r = run("--format", "github")
    assert r.exit_code == 1, r.output
    # net: ACE 262400 against its own 100 (+262300%), set inside an inline table: no line, not
    # line 2 (the default it overrides). big: size 40e6 bits against the default 1kB = 8000 bits
    # (+499900%), at line 3.
    assert r.stdout.splitlines()[:2] == [
        "::error title=acecost budget::model net: ACE 262k exceeds budget 100 (+262300.0%25)",
        "::error file=pyproject.toml,line=3,title=acecost budget::model big: "
        "size 40Mbit exceeds budget 1kB (+499900.0%25)",
    ]
    assert (262400 - 100) / 100 * 100 == 262300.0


def test_a_nested_multiline_array_does_not_reset_the_scan():
    text = ('[tool.acecost]\nmax_ace = "1G"\n\n[[tool.acecost.models]]\nname = "net"\n'
            'target = "small.py"\ninput_shape = [\n  [1, 28, 28, 1],\n]\nmax_ace = 100\n'
            'note = "a ] in a string [x]"\nmax_size = "1kB"\n')
    lines = scan(text)
    assert lines.defaults == {"max_ace": 2}
    assert lines.models == [{"": 4, "name": 5, "target": 6, "input_shape": 7, "max_ace": 10,
                             "note": 11, "max_size": 12}]
    own = {"name", "target", "input_shape", "max_ace", "note", "max_size"}
    assert lines.of_model(0, own)["max_ace"] == 10
    # A key the model sets that the scan did not place is at no line, never at the default's.
    assert "max_ace" not in scan(text.replace("max_ace = 100\n", "")).of_model(0, own)
    assert scan(text.replace("max_ace = 100\n", "")).of_model(0, own - {"max_ace"})["max_ace"] == 2


def test_annotation_paths_are_relative_to_the_github_workspace(fake, tmp_path, monkeypatch):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "pyproject.toml").write_text(PYPROJECT)
    monkeypatch.chdir(sub)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    r = run("big", "--format", "github")
    assert r.stdout.splitlines()[0].startswith("::error file=sub/pyproject.toml,line=18,")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path / "elsewhere"))  # not under it: as before
    r = run("big", "--format", "github")
    assert r.stdout.splitlines()[0].startswith("::error file=pyproject.toml,line=18,")


@pytest.mark.parametrize("option", ["--summary", "--junit-xml"])
def test_unwritable_report_path_fails_before_any_analysis(fake, tmp_path, monkeypatch, option):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    monkeypatch.chdir(tmp_path)
    r = run(option, tmp_path / "missing" / "out.md")
    assert r.exit_code == 2 and fake == [], r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"acecost: error: cannot write {tmp_path / 'missing' / 'out.md'}")
    assert "Traceback" not in r.output
    ok = tmp_path / "out.md"
    assert run(option, ok, "small").exit_code == 0 and ok.read_text().strip()
