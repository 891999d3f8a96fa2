"""Time a 64-point sweep of a small model: --jobs 2 against --jobs 1 and against 64 `acecost analyze` runs.

The model is bench/resnet20.py (CIFAR ResNet-20, quantized convs); the
space is width x abits x wbits = 4 x 4 x 4 points. Every time is a whole
process, as a user would see it, with no cache (--no-cache), plus one
re-run of a populated cache. The separate `analyze` runs take each point's
parameters from environment variables and must give the same totals as
the sweep rows (checked). The 1-minute load average is printed beside
each time, and a control: two plain CPU-bound loops run one after the
other and then side by side. On an idle 2-core machine the control is
about 2x; when other work holds the cores it falls towards 1x, and so does
any parallel speed-up, which is then no measure of acecost.

Usage:  python bench/bench_sweep.py [--reps N] [--analyze-runs N]
        python bench/bench_sweep.py --goal [--reps N]
        python bench/bench_sweep.py --cached [--reps N]

``--goal`` measures the re-pricing goal instead (docs/sweep.md, "Reuse"):
1000 points of per-stage bit pairs of zoo:resnet50-w4a4 (``bits[stageK/]``
axes, 8 x 5 x 5 x 5) as one ``acecost sweep`` process, against one
``acecost analyze zoo:resnet50-w4a4`` process, interleaved, medians of
``--reps``; the sweep with ``--no-cache`` and with an empty cache directory,
then again with every point cached. Some of the points are checked against
``acecost analyze --bits`` of the same overrides. Then, in this process, the
time of one ``Report.reprice`` of ResNet-50 (median of 2,000 calls).

``--cached`` measures "a cached sweep is instant": 8 points of
examples/binary_mlp.py (float_bits x bits), priced once, then answered from
the cache, against ``acecost zoo list``, both as whole processes through the
console script (supervisor included), interleaved, medians of ``--reps``.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL = HERE / "resnet20.py"
ACECOST = Path(sys.executable).with_name("acecost")
AXES = {"width": [16, 24, 32, 48], "abits": [2, 3, 4, 8], "wbits": [2, 3, 4, 8]}
TOTALS = ("macs", "binary_macs", "ace", "size_bits", "params")


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds of ``cmd`` and the 1-minute load average when it started."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run(cmd, check=False, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start, load


SPIN = [sys.executable, "-c", "x = 0\nfor i in range(20_000_000): x += i"]


def control() -> float:
    """What two processes gain here now: two CPU-bound loops run one after the other / side by side."""
    start = time.perf_counter()
    for _ in range(2):
        subprocess.run(SPIN, check=True)
    sequential = time.perf_counter() - start
    start = time.perf_counter()
    procs = [subprocess.Popen(SPIN) for _ in range(2)]
    for p in procs:
        p.wait()
    return sequential / (time.perf_counter() - start)


def sweep_cmd(out: Path, jobs: int, cache: str | None = None) -> list[str]:
    grids = [a for name, values in AXES.items() for a in ("--grid", f"{name}={','.join(map(str, values))}")]
    caching = ["--cache-dir", cache] if cache else ["--no-cache"]
    return [str(ACECOST), "sweep", str(MODEL), *grids, "-j", str(jobs), "-q", "-o", str(out), *caching]


def rows(path: Path) -> dict[tuple, dict]:
    with open(path) as fh:
        return {tuple(int(r[k]) for k in AXES): r for r in csv.DictReader(fh)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions of the two sweeps")
    parser.add_argument("--analyze-runs", type=int, default=64,
                        help="how many of the 64 separate analyze runs to time (the total is scaled to 64)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="acecost-bench-sweep-"))
    print(f"{os.cpu_count()} CPUs; model {MODEL.name}; {len(list(itertools.product(*AXES.values())))} points")
    times: dict[str, list[tuple[float, float]]] = {"jobs1": [], "jobs2": []}
    controls = []
    for rep in range(args.reps):
        controls.append(control())
        print(f"  rep {rep}: control, two CPU-bound loops side by side: {controls[-1]:.2f}x", flush=True)
        for jobs in (1, 2):
            t = timed(sweep_cmd(tmp / f"j{jobs}.csv", jobs))
            times[f"jobs{jobs}"].append(t)
            print(f"  rep {rep}: --jobs {jobs}: {t[0]:6.1f} s  (load {t[1]:.1f})", flush=True)
    one, two = rows(tmp / "j1.csv"), rows(tmp / "j2.csv")
    failed = [k for k, r in one.items() if r["error"]]
    assert not failed, f"points failed: {failed[:3]}"
    assert all(one[k][c] == two[k][c] for k in one for c in TOTALS), "--jobs 1 and --jobs 2 disagree"

    cache = str(tmp / "cache")
    timed(sweep_cmd(tmp / "c.csv", 2, cache))
    cached = timed(sweep_cmd(tmp / "c.csv", 2, cache))
    print(f"  re-run with every point cached: {cached[0]:.1f} s  (load {cached[1]:.1f})")

    points = list(itertools.product(*AXES.values()))[: args.analyze_runs]
    analyze_total, loads = 0.0, []
    for point in points:
        env = {**os.environ, **{f"BENCH_{k.upper()}": str(v) for k, v in zip(AXES, point)}}
        out = tmp / "a.json"
        cmd = [str(ACECOST), "analyze", str(MODEL), "--format", "json", "-q", "-o", str(out)]
        t, load = timed(cmd, env)
        analyze_total += t
        loads.append(load)
        totals = json.loads(out.read_text())["totals"]
        assert all(int(one[point][c]) == totals[c] for c in TOTALS), f"analyze disagrees with the sweep at {point}"
    analyze_64 = analyze_total * 64 / len(points)

    j1 = statistics.median(t for t, _ in times["jobs1"])
    j2 = statistics.median(t for t, _ in times["jobs2"])
    print()
    print(f"--jobs 1 (median of {args.reps}):     {j1:6.1f} s   load {statistics.mean(l for _, l in times['jobs1']):.1f}")
    print(f"--jobs 2 (median of {args.reps}):     {j2:6.1f} s   load {statistics.mean(l for _, l in times['jobs2']):.1f}")
    print(f"64 x acecost analyze:     {analyze_64:6.1f} s   load {statistics.mean(loads):.1f}"
          + ("" if len(points) == 64 else f"   ({len(points)} runs timed, scaled to 64)"))
    print(f"fully cached re-run:      {cached[0]:6.1f} s")
    print(f"--jobs 1 / --jobs 2 = {j1 / j2:.2f}x (control {statistics.median(controls):.2f}x: what two "
          f"processes could gain at the time);  64 analyze runs / --jobs 2 = {analyze_64 / j2:.1f}x")


GOAL_MODEL = "zoo:resnet50-w4a4"
#: per-stage (activation, weight) bit pairs: 8 x 5 x 5 x 5 = 1000 points
GOAL_AXES = {"stage1/": ["1,1", "2,2", "4,4", "8,8", "2,4", "4,2", "4,8", "8,4"],
             "stage2/": ["1,1", "2,2", "4,4", "8,8", "4,8"],
             "stage3/": ["1,1", "2,2", "4,4", "8,8", "4,8"],
             "stage4/": ["1,1", "2,2", "4,4", "8,8", "4,8"]}


def goal_sweep(out: Path, cache: str | None) -> list[str]:
    grids = [a for stage, pairs in GOAL_AXES.items() for a in ("--grid", f"bits[{stage}]={';'.join(pairs)}")]
    caching = ["--cache-dir", cache] if cache else ["--no-cache"]
    return [str(ACECOST), "sweep", GOAL_MODEL, *grids, "-q", "-o", str(out), *caching]


def goal(reps: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="acecost-bench-goal-"))
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    analyze = [str(ACECOST), "analyze", GOAL_MODEL, "--format", "json", "-q", "-o", str(tmp / "a.json")]
    times: dict[str, list[tuple[float, float]]] = {"analyze": [], "sweep --no-cache": [], "sweep, empty cache": []}
    for rep in range(reps):
        times["analyze"].append(timed(analyze, env))
        times["sweep --no-cache"].append(timed(goal_sweep(tmp / "n.csv", None), env))
        times["sweep, empty cache"].append(timed(goal_sweep(tmp / "c.csv", str(tmp / f"cache{rep}")), env))
        print(f"  rep {rep}: " + ", ".join(f"{k} {v[-1][0]:.2f} s (load {v[-1][1]:.1f})" for k, v in times.items()),
              flush=True)
    cached = timed(goal_sweep(tmp / "h.csv", str(tmp / "cache0")), env)
    with open(tmp / "n.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 1000 and not any(r["error"] for r in table), "points failed"
    with open(tmp / "c.csv") as fh:
        assert [r["ace"] for r in csv.DictReader(fh)] == [r["ace"] for r in table], "cached sweep disagrees"
    for k in (0, 1, 311, 642, 999):  # the sweep's rows against analyze --bits of the same point
        row = table[k]
        bits = [a for stage in GOAL_AXES for a in ("--bits", f"{stage}={row[f'bits[{stage}]']}")]
        subprocess.run([*analyze, *bits], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        totals = json.loads((tmp / "a.json").read_text())["totals"]
        assert all(int(row[c]) == totals[c] for c in TOTALS), f"analyze --bits disagrees with row {k}"
    med = {k: statistics.median(t for t, _ in v) for k, v in times.items()}
    print()
    print(f"{GOAL_MODEL}, 1000 points, {os.cpu_count()} CPUs, medians of {reps}:")
    for k, v in med.items():
        print(f"  {k:22s} {v:6.2f} s   load {statistics.mean(l for _, l in times[k]):.1f}"
              + ("" if k == "analyze" else f"   = {v / med['analyze']:.2f} x analyze"))
    print(f"  {'sweep, all cached':22s} {cached[0]:6.2f} s   load {cached[1]:.1f}   = "
          f"{cached[0] / med['analyze']:.2f} x analyze")
    print("  rows 0, 1, 311, 642, 999 equal acecost analyze --bits of the same overrides")
    reprice_time()


def reprice_time() -> None:
    """One Report.reprice of ResNet-50 in this process, checked against a fresh analysis."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    from acecost import zoo
    from acecost.api import analyze_target

    target = zoo.get("resnet50-w4a4").build()
    base = analyze_target(target)
    bits = [f"{stage}={pairs[-1]}" for stage, pairs in GOAL_AXES.items()]
    assert base.reprice(bits=bits).to_dict() == analyze_target(target, overrides=bits).to_dict()
    calls = []
    for _ in range(2000):
        start = time.perf_counter()
        base.reprice(bits=bits)
        calls.append(time.perf_counter() - start)
    print(f"  Report.reprice of ResNet-50 ({len(base.layers)} layers, {len(base.params)} parameters, 4 overrides): "
          f"median {statistics.median(calls) * 1e3:.3f} ms, fastest {min(calls) * 1e3:.3f} ms (2,000 calls)")


CACHED_GRID = ["--grid", "float_bits=8,16", "--grid", "bits=.*=1,1;.*=2,2;.*=4,4;.*=8,8"]


def cached(reps: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="acecost-bench-cached-"))
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "ACECOST_CACHE_DIR": str(tmp / "cache")}
    sweep = [str(ACECOST), "sweep", str(HERE.parent / "examples" / "binary_mlp.py"), *CACHED_GRID,
             "-o", str(tmp / "s.csv")]
    first = subprocess.run(sweep, env=env, capture_output=True, text=True, check=True)
    assert "8 priced" in first.stderr, first.stderr
    times: dict[str, list[tuple[float, float]]] = {"zoo list": [], "sweep, 8 points cached": []}
    for _ in range(reps):
        times["zoo list"].append(timed([str(ACECOST), "zoo", "list"], env))
        times["sweep, 8 points cached"].append(timed(sweep, env))
    again = subprocess.run(sweep, env=env, capture_output=True, text=True, check=True)
    assert "8 from cache" in again.stderr, again.stderr
    med = {k: statistics.median(t for t, _ in v) for k, v in times.items()}
    print(f"{os.cpu_count()} CPUs, whole processes, interleaved, medians of {reps}:")
    for k, v in med.items():
        print(f"  {k:24s} {v:6.3f} s   load {statistics.mean(l for _, l in times[k]):.1f}"
              + ("" if k == "zoo list" else f"   = {v / med['zoo list']:.2f} x zoo list"))


if __name__ == "__main__":
    if "--cached" in sys.argv:
        parser = argparse.ArgumentParser(description="a cached sweep against zoo list")
        parser.add_argument("--cached", action="store_true")
        parser.add_argument("--reps", type=int, default=10)
        cached(parser.parse_args().reps)
    elif "--goal" in sys.argv:
        parser = argparse.ArgumentParser(description="the re-pricing goal")
        parser.add_argument("--goal", action="store_true")
        parser.add_argument("--reps", type=int, default=3)
        goal(parser.parse_args().reps)
    else:
        main()
