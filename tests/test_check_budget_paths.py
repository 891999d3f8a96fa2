"""``acecost check``: a configured model is found by its path too, a check with nothing to
check is a usage error, and ``--format github`` prints no workflow command of the config's making.

Exit codes go through the real console script. The model is two matmuls,
(1,8)@(8,4) then (1,4)@(4,2): 8*4 + 4*2 = 40 MACs.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from acecost.ci import budget as B
from acecost.cli.check import select_models
from acecost.errors import ConfigError

ACECOST = str(Path(sys.executable).with_name("acecost"))
MACS = 8 * 4 + 4 * 2

MODEL = """import jax, jax.numpy as jnp

def f(p, x):
    return (x @ p["fc1"]["kernel"]) @ p["fc2"]["kernel"]

def acecost_model():
    p = {"fc1": {"kernel": jax.ShapeDtypeStruct((8, 4), jnp.float32)},
         "fc2": {"kernel": jax.ShapeDtypeStruct((4, 2), jnp.float32)}}
    return f, (p, jax.ShapeDtypeStruct((1, 8), jnp.float32))
"""


def run(args, cwd):
    return subprocess.run([ACECOST, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


def one_error_line(r, fragment, code=2):
    assert r.returncode == code, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("acecost: error: "), r.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture
def project(tmp_path):
    """``proj/pyproject.toml`` configures ``../models/big.py`` with a MACs budget one below its cost."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "big.py").write_text(MODEL)
    (tmp_path / "proj" / "sub").mkdir(parents=True)
    (tmp_path / "proj" / "pyproject.toml").write_text(
        f'[[tool.acecost.models]]\nname = "big"\ntarget = "../models/big.py"\nmax_macs = {MACS - 1}\n')
    return tmp_path


@pytest.mark.parametrize("spelling", ["../models/big.py", "../models/./big.py", "{abs}", "../proj/../models/big.py"])
def test_a_configured_model_named_by_its_path_keeps_its_budget(project, spelling):
    target = spelling.format(abs=project / "models" / "big.py")
    r = run(["check", target], project / "proj")
    assert r.returncode == 1, r.stdout + r.stderr  # 40 MACs over a budget of 39: the budget was not dropped
    assert r.stdout.strip().splitlines()[-1] == "FAIL: 1 of 1 model over budget: big (MACs +2.6%)"


def test_the_cli_target_is_relative_to_the_cwd_and_the_config_path_to_the_config(project):
    # from proj/sub, with --config: the configured ../models/big.py is relative to proj/
    r = run(["check", "../../models/big.py", "--config", "../pyproject.toml", "--format", "json"],
            project / "proj" / "sub")
    assert r.returncode == 1, r.stderr
    assert '"name": "big"' in r.stdout
    # a file of the same name elsewhere is not the configured model: it has no budget
    (project / "proj" / "models").mkdir()
    (project / "proj" / "models" / "big.py").write_text(MODEL)
    one_error_line(run(["check", "models/big.py"], project / "proj"), "nothing to check")


def test_a_budget_on_the_command_line_still_replaces_the_configured_one(project):
    r = run(["check", "../models/big.py", "--max-macs", str(MACS)], project / "proj")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1] == "PASS: 1 model within budget"


def test_no_budget_anywhere_is_a_usage_error_before_any_analysis(tmp_path):
    (tmp_path / "model.py").write_text("raise SystemExit('imported')\n")  # never imported
    r = run(["check", "model.py"], tmp_path)
    one_error_line(r, "nothing to check: model 'model.py' has no budget")
    assert "--max-ace" in r.stderr and "pyproject.toml" in r.stderr and r.stdout == ""


def test_a_configured_model_without_budgets_is_a_usage_error(tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "acecost.toml").write_text(
        '[[models]]\nname = "a"\ntarget = "model.py"\nmax_macs = 100\n'
        '[[models]]\nname = "b"\ntarget = "model.py"\ninput_shape = [1, 8]\n')
    one_error_line(run(["check"], tmp_path), "nothing to check: model 'b' has no budget")


def test_strict_or_a_baseline_is_something_to_check(tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    r = run(["check", "model.py", "--strict"], tmp_path)  # float fallbacks: strict fails it
    assert r.returncode == 1, r.stderr


# ------------------------------------------------- matching, without analysis


def test_zoo_and_module_targets_match_by_what_they_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "acecost.toml").write_text(
        '[[models]]\nname = "r"\ntarget = "zoo:resnet50-w8a8"\nmax_ace = "1T"\n'
        '[[models]]\nname = "m"\ntarget = "pkg.mod:build"\nmax_ace = "1G"\n'
        '[[models]]\nname = "n"\ntarget = "pkg.other"\nentry = "make"\nmax_ace = "2G"\n')
    cli = {"budgets": {}}
    assert [s.name for s in select_models("zoo:resnet50-w8a8", None, cli)] == ["r"]
    assert [s.name for s in select_models("pkg.mod:build", None, cli)] == ["m"]
    assert [s.name for s in select_models("pkg.other:make", None, cli)] == ["n"]
    assert [s.name for s in select_models("pkg.other", None, cli)] == ["n"]
    with pytest.raises(ConfigError, match="nothing to check"):
        select_models("pkg.mod:other", None, cli)  # another function of the module
    with pytest.raises(ConfigError, match="nothing to check"):
        select_models("zoo:resnet50-bf16", None, cli)


def test_a_file_configured_twice_selects_both_and_refuses_one_budget_for_both(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(MODEL)
    (tmp_path / "acecost.toml").write_text(
        '[[models]]\nname = "a"\ntarget = "m.py"\nmax_macs = 100\n'
        '[[models]]\nname = "b"\ntarget = "m.py:acecost_model"\nfloat_bits = 8\nmax_macs = 50\n')
    assert [s.name for s in select_models("./m.py", None, {"budgets": {}})] == ["a", "b"]
    assert [s.name for s in select_models("m.py:acecost_model", None, {"budgets": {}})] == ["a", "b"]
    with pytest.raises(ConfigError, match="would replace the budgets of all 2 models"):
        select_models("m.py", None, {"budgets": {"macs": 1}})


def test_target_identity_compares_resolved_paths(tmp_path):
    (tmp_path / "d").mkdir()
    a = B.target_identity("d/../m.py", base=tmp_path)
    assert a == B.target_identity(str(tmp_path / "m.py")) == ("file", str((tmp_path / "m.py").resolve()), None)
    assert B.target_identity("m.py:f", base=tmp_path)[2] == "f"
    assert B.target_identity("zoo:x") == ("zoo", "x")


# --------------------------------------------------------------- GitHub output


FORGED = "m\\n::error file=x.py,line=1::forged\\r\\n::add-mask::y ##[error]legacy"


def test_github_format_prints_no_workflow_command_of_the_configs_making(tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "acecost.toml").write_text(
        f'[[models]]\nname = "{FORGED}"\ntarget = "model.py"\nmax_macs = 1\n'
        f'[[models]]\nname = "{FORGED} 2"\ntarget = "missing.py"\nmax_macs = 1\n')
    r = run(["check", "--format", "github"], tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    # every line is one of ours: an annotation with our title, then the verdict
    assert all(line.startswith(("::error file=", "::warning file=")) for line in lines[:-1]), lines
    assert all("title=acecost " in line for line in lines[:-1])
    assert lines[-1].startswith("ERROR: 1 of 2 models could not be checked: m%0A::error")
    assert "##[" not in lines[-1] and "\r" not in r.stdout
    assert not any("::error file=x.py" in line.split("::", 2)[1] for line in lines[:-1])
    # stderr: one line per problem, each ours
    assert all(line.startswith("acecost: ") for line in r.stderr.splitlines()), r.stderr


def test_property_escaping_covers_colon_and_comma():
    from acecost.ci.verdict import gh_escape, gh_escape_property, gh_line

    assert gh_escape("a%b\r\nc") == "a%25b%0D%0Ac"
    assert gh_escape_property("f:1,2%\n") == "f%3A1%2C2%25%0A"
    assert gh_line("PASS x\r\n::error::y ##[warning]z +1%") == "PASS x%0D%0A::error::y ##%5Bwarning]z +1%"
