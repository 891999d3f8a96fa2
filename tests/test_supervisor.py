"""The console script as a supervisor: a model that ends, kills or aborts its process, and Ctrl-C.

Every case runs the real ``acecost`` console script. A model that calls
``os._exit``, aborts or crashes in native code is a model error (exit 2, one
``acecost: error:`` line, nothing on stdout), never a verdict; in a sweep it
is that point's error row. Ctrl-C is exit 130 and one line wherever it lands:
the places are reached deterministically, by markers the model prints or by
a ``sitecustomize`` that holds an import of a named module (click, jax) after
announcing it on stderr, never by guessing how long start-up takes.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ACECOST = str(Path(sys.executable).with_name("acecost"))
TIMEOUT = 180

_SDS = "jax.ShapeDtypeStruct"
HEAD = "import os, sys, time, ctypes, atexit, signal, jax, jax.numpy as jnp\n"


def mlp(before_build: str = "", in_trace: str = "") -> str:
    """(1x8) @ (8x4) @ (4x2): 32 + 8 MACs; code run where the model is built or traced."""
    return (f"def f(p, x):\n    {in_trace or 'pass'}\n    return (x @ p['fc1']) @ p['fc2']\n\n"
            f"def acecost_model():\n    {before_build or 'pass'}\n"
            f"    p = {{'fc1': {_SDS}((8, 4), jnp.float32), 'fc2': {_SDS}((4, 2), jnp.float32)}}\n"
            f"    return f, (p, {_SDS}((1, 8), jnp.float32))\n")


SAY = "print('acecost-test: {}', file=sys.stderr, flush=True)"
MODELS = {
    "mlp.py": HEAD + mlp(),
    "exit_import.py": HEAD + "os._exit(0)\n" + mlp(),
    "exit_model.py": HEAD + mlp(before_build="os._exit(0)"),
    "exit_trace.py": HEAD + mlp(in_trace="os._exit(0)"),
    "exit_atexit.py": HEAD + "atexit.register(lambda: (print('ATEXIT-HOOK-RAN'), sys.stdout.flush(), os._exit(0)))\n" + mlp(),
    "abort.py": HEAD + mlp(before_build="os.abort()"),
    "segfault.py": HEAD + mlp(in_trace="ctypes.string_at(0)"),
    "sigkill.py": HEAD + mlp(before_build="os.kill(os.getpid(), signal.SIGKILL)"),
    "raises.py": HEAD + mlp(before_build="raise ValueError('bad width')"),
    "noisy.py": HEAD + "os.write(1, b'FD1 AT IMPORT\\n')\nos.system('echo SUBPROCESS AT IMPORT')\n" + mlp(),
    "sleep_import.py": HEAD + SAY.format("sleeping") + "\ntime.sleep(120)\n" + mlp(),
    "sleep_trace.py": HEAD + mlp(in_trace=SAY.format("sleeping") + "; time.sleep(120)"),
    # one point per behaviour: (1x8) @ (8xw) is 8*w MACs; the priced ones take long enough (1.2 s) that
    # -j 2 starts its second worker
    "points.py": HEAD + (
        "def acecost_model(w=4):\n"
        "    if w in (2, 4, 6):\n        time.sleep(1.2)\n"
        "    if w == 3:\n        os._exit(0)\n"
        "    if w == 5:\n        os.abort()\n"
        "    if w == 6:\n        os.write(1, b'FD1 IN A POINT\\n'); os.system('echo SUBPROCESS IN A POINT')\n"
        "    if w == 7:\n        " + SAY.format("sleeping") + "; time.sleep(120)\n"
        f"    return (lambda p, x: x @ p), ({_SDS}((8, w), jnp.float32), {_SDS}((1, 8), jnp.float32))\n"),
}

#: Held imports: announce on stderr, then wait, so a signal lands inside the import for sure.
SITECUSTOMIZE = """
import os, sys, time
_held = {}
for item in filter(None, os.environ.get("ACECOST_TEST_HOLD", "").split(",")):
    name, _, seconds = item.partition("=")
    _held[name] = float(seconds or 60)


class _Hold:
    def find_spec(self, name, path=None, target=None):
        if name in _held:
            seconds = _held.pop(name)
            os.write(2, f"acecost-test: importing {name}\\n".encode())
            time.sleep(seconds)
        return None


if _held:
    sys.meta_path.insert(0, _Hold())
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("supervised")
    for name, text in MODELS.items():
        (root / name).write_text(text)
    hook = root / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return root


def _env(models: Path, hold: str = "", **extra) -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **extra}
    if hold:
        env["ACECOST_TEST_HOLD"] = hold
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(models / "hook"), env.get("PYTHONPATH")) if p)
    return env


def run(args, models: Path, cwd: Path, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([ACECOST, *args], cwd=cwd, env=_env(models, **extra), capture_output=True, text=True,
                          timeout=TIMEOUT)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def one_error(r: subprocess.CompletedProcess, fragment: str, code: int = 2) -> None:
    detail = (r.returncode, r.stdout, r.stderr)
    assert r.returncode == code, detail
    assert lines(r.stderr) == [lines(r.stderr)[0]] and r.stderr.startswith("acecost: error: "), detail
    assert fragment in r.stderr, detail
    assert r.stdout == "", detail


# ------------------------------------------------------- a model that ends its process

ENDINGS = [
    ("exit_import.py", "the model ended the process (exit code 0) while analysing"),
    ("exit_model.py", "the model ended the process (exit code 0) while analysing"),
    ("exit_trace.py", "the model ended the process (exit code 0) while analysing"),
    ("abort.py", "killed by SIGABRT"),
    ("segfault.py", "killed by SIGSEGV"),
    ("sigkill.py", "killed by SIGKILL"),
]


@pytest.mark.parametrize("command", [["analyze", "--format", "json"], ["check", "--max-ace", "1G", "--format", "json"]],
                         ids=["analyze", "check"])
@pytest.mark.parametrize("model,fragment", ENDINGS, ids=[m for m, _ in ENDINGS])
def test_a_model_that_ends_the_process_is_a_model_error(command, model, fragment, models, tmp_path):
    r = run([command[0], str(models / model), *command[1:]], models, tmp_path)
    one_error(r, fragment)
    assert model in r.stderr


@pytest.mark.parametrize("budget,code,verdict", [("1G", 0, "pass"), ("1", 1, "fail")])
def test_an_atexit_hook_cannot_change_the_verdict(budget, code, verdict, models, tmp_path):
    """The hook would print and exit 0 and exit 0 after the verdict: it never runs."""
    r = run(["check", str(models / "exit_atexit.py"), "--max-ace", budget, "--format", "json"], models, tmp_path)
    assert r.returncode == code, (r.stdout, r.stderr)
    data = json.loads(r.stdout)
    assert data["exit_code"] == code and data["models"][0]["status"] == verdict, data
    assert "ATEXIT-HOOK-RAN" not in r.stdout + r.stderr


def test_analyze_with_an_atexit_hook_keeps_its_output_and_code(models, tmp_path):
    r = run(["analyze", str(models / "exit_atexit.py"), "--format", "json"], models, tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["totals"]["macs"] == 8 * 4 + 4 * 2
    assert "ATEXIT-HOOK-RAN" not in r.stdout + r.stderr


def test_json_is_byte_identical_to_the_unsupervised_command(models, tmp_path):
    supervised = run(["analyze", str(models / "mlp.py"), "--format", "json"], models, tmp_path)
    direct = run(["analyze", str(models / "mlp.py"), "--format", "json"], models, tmp_path, ACECOST_SUPERVISE="0")
    assert supervised.returncode == direct.returncode == 0, (supervised.stderr, direct.stderr)
    assert supervised.stdout == direct.stdout
    assert json.loads(supervised.stdout)["totals"]["macs"] == 8 * 4 + 4 * 2


def test_debug_shows_the_traceback_from_the_child(models, tmp_path):
    r = run(["analyze", str(models / "raises.py"), "--debug"], models, tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" in r.stderr and "bad width" in r.stderr
    plain = run(["analyze", str(models / "raises.py")], models, tmp_path)
    one_error(plain, "bad width")


def test_what_the_model_writes_to_fd_1_does_not_reach_stdout(models, tmp_path):
    r = run(["analyze", str(models / "noisy.py"), "--format", "json", "-q"], models, tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["totals"]["macs"] == 8 * 4 + 4 * 2
    assert "FD1 AT IMPORT" in r.stderr and "SUBPROCESS AT IMPORT" in r.stderr


# ------------------------------------------------------------------------ sweeps


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sweep_points_that_end_their_process_are_error_rows(jobs, models, tmp_path):
    r = run(["sweep", str(models / "points.py"), "--grid", "w=2,3,4,5,6", "-j", jobs, "--no-cache",
             "-o", "out.csv"], models, tmp_path)
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""  # the table went to the file; what point 6 wrote to fd 1 went to stderr
    assert "FD1 IN A POINT" in r.stderr and "SUBPROCESS IN A POINT" in r.stderr
    with open(tmp_path / "out.csv", newline="") as fh:
        rows = {int(row["w"]): row for row in csv.DictReader(fh)}
    assert sorted(rows) == [2, 3, 4, 5, 6]
    for w in (2, 4, 6):
        assert rows[w]["error"] == "" and int(rows[w]["macs"]) == 8 * w, rows[w]
    assert rows[3]["error"] == "the model ended its worker process (exit code 0) pricing this point"
    assert rows[3]["macs"] == ""
    assert "killed by SIGABRT" in rows[5]["error"] and rows[5]["macs"] == ""
    assert "5 points: 5 priced" in r.stderr and "2 failed" in r.stderr


def test_a_sweep_points_fd_1_does_not_reach_the_table_on_stdout(models, tmp_path):
    r = run(["sweep", str(models / "points.py"), "--grid", "w=2,6", "-j", "1", "--no-cache"], models, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "FD1 IN A POINT" not in r.stdout and "SUBPROCESS IN A POINT" not in r.stdout
    assert "FD1 IN A POINT" in r.stderr and "SUBPROCESS IN A POINT" in r.stderr
    assert "2 points" in r.stdout  # the table's title


def test_a_model_that_ends_the_sweeps_own_process_is_one_line(models, tmp_path):
    r = run(["sweep", str(models / "exit_import.py"), "--grid", "float_bits=8,16", "--no-cache"], models, tmp_path)
    one_error(r, "the model ended the process (exit code 0) while sweeping")


# ------------------------------------------------------------------------ Ctrl-C


def _group(pgid: int) -> list[int]:
    """Live processes of a process group (a zombie has ended)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(entry))
    return out


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def interrupt(args, models: Path, cwd: Path, marker: str | None, hold: str = "", delay: float = 0.0,
              after_child: bool = False):
    """Start the command, wait for ``marker`` on stderr (or for its child process), wait ``delay``, SIGINT."""
    proc = subprocess.Popen([ACECOST, *args], cwd=cwd, env=_env(models, hold=hold), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    seen = ""
    if marker is not None:
        while marker not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, seen
            seen += proc.stderr.readline()
    children = []
    if after_child:
        while not children:
            assert time.monotonic() < deadline and proc.poll() is None
            children = _children(proc.pid)
            time.sleep(0.01)
    time.sleep(delay)
    if marker is not None and not children:
        children = _children(proc.pid)
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=TIMEOUT)
    got = [line for line in lines(seen + rest) if not line.startswith("acecost-test:")]
    assert proc.returncode == 130, (out, seen + rest)
    assert got == ["acecost: error: interrupted"], seen + rest
    assert "Traceback" not in out
    for child in children:  # the child and the sweep workers of its group: none outlives the command
        end = time.monotonic() + 10
        while _group(child) and time.monotonic() < end:
            time.sleep(0.05)
        assert not _group(child), f"processes of group {child} outlived the command"
    return out


SWEEP = ["sweep", "{M}/points.py", "--grid", "w=2,7,4", "-j", "2", "--no-cache"]


def _args(args, models):
    return [a.replace("{M}", str(models)) for a in args]


#: a sweep with a cache: the supervisor tries it in its own process first, then hands it to a child
SWEEP_CACHED = ["sweep", "{M}/points.py", "--grid", "w=2,7,4", "-j", "2", "--cache-dir", "{M}/interrupt-cache"]


@pytest.mark.parametrize("args", [
    ["analyze", "{M}/mlp.py", "--format", "json"],
    ["check", "{M}/mlp.py", "--max-ace", "1G", "--format", "junit"],
    SWEEP, SWEEP_CACHED,
], ids=["analyze", "check", "sweep", "sweep-cached"])
@pytest.mark.parametrize("hold", ["click", "jax"])
def test_interrupt_during_the_childs_imports(args, hold, models, tmp_path):
    """The child holds its import of click (or jax): the supervisor has long installed its handler.
    (With a cache, the supervisor's own import of click is held: it answers a cached sweep itself.)"""
    interrupt(_args(args, models), models, tmp_path, f"acecost-test: importing {hold}", hold=hold)


@pytest.mark.parametrize("args,marker", [
    (["analyze", "{M}/sleep_import.py"], "sleeping"),
    (["analyze", "{M}/sleep_trace.py", "--format", "json"], "sleeping"),
    (["check", "{M}/sleep_trace.py", "--max-ace", "1G"], "sleeping"),
    (SWEEP, "sleeping"),  # point w=7 sleeps in a worker
], ids=["analyze-import", "analyze-trace", "check-trace", "sweep-worker"])
def test_interrupt_while_model_code_runs(args, marker, models, tmp_path):
    interrupt(_args(args, models), models, tmp_path, f"acecost-test: {marker}")


@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0, 2.5])
@pytest.mark.parametrize("args", [
    ["analyze", "{M}/sleep_trace.py", "--format", "json"],
    SWEEP,
], ids=["analyze", "sweep"])
def test_interrupt_at_delays_after_the_child_starts(args, delay, models, tmp_path):
    """Wherever these land (the child's imports, building, tracing, a worker's start): one line. Both
    commands end in a model that sleeps, so however fast the machine, the command is still running."""
    interrupt(_args(args, models), models, tmp_path, None, delay=delay, after_child=True)


@pytest.mark.parametrize("hold,delay", [("click=60", 0.0), ("rich=60", 0.0), ("jax=60", 0.0),
                                        ("click=0", 0.2), ("click=0", 1.0), ("click=0", 2.5)])
def test_interrupt_during_zoo_list(hold, delay, models, tmp_path):
    """zoo list runs in this process; its handler is in before click is imported."""
    name = hold.partition("=")[0]
    interrupt(["zoo", "list", "--format", "json", "--resolution", "112"], models, tmp_path,
              f"acecost-test: importing {name}", hold=hold, delay=delay)


def test_help_and_zoo_list_start_no_child_and_import_no_jax(models, tmp_path):
    probe = ("import runpy, sys; sys.argv = [{script!r}, *{args!r}]\n"
             "try:\n    runpy.run_path({script!r}, run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print('JAX' if 'jax' in sys.modules else 'NOJAX', 'SUBPROCESS' if 'subprocess' in sys.modules "
             "else 'NOSUBPROCESS', file=sys.stderr)\n")
    for args in (["--help"], ["zoo", "list"], ["analyze", "--help"]):
        r = subprocess.run([sys.executable, "-c", probe.format(script=ACECOST, args=args)], cwd=tmp_path,
                           env=_env(models), capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr
        assert r.stderr.strip().splitlines()[-1] == "NOJAX NOSUBPROCESS", (args, r.stderr)


# ------------------------------------------------------- a sweep answered from its cache


def in_process(args, models, cwd, **extra) -> tuple[subprocess.CompletedProcess, dict]:
    """The console script run in a probe interpreter: its result, whether it started a child process
    (the supervisor's record) and imported jax."""
    probe = ("import os, runpy, sys; sys.argv = [{script!r}, *{args!r}]\n"
             "sys.path[0] = os.path.dirname({script!r})  # as when the script itself is run\n"
             "code = 0\n"
             "try:\n    runpy.run_path({script!r}, run_name='__main__')\n"
             "except SystemExit as exc:\n    code = exc.code\n"
             "from acecost.cli import supervisor\n"
             "print('PROBE', supervisor._state['child'] is not None, 'jax' in sys.modules, file=sys.stderr)\n"
             "sys.exit(code)\n")
    r = subprocess.run([sys.executable, "-c", probe.format(script=ACECOST, args=args)], cwd=cwd,
                       env=_env(models, **extra), capture_output=True, text=True, timeout=TIMEOUT)
    *said, last = r.stderr.strip().splitlines()
    child, jax = last.split()[1:]
    r.stderr = "".join(line + "\n" for line in said)  # what the command itself said
    return r, {"child": child == "True", "jax": jax == "True"}


def test_a_cached_sweep_is_answered_without_a_child(models, tmp_path):
    """Every point cached: the supervisor answers itself (no model code runs); one point more: the
    whole command runs in a child, once, and says so once."""
    sweep = ["sweep", str(models / "mlp.py"), "--cache-dir", str(tmp_path / "cache"), "-j", "1", "--grid"]
    first = run([*sweep, "float_bits=8,16", "-o", "first.csv"], models, tmp_path)
    assert first.returncode == 0 and "2 priced" in first.stderr, first.stderr
    r, seen = in_process([*sweep, "float_bits=8,16", "-o", "again.csv"], models, tmp_path)
    assert r.returncode == 0 and "0 priced" in r.stderr and "2 from cache" in r.stderr, r.stderr
    assert seen == {"child": False, "jax": False}

    def table(name):
        with open(tmp_path / name, newline="") as fh:
            return [{k: v for k, v in row.items() if k not in ("cached", "seconds")} for row in csv.DictReader(fh)]

    assert table("again.csv") == table("first.csv")
    assert [int(row["macs"]) for row in table("again.csv")] == [8 * 4 + 4 * 2] * 2
    r, seen = in_process([*sweep, "float_bits=8,16,4"], models, tmp_path)  # one point to price: a child
    assert r.returncode == 0, r.stderr
    assert seen["child"]
    assert r.stdout.count("3 points") == 1  # the table's title, once
    summary = [line for line in lines(r.stderr) if line.startswith("acecost: ")]
    assert len(summary) == 1 and "1 priced" in summary[0] and "2 from cache" in summary[0], r.stderr


def test_a_cached_sweep_of_a_module_is_answered_without_a_child(models, tmp_path):
    """A ``pkg.module:attr`` target's plan is keyed by sys.path: the supervisor looks it up with the
    path its child has (no console-script directory), so the plan the child stored is found."""
    sweep = ["sweep", "mlp:acecost_model", "--cache-dir", str(tmp_path / "cache"), "-j", "1", "-q",
             "--grid", "float_bits=8,16", "-o", "out.csv"]
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(models), os.environ.get("PYTHONPATH")) if p)}
    first = run(sweep, models, tmp_path, **env)
    assert first.returncode == 0 and "2 priced" in first.stderr, first.stderr
    r, seen = in_process(sweep, models, tmp_path, **env)
    assert r.returncode == 0 and "2 from cache" in r.stderr, r.stderr
    assert seen == {"child": False, "jax": False}


def test_a_cached_sweeps_errors_are_said_once(models, tmp_path):
    bad = ["sweep", str(models / "mlp.py"), "--grid", "float_bits=8", "--sort", "nothing"]
    r, seen = in_process(bad, models, tmp_path)
    one_error(r, "unknown --sort column 'nothing'")
    assert seen == {"child": False, "jax": False}
    r = run(["sweep", str(models / "exit_import.py"), "--grid", "float_bits=8,16", "--cache-dir",
             str(tmp_path / "cache")], models, tmp_path)
    one_error(r, "the model ended the process (exit code 0) while sweeping")


def test_sigterm_ends_the_child_group_too(models, tmp_path):
    proc = subprocess.Popen([ACECOST, "analyze", str(models / "sleep_import.py")], cwd=tmp_path, env=_env(models),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.monotonic() + TIMEOUT
    while "acecost-test: sleeping" not in seen:
        assert time.monotonic() < deadline and proc.poll() is None, seen
        seen += proc.stderr.readline()
    children = _children(proc.pid)
    assert children
    proc.terminate()
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGTERM
    for child in children:
        assert not _group(child)
