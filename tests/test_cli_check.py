"""``acecost check`` and ``acecost diff``: exit codes, formats, config, baselines.

Most tests replace the analysis with hand-made reports (totals by formula),
so they exercise the command's logic in milliseconds; the tests at the end
run the real engine on tiny model files written into a temporary project.
"""

import json
import re
import textwrap
import xml.etree.ElementTree as ET

import click
import pytest
from click.testing import CliRunner

import acecost.cli.check as C
import acecost.cli.diff as D
from acecost.errors import TargetError


def report(layers, size_bits=0, elementwise=0, warnings=(), unsupported=(), complete=True,
           fallback=False):
    """A schema-shaped report whose totals are computed from (name, macs, a, w) by formula."""
    recs, macs, ace, bops = [], 0, 0, 0
    source = "float, no level structure (test)" if fallback else "test"
    for name, m, a, w in layers:
        binary = a == 1 and w == 1
        recs.append({"name": name, "primitive": "dot_general", "lhs_shape": [1], "rhs_shape": [1],
                     "out_shape": [1], "bits_a": a, "bits_w": w, "bits_a_source": source,
                     "bits_w_source": "test", "multiplier": 1, "macs": m, "ace": m * a * w,
                     "binary": binary})
        macs, ace, bops = macs + m, ace + m * a * w, bops + (m if binary else 0)
    return {"schema_version": 1, "meta": {},
            "totals": {"macs": macs, "binary_macs": bops, "ace": ace,
                       "cpu64": bops / 64 + macs - bops, "size_bits": size_bits, "params": 0,
                       "elementwise_ops": elementwise, "complete": complete},
            "layers": recs, "params": [], "warnings": list(warnings),
            "unsupported": list(unsupported)}


# ACE: small = 1000*256 + 6400*1 = 262400; big = 1e6*256 = 2.56e8.
REPORTS = {
    "small.py": report([("d0", 1000, 16, 16), ("d1", 6400, 1, 1)], size_bits=8000, elementwise=7),
    "big.py": report([("d0", 10**6, 16, 16)], size_bits=40 * 10**6, elementwise=7),
    "warn.py": report([("d0", 10, 16, 8)], warnings=["d0: lhs counted as 16-bit float"],
                      fallback=True),
    "note.py": report([("d0", 10, 8, 8)], warnings=["an informational note"]),
    "loop.py": report([("d0", 10, 8, 8)], complete=False),
    "unsup.py": report([("d0", 10, 8, 8)], unsupported=[{"primitive": "custom_vjp_call",
                                                          "count": 1, "scopes": ["x"]}]),
}


@pytest.fixture
def fake(monkeypatch):
    """Serve REPORTS instead of analyzing; records which targets were asked for."""
    seen = []

    def analyze(spec):
        seen.append(spec)
        name = spec.target.rsplit("/", 1)[-1]
        if name == "broken.py":
            raise TargetError("no such file: broken.py")
        if name == "crash.py":
            raise RuntimeError("boom")
        return json.loads(json.dumps(REPORTS[name]))

    monkeypatch.setattr(C, "analyze_spec", analyze)
    return seen


def run(*args, cmd=None):
    return CliRunner().invoke(cmd or C.check, [str(a) for a in args])


def one_error_line(result, fragment, code=2):
    """The user-error contract: exit 2, one 'acecost: error:' line, no traceback."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("acecost: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.output


PROJECT = """
[project]
name = "demo"

[[tool.acecost.models]]
name = "small"
target = "small.py"
max_ace = "300k"
max_size = "1kB"

[[tool.acecost.models]]
name = "big"
target = "big.py"
max_ace = "200M"
max_size = "4MB"
max_bops = 0
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(PROJECT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ------------------------------------------------------------ exit codes


def test_exit_0_within_budget(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("small.py", "--max-ace", "262400", "--max-cpu64", "1100", "--max-size", "1kB",
            "--max-macs", "7.4k", "--max-bops", "6400", "--max-elementwise", "7")
    assert r.exit_code == 0, r.output
    assert "PASS: 1 model within budget" in r.stdout


def test_exit_1_over_budget(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("small.py", "--max-ace", "262399")
    assert r.exit_code == 1
    assert "FAIL: 1 of 1 model over budget" in r.stdout and "ACE" in r.stdout


def test_project_two_models_one_over(fake, project):
    r = run()
    assert r.exit_code == 1, r.output
    verdict = r.stdout.strip().splitlines()[-1]
    # ACE 2.56e8 is 28% over 2e8; 40e6 bits is 25% over 4MB = 32e6 bits
    assert verdict == "FAIL: 1 of 2 models over budget: big (ACE +28.0%, size +25.0%)"
    # model files are looked up relative to the config file
    assert [s.target for s in fake] == [str(project / "small.py"), str(project / "big.py")]


def test_target_can_name_a_configured_model(fake, project):
    r = run("small")
    assert r.exit_code == 0
    assert [s.name for s in fake] == ["small"]
    assert fake[0].budgets == {"ace": 300_000, "size": 8000}


def test_target_naming_a_configured_file_uses_its_config(fake, project):
    r = run("big.py")  # the target of "big", not its name: still big's budgets
    assert r.exit_code == 1
    assert fake[0].name == "big" and fake[0].budgets == {"ace": 200_000_000, "size": 32_000_000, "bops": 0}


def test_target_that_is_not_configured_uses_only_the_command_line(fake, project):
    r = run("warn.py", "--max-ace", "1G")
    assert r.exit_code == 0
    assert fake[0].budgets == {"ace": 10**9} and fake[0].name == "warn.py"


def test_cli_budget_overrides_config(fake, project):
    assert run("big", "--max-ace", "1G", "--max-size", "6MB").exit_code == 0
    assert run("small", "--max-ace", "1k").exit_code == 1


def test_acecost_toml_when_pyproject_has_no_table(fake, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "acecost.toml").write_text('[[models]]\nname = "b"\ntarget = "big.py"\nmax_ace = "1e8"\n')
    monkeypatch.chdir(tmp_path)
    r = run()
    assert r.exit_code == 1 and "over budget: b (ACE +156.0%)" in r.stdout


def test_explicit_config_file(fake, tmp_path, monkeypatch):
    cfg = tmp_path / "conf" / "budgets.toml"
    cfg.parent.mkdir()
    cfg.write_text('[[models]]\nname = "s"\ntarget = "small.py"\nmax_ace = "1M"\n')
    monkeypatch.chdir(tmp_path)
    r = run("--config", cfg)
    assert r.exit_code == 0
    assert fake[0].target == str(cfg.parent / "small.py")


# ----------------------------------------------------- usage errors (2)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["small.py", "--max-ace", "5X"], "invalid --max-ace '5X'"),
        (["small.py", "--max-ace", "-5e9"], "must not be negative"),
        (["small.py", "--max-cpu64", "inf"], "finite"),
        (["small.py", "--max-size", "nan"], "finite"),
        (["small.py", "--max-size", "4Mb"], "ambiguous"),
        (["small.py", "--max-ace", "4MB"], "sizes only"),
        (["small.py", "--input-shape", "1,a"], "--input-shape"),
        (["small.py", "--float-bits", "fp16"], "--float-bits"),
        (["small.py", "--bits", "conv"], "--bits"),
        (["small.py", "--while-trips", "-1"], "--while-trips"),
        (["small.py", "--max-increase", "2%"], "--max-increase needs --baseline"),
        (["small.py", "--baseline", "missing.json"], "cannot read missing.json"),
        ([], "no TARGET given and no models configured"),
    ],
)
def test_usage_errors_exit_2(fake, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    one_error_line(run(*args), fragment)
    assert fake == []  # nothing was analyzed


@pytest.mark.parametrize(
    "toml, fragment",
    [
        ('[[tool.acecost.models]]\nname = "a"\ntarget = "small.py"\nmax_flops = 1\n',
         "unknown budget 'max_flops'"),
        ('[[tool.acecost.models]]\nname = "a"\nmax_ace = 1\n', "has no 'target'"),
        ("[[tool.acecost.models]\nname = 1\n", "invalid TOML"),
        ('[[tool.acecost.models]]\nname = "a"\ntarget = "small.py"\nmax_ace = "-1"\n',
         "must not be negative"),
    ],
)
def test_config_errors_exit_2(fake, tmp_path, monkeypatch, toml, fragment):
    (tmp_path / "pyproject.toml").write_text(toml)
    monkeypatch.chdir(tmp_path)
    result = run()
    one_error_line(result, fragment)
    assert "pyproject.toml" in result.stderr


def test_baseline_with_several_models_is_a_usage_error(fake, project):
    (project / "base.json").write_text(json.dumps(REPORTS["small.py"]))
    one_error_line(run("--baseline", "base.json"), "--baseline compares one model")


def test_invalid_baseline_file_exit_2(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.json").write_text('{"meta": {}}')
    one_error_line(run("small.py", "--baseline", "base.json"), "not an acecost report")


def test_bad_format_is_a_click_usage_error(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("small.py", "--format", "xml").exit_code == 2


def test_model_error_exit_2_after_checking_the_others(fake, tmp_path, monkeypatch):
    (tmp_path / "acecost.toml").write_text(
        '[[models]]\nname = "bad"\ntarget = "broken.py"\nmax_ace = 1\n'
        '[[models]]\nname = "b"\ntarget = "big.py"\nmax_ace = 1\n')
    monkeypatch.chdir(tmp_path)
    r = run("--format", "json")
    assert r.exit_code == 2
    assert r.stderr.strip() == "acecost: error: model bad: no such file: broken.py"
    doc = json.loads(r.stdout)
    assert [m["status"] for m in doc["models"]] == ["error", "fail"]
    assert doc["exit_code"] == 2


def test_unexpected_exception_is_one_line_exit_3_without_debug(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("crash.py", "--max-ace", "1G")
    one_error_line(r, "internal error: RuntimeError: boom (rerun with --debug for details)", code=3)
    r = run("crash.py", "--max-ace", "1G", "--debug")  # the command's own --debug, like `acecost analyze --debug`
    assert r.exit_code == 3  # --debug adds the traceback, the exit code stays
    assert "Traceback" in r.stderr and "RuntimeError: boom" in r.stderr


def test_registered_in_the_acecost_command(fake, tmp_path, monkeypatch):
    from acecost.cli import main

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["check", "small.py", "--max-ace", "1k"])
    assert r.exit_code == 1 and "FAIL: 1 of 1 model over budget" in r.stdout
    r = CliRunner().invoke(main, ["--debug", "check", "crash.py", "--max-ace", "1G"])
    assert r.exit_code == 3 and "Traceback" in r.stderr


def test_debug_flag_on_the_group_shows_the_traceback(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    @click.group()
    @click.option("--debug", is_flag=True)
    @click.pass_context
    def cli(ctx, debug):
        ctx.obj = {"debug": debug}

    cli.add_command(C.check)
    r = CliRunner().invoke(cli, ["--debug", "check", "crash.py", "--max-ace", "1G"])
    assert r.exit_code == 3 and "Traceback" in r.stderr
    r = CliRunner().invoke(cli, ["check", "crash.py", "--max-ace", "1G"])
    assert r.exit_code == 3 and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["--debug", "check", "--max-ace", "5X", "small.py"])
    assert r.exit_code == 2 and "Traceback" in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "acecost: error: invalid --max-ace '5X': " \
        "unknown suffix 'X'; use k, M, G or T"


# ----------------------------------------------------------------- strict


@pytest.mark.parametrize("target, why", [("warn.py", "1 float fallback"),
                                         ("unsup.py", "1 unsupported primitive (custom_vjp_call)"),
                                         ("loop.py", "totals incomplete")])
def test_strict(fake, tmp_path, monkeypatch, target, why):
    monkeypatch.chdir(tmp_path)
    assert run(target, "--max-ace", "1e9").exit_code == 0
    r = run(target, "--max-ace", "1e9", "--strict")
    assert r.exit_code == 1
    assert r.stdout.strip().splitlines()[-1] == f"FAIL: 1 of 1 model over budget: {target} (--strict: {why})"


def test_strict_ignores_informational_warnings(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("note.py", "--strict").exit_code == 0


def test_strict_from_config(fake, tmp_path, monkeypatch):
    (tmp_path / "acecost.toml").write_text('[[models]]\nname = "w"\ntarget = "warn.py"\nstrict = true\n')
    monkeypatch.chdir(tmp_path)
    assert run().exit_code == 1
    assert run("small.py", "--strict").exit_code == 0  # a clean report passes --strict


# ---------------------------------------------------------------- formats


def test_json_format(fake, project):
    r = run("--format", "json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["passed"] is False and doc["exit_code"] == 1
    small, big = doc["models"]
    assert (small["name"], small["status"], big["status"]) == ("small", "pass", "fail")
    ace = {b["metric"]: b for b in big["budgets"]}["ace"]
    assert (ace["value"], ace["budget"], ace["passed"]) == (256_000_000, 200_000_000, False)
    assert ace["headroom_pct"] == pytest.approx(-28.0)
    assert {b["metric"]: b["passed"] for b in big["budgets"]} == {"ace": False, "size": False, "bops": True}
    assert small["totals"]["ace"] == 1000 * 256 + 6400


def test_junit_format(fake, project):
    r = run("--format", "junit")
    assert r.exit_code == 1
    root = ET.fromstring(r.stdout)
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    # small: ACE, size; big: ACE, size, BOPs (rows in metric order)
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("acecost.small", "budget ACE"), ("acecost.small", "budget size"),
        ("acecost.big", "budget ACE"), ("acecost.big", "budget size"), ("acecost.big", "budget BOPs")]
    failed = [(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None]
    assert failed == [("acecost.big", "budget ACE"), ("acecost.big", "budget size")]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "2", "0")
    assert cases[2].find("failure").get("message") == "ACE 256M exceeds budget 200M (+28.0%)"


def test_junit_error_and_file_output(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "reports" / "acecost.xml"
    out.parent.mkdir()
    r = run("broken.py", "--max-ace", "1G", "--junit-xml", out)
    assert r.exit_code == 2
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite.get("errors") == "1"
    assert suite.find("testcase/error").get("message") == "no such file: broken.py"


GH_LINE = re.compile(r"^::(error|notice|warning) (?:file=([^,]+),)?(?:line=(\d+),)?title=([^:]+)::model (\S+): (.+)$")


def test_github_format(fake, project):
    r = run("--format", "github")
    assert r.exit_code == 1
    lines = r.stdout.strip().splitlines()
    annotations = [GH_LINE.match(line) for line in lines[:-1]]
    assert all(annotations), lines
    got = [m.groups() for m in annotations]
    # Passing budgets are silent; each failure points at its key in PROJECT (line 1 is
    # the empty line before [project]): big's max_ace is line 14, its max_size line 15.
    assert got == [
        ("error", "pyproject.toml", "14", "acecost budget", "big", "ACE 256M exceeds budget 200M (+28.0%25)"),
        ("error", "pyproject.toml", "15", "acecost budget", "big", "size 40Mbit exceeds budget 4MB (+25.0%25)"),
    ]
    assert PROJECT.splitlines()[13] == 'max_ace = "200M"' and PROJECT.splitlines()[14] == 'max_size = "4MB"'
    assert lines[-1].startswith("FAIL: 1 of 2 models over budget: big (")


def test_github_escapes_newlines_and_warns_on_approximate_reports(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("warn.py", "--max-ace", "1e9", "--format", "github")
    assert r.exit_code == 0
    warning = "::warning title=acecost analysis::model warn.py: approximate report: 1 float fallback"
    assert warning in r.stdout.splitlines()
    r = run("broken.py", "--max-ace", "1G", "--format", "github")
    assert r.stdout.splitlines()[0] == "::error title=acecost error::model broken.py: no such file: broken.py"


def test_table_format(fake, project):
    r = run()
    out = r.stdout
    assert "small (small.py): PASS" in out and "big (big.py): FAIL" in out
    for header in ("metric", "value", "budget", "headroom"):
        assert header in out
    assert "-28.0%" in out and "OVER" in out and "12.5%" in out


# --------------------------------------------------------------- baseline


def test_baseline_regression(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = report([("d0", 1000, 16, 16), ("d1", 6400, 1, 1)], size_bits=8000, elementwise=7)
    (tmp_path / "same.json").write_text(json.dumps(base))
    assert run("small.py", "--baseline", "same.json").exit_code == 0  # default max increase 0%
    # ACE 262400 against a baseline of 979*256 + 6400 = 257024 is +2.09%;
    # CPU64 1100 against 1079 is +1.95% and MACs 7400 against 7379 +0.28%.
    cheaper = report([("d0", 979, 16, 16), ("d1", 6400, 1, 1)], size_bits=8000, elementwise=7)
    assert cheaper["totals"]["ace"] == 257_024
    (tmp_path / "cheaper.json").write_text(json.dumps(cheaper))
    r = run("small.py", "--baseline", "cheaper.json", "--max-increase", "2%", "--format", "json")
    assert r.exit_code == 1
    regs = {x["metric"]: x for x in json.loads(r.stdout)["models"][0]["regressions"]}
    assert not regs["ace"].get("passed")
    assert regs["ace"]["change_pct"] == pytest.approx((262_400 - 257_024) / 257_024 * 100)
    assert [m for m, x in regs.items() if not x["passed"]] == ["ace"]
    assert run("small.py", "--baseline", "cheaper.json", "--max-increase", "2.1").exit_code == 0
    r = run("small.py", "--baseline", "cheaper.json", "--max-increase", "2%", "--format", "github")
    assert re.search(r"^::error title=acecost regression::model small.py: ACE 262k regressed "
                     r"from baseline 257k \(\+2.1%25, max \+2%25\)$", r.stdout, re.M)


def test_baseline_from_config_is_relative_to_it(fake, tmp_path, monkeypatch):
    (tmp_path / "costs").mkdir()
    cheaper = report([("d0", 500, 16, 16), ("d1", 6400, 1, 1)], size_bits=8000, elementwise=7)
    (tmp_path / "costs" / "small.json").write_text(json.dumps(cheaper))
    (tmp_path / "acecost.toml").write_text(
        '[[models]]\nname = "s"\ntarget = "small.py"\nbaseline = "costs/small.json"\nmax_increase = "10%"\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    r = run("--config", tmp_path / "acecost.toml", "--format", "junit")
    assert r.exit_code == 1
    failed = [c.get("name") for c in ET.fromstring(r.stdout).iter("testcase")
              if c.find("failure") is not None]
    # ACE 262400 vs 134400 and CPU64 1100 vs 600 regressed; MACs 7400 vs 6900 is +7.2% < 10%.
    assert failed == ["regression ACE", "regression CPU64"]


# ------------------------------------------------------------------- diff


def diff_files(tmp_path):
    base = report([("stem", 1000, 16, 16), ("b0", 4000, 8, 8), ("old", 50, 16, 16)], size_bits=800)
    new = report([("stem", 1000, 16, 16), ("b0", 4000, 1, 1), ("extra", 10, 8, 8)], size_bits=400)
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "new.json").write_text(json.dumps(new))
    return tmp_path / "base.json", tmp_path / "new.json"


def test_diff_json(tmp_path):
    base, new = diff_files(tmp_path)
    r = run(base, new, "--format", "json", cmd=D.diff)
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["totals"]["ace"]["delta"] == (4000 * 1 + 10 * 64) - (4000 * 64 + 50 * 256)
    assert doc["totals"]["size_bits"]["pct"] == pytest.approx(-50.0)
    assert [x["name"] for x in doc["layers"]["changed"]] == ["b0"]
    assert [x["name"] for x in doc["layers"]["added"]] == ["extra"]
    assert [x["name"] for x in doc["layers"]["removed"]] == ["old"]
    assert doc["layers"]["unchanged_count"] == 1


def test_diff_table_and_markdown(tmp_path):
    base, new = diff_files(tmp_path)
    r = run(base, new, cmd=D.diff)
    assert r.exit_code == 0
    assert "8x8 -> 1x1" in r.stdout and "1 changed, 1 added, 1 removed, 1 unchanged" in r.stdout
    r = run(base, new, "--format", "markdown", "--top", "0", cmd=D.diff)
    assert r.exit_code == 0
    # ACE 1000*256 + 4000*64 + 50*256 = 524800 -> 1000*256 + 4000 + 10*64 = 260640 (-50.3%)
    assert "| ACE | 525k | 261k | -264k | -50.3% |" in r.stdout
    assert "(top 0 of 1)" in r.stdout


@pytest.mark.parametrize("content, fragment", [(None, "cannot read"), ("{", "not valid JSON"),
                                               ('{"a": 1}', "not an acecost report")])
def test_diff_bad_files_exit_2(tmp_path, content, fragment):
    base, _ = diff_files(tmp_path)
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    one_error_line(run(base, bad, cmd=D.diff), fragment)


# ------------------------------------------- the real engine, tiny models

MLP = '''
import jax
import jax.numpy as jnp

HIDDEN = {hidden}


def mlp(params, x):
    h = jnp.maximum(x @ params["w1"], 0.0)
    return h @ params["w2"]


def acecost_model():
    f32 = jnp.float32
    params = {{"w1": jax.ShapeDtypeStruct((784, HIDDEN), f32),
              "w2": jax.ShapeDtypeStruct((HIDDEN, 10), f32)}}
    return mlp, (params, jax.ShapeDtypeStruct((1, 784), f32))
'''


def mlp_ace(hidden: int) -> int:
    """Float operands at 16 bits: ACE = MACs * 16 * 16."""
    return (784 * hidden + hidden * 10) * 256


@pytest.fixture
def mlp_project(tmp_path, monkeypatch):
    pytest.importorskip("acecost.load.resolve")
    models = tmp_path / "models"
    models.mkdir()
    for hidden in (64, 65, 256):
        (models / f"mlp{hidden}.py").write_text(MLP.format(hidden=hidden))
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [project]
        name = "demo"

        [tool.acecost]
        float_bits = 16

        [[tool.acecost.models]]
        name = "mlp-small"
        target = "models/mlp64.py"
        max_ace = "20M"

        [[tool.acecost.models]]
        name = "mlp-wide"
        target = "models/mlp256.py"
        max_ace = "20M"
    """))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_engine_project_check(mlp_project):
    assert mlp_ace(64) == 13_008_896 < 20_000_000 < mlp_ace(256) == 52_035_584
    r = run("--format", "json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    status = {m["name"]: m["status"] for m in doc["models"]}
    assert status == {"mlp-small": "pass", "mlp-wide": "fail"}
    aces = {m["name"]: m["totals"]["ace"] for m in doc["models"]}
    assert aces == {"mlp-small": mlp_ace(64), "mlp-wide": mlp_ace(256)}
    r = run("mlp-small")
    assert r.exit_code == 0 and "PASS" in r.stdout


def test_engine_baseline_regression(mlp_project):
    import acecost
    from acecost.load.resolve import resolve

    base = acecost.analyze_target(resolve("models/mlp64.py")).to_dict()
    (mlp_project / "base.json").write_text(json.dumps(base))
    # Hidden 64 -> 65 grows every cost by exactly 1/64 = 1.5625%.
    args = ["models/mlp65.py", "--baseline", "base.json"]
    assert run(*args, "--max-increase", "1.5%").exit_code == 1
    assert run(*args, "--max-increase", "1.5625%").exit_code == 0
    assert run("models/mlp64.py", "--baseline", "base.json").exit_code == 0


def test_engine_strict_and_bits(mlp_project):
    # Unquantized float operands are a fallback the report warns about.
    assert run("models/mlp64.py", "--strict").exit_code == 1
    r = run("models/mlp64.py", "--bits", ".*=8,8", "--format", "json", "--max-ace", "3.3M")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["models"][0]["totals"]["ace"] == (784 * 64 + 64 * 10) * 64


def test_engine_missing_model_file(mlp_project):
    one_error_line(run("models/nope.py"), "nope.py")
