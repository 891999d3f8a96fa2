"""Whole-process benchmark: acecost's CLI against a bare trace and XLA, per model, plus start-up.

    python bench/bench_process.py            # every case (~7 minutes on 2 cores)
    python bench/bench_process.py --quick    # fewer cases and repetitions (~1.5 minutes)

Each measurement is one fresh process; wall time, CPU time (user + system)
and peak RSS come from ``os.wait4`` on that child alone (its own
``ru_maxrss``, not the running maximum over all children). Runs are
interleaved (acecost, bare, XLA, acecost, bare, XLA, ...) and each ratio is
the median of the ratios of runs made next to each other, so a load that
comes and goes hits both sides alike. Prints markdown tables.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PY = sys.executable
ACECOST = str(BIN / "acecost") if (BIN / "acecost").exists() else None
BASE = ""  # --base: a source tree whose acecost package is compared too

#: case -> (model file, description)
CASES = {
    "llama2-7b": ("llama2_7b.py", "Llama-2-7B, unrolled"),
    "llama2-7b-scan": ("llama2_7b_scan.py", "Llama-2-7B, nn.scan"),
    "llama3-70b": ("llama3_70b.py", "Llama-3-70B, unrolled"),
    "llama3-70b-scan": ("llama3_70b_scan.py", "Llama-3-70B, nn.scan"),
    "llama2-7b-qwix": ("llama2_7b_qwix.py", "Llama-2-7B, Qwix PTQ w8a8"),
    "mixtral-moe": ("mixtral_moe.py", "Mixtral-like MoE, 8 layers"),
    "gpt2-decode": ("gpt2_decode.py", "GPT-2 decode, 64 tokens (fori_loop)"),
    "large-constant": ("large_constant.py", "8192x8192 float32 mask constant"),
}
LLM = ("llama2-7b", "llama2-7b-scan", "llama3-70b", "llama3-70b-scan", "llama2-7b-qwix", "mixtral-moe",
       "gpt2-decode")
QUICK = ("llama2-7b-scan", "mixtral-moe", "gpt2-decode", "large-constant")


def measure(cmd: list[str], timeout: float) -> dict:
    """Wall, CPU and peak RSS of one child process, from its own rusage."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    if cmd[0] == "in-process":  # the command without its supervisor (acecost.cli.supervisor)
        env["ACECOST_SUPERVISE"] = "0"
        cmd = cmd[1:]
    if cmd[0] == "base":  # acecost from another source tree (--base), ahead of the installed one
        env["PYTHONPATH"] = BASE
        cmd = [PY, "-P", "-c", "import sys; from acecost.cli import main; sys.argv[0] = 'acecost'; main()", *cmd[1:]]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            return {"error": f"timeout after {timeout:.0f} s"}
        time.sleep(0.005)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {err.strip().splitlines()[-1] if err.strip() else ''}"}
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss / 1024}


def commands(case: str, xla: bool) -> dict[str, list[str]]:
    path = str(HERE / "models" / CASES[case][0])
    cmds = {"acecost": [ACECOST, "analyze", path, "--format", "json", "--quiet"],
            "bare": [PY, str(HERE / "_bare.py"), "trace", path]}
    if BASE:
        cmds["base"] = ["base", *cmds["acecost"][1:]]
    if xla:
        cmds["xla"] = [PY, str(HERE / "_bare.py"), "xla", path]
    return cmds


def interleaved(cmds: dict[str, list[str]], reps: int, timeout: float, log) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {k: [] for k in cmds}
    for rep in range(reps):
        for name, cmd in cmds.items():
            if runs[name] and "error" in runs[name][-1]:
                continue  # a failed or timed-out side is not retried
            r = measure(cmd, timeout)
            runs[name].append(r)
            log(f"  {name:>8} rep {rep + 1}: " + (r["error"] if "error" in r else
                                                   f"{r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU, "
                                                   f"{r['rss']:.0f} MB"))
    return runs


def med(runs: list[dict], key: str) -> float | None:
    vals = [r[key] for r in runs if "error" not in r]
    return statistics.median(vals) if vals else None


def ratio(a: list[dict], b: list[dict], key: str) -> float | None:
    """Median over repetitions of a/b, pairing the runs made next to each other."""
    vals = [x[key] / y[key] for x, y in zip(a, b) if "error" not in x and "error" not in y]
    return statistics.median(vals) if vals else None


def fmt(x, spec=".2f", suffix=""):
    return "n/a" if x is None else f"{x:{spec}}{suffix}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}; 3 repetitions")
    ap.add_argument("--cases", help="comma-separated subset of: " + ", ".join(CASES))
    ap.add_argument("--reps", type=int, help="repetitions per case (default 5, --quick 3)")
    ap.add_argument("--startup-reps", type=int, help="repetitions of the start-up commands (default 10, --quick 5)")
    ap.add_argument("--no-xla", action="store_true", help="skip the XLA compile baseline")
    ap.add_argument("--base", metavar="DIR",
                    help="also run the acecost package found in DIR (e.g. an older checkout's root), "
                         "interleaved, and report acecost/base")
    ap.add_argument("--timeout", type=float, default=900, help="seconds before a child is killed")
    ap.add_argument("--startup-only", action="store_true",
                    help="only the start-up table (with the supervisor against the same commands in one process)")
    args = ap.parse_args()
    global BASE
    BASE = str(Path(args.base).resolve()) if args.base else ""
    if ACECOST is None:
        sys.exit("run with the Python of the environment acecost is installed in (e.g. .venv/bin/python)")
    cases = [] if args.startup_only else args.cases.split(",") if args.cases else list(QUICK if args.quick else CASES)
    for c in cases:
        if c not in CASES:
            sys.exit(f"unknown case {c!r}: one of {', '.join(CASES)}")
    reps = args.reps or (3 if args.quick else 5)
    sreps = args.startup_reps or (5 if args.quick else 10)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = os.getloadavg()[0]
    results = {}
    for case in cases:
        log(f"{case}:")
        results[case] = interleaved(commands(case, not args.no_xla), reps, args.timeout, log)
    log("start-up:")
    tiny = str(HERE / "models" / "tiny_mlp.py")
    scmds = {"import jax": [PY, "-c", "import jax"], "--help": [ACECOST, "--help"],
             "zoo list": [ACECOST, "zoo", "list"],
             "analyze tiny": [ACECOST, "analyze", tiny, "--format", "json", "-q"],
             "analyze tiny (in-process)": ["in-process", ACECOST, "analyze", tiny, "--format", "json", "-q"],
             "check tiny": [ACECOST, "check", tiny, "--max-ace", "1G", "--format", "json"],
             "check tiny (in-process)": ["in-process", ACECOST, "check", tiny, "--max-ace", "1G", "--format", "json"]}
    if BASE:
        scmds["--help (base)"] = ["base", "--help"]
    startup = interleaved(scmds, sreps, 120, log)
    load = max(load, os.getloadavg()[0])

    out = [f"acecost whole-process benchmark, {started}, {os.cpu_count()} CPUs, load average up to "
           f"{load:.1f} during the run; {reps} interleaved repetitions per case, medians.", ""]
    out += ["| case | acecost s | bare trace s | XLA s | acecost/bare wall | acecost/bare CPU | "
            "acecost/XLA wall | RSS acecost MB | RSS bare MB | RSS XLA MB | RSS acecost/bare |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case, runs in results.items():
        a, b, x = runs["acecost"], runs["bare"], runs.get("xla")
        xla_wall = "skipped" if x is None else fmt(med(x, "wall"))
        if x and all("error" in r for r in x):
            xla_wall = x[0]["error"]
        out.append(f"| {CASES[case][1]} | {fmt(med(a, 'wall'))} | {fmt(med(b, 'wall'))} | {xla_wall} | "
                   f"{fmt(ratio(a, b, 'wall'), '.3f')} | {fmt(ratio(a, b, 'cpu'), '.3f')} | "
                   f"{fmt(ratio(a, x, 'wall') if x else None, '.3f')} | {fmt(med(a, 'rss'), '.0f')} | "
                   f"{fmt(med(b, 'rss'), '.0f')} | {fmt(med(x, 'rss') if x else None, '.0f')} | "
                   f"{fmt(ratio(a, b, 'rss'), '.3f')} |")
    if BASE:
        out += ["", f"acecost against the acecost in {BASE} (same runs):", "",
                "| case | acecost/base wall | acecost/base CPU | acecost/base RSS |", "|---|---:|---:|---:|"]
        for case, runs in results.items():
            a, o = runs["acecost"], runs["base"]
            out.append(f"| {CASES[case][1]} | {fmt(ratio(a, o, 'wall'), '.3f')} | {fmt(ratio(a, o, 'cpu'), '.3f')} | "
                       f"{fmt(ratio(a, o, 'rss'), '.3f')} |")
    errors = [f"{case} {side}: {r['error']}" for case, runs in results.items() for side, rs in runs.items()
              for r in rs[:1] if "error" in r]
    out += [""] + [f"- failed: {e}" for e in errors] + ([""] if errors else [])
    j = startup["import jax"]
    out += ["| start-up | wall s | CPU s | / import jax (wall) | / import jax (CPU) |", "|---|---:|---:|---:|---:|"]
    for name, runs in startup.items():
        label = 'python -c "import jax"' if name == "import jax" else "acecost " + name
        out.append(f"| `{label}` | "
                   f"{fmt(med(runs, 'wall'), '.3f')} | {fmt(med(runs, 'cpu'), '.3f')} | "
                   f"{fmt(ratio(runs, j, 'wall'), '.3f')} | {fmt(ratio(runs, j, 'cpu'), '.3f')} |")
    out += ["", "The supervisor (the command in a child process) against the same command in one process "
            "(`ACECOST_SUPERVISE=0`), runs made next to each other:", "",
            "| command | supervised wall s | in-process wall s | wall ratio | CPU ratio |", "|---|---:|---:|---:|---:|"]
    for name in ("analyze tiny", "check tiny"):
        a, b = startup[name], startup[name + " (in-process)"]
        out.append(f"| `acecost {name}` | {fmt(med(a, 'wall'), '.3f')} | {fmt(med(b, 'wall'), '.3f')} | "
                   f"{fmt(ratio(a, b, 'wall'), '.3f')} | {fmt(ratio(a, b, 'cpu'), '.3f')} |")
    goals = []
    for case in results:
        if case in LLM:
            r = ratio(results[case]["acecost"], results[case]["bare"], "wall")
            goals.append((f"{case}: acecost/bare wall <= 1.10", r, r is not None and r <= 1.10))
    if "large-constant" in results:
        r = ratio(results["large-constant"]["acecost"], results["large-constant"]["bare"], "rss")
        goals.append(("large-constant: RSS acecost/bare <= 1.3", r, r is not None and r <= 1.3))
    r = ratio(startup["--help"], j, "wall")
    goals.append(("`acecost --help` < 0.5 x `import jax` (wall)", r, r is not None and r < 0.5))
    out += ["", "| goal | ratio | met |", "|---|---:|---|"]
    out += [f"| {g} | {fmt(r, '.3f')} | {'yes' if ok else 'NO'} |" for g, r, ok in goals]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
