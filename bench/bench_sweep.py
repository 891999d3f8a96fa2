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


if __name__ == "__main__":
    main()
