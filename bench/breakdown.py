"""Where acecost's time goes beyond the bare trace, on one model, in one process.

    python bench/breakdown.py [bench/models/llama2_7b.py]

Measures, in order: importing jax and flax (the bare trace pays this too);
importing acecost's command line on top (acecost, click, rich); building the
model; tracing (``make_jaxpr``); acecost's own pass (``analyze_jaxpr`` of that
jaxpr); the JSON the CLI prints; and the time the garbage collector spent
(``gc.callbacks``) in each step. Whether ``flax.nnx`` got imported is shown
too. Prints a markdown table.
"""
from __future__ import annotations

import gc
import importlib.util
import sys
import time
from pathlib import Path

GC = {"t": 0.0, "n": 0, "start": 0.0}


def _gc_cb(phase, info):
    if phase == "start":
        GC["start"] = time.perf_counter()
    else:
        GC["t"] += time.perf_counter() - GC["start"]
        GC["n"] += 1


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "models" / "llama2_7b.py")
    gc.callbacks.append(_gc_cb)
    rows = []

    def step(name, fn):
        t, g, n = time.perf_counter(), GC["t"], GC["n"]
        cpu = time.process_time()
        out = fn()
        rows.append((name, time.perf_counter() - t, time.process_time() - cpu, GC["t"] - g, GC["n"] - n))
        return out

    def imports():
        import flax.linen  # noqa: F401
        import jax  # noqa: F401

    step("import jax, flax.linen", imports)
    step("import acecost.cli (+ click, rich)", lambda: __import__("acecost.cli.group"))
    from acecost.load.resolve import resolve

    target = step("build the model (eval_shape of init)", lambda: resolve(str(path)))
    import jax

    closed = step("trace (make_jaxpr)", lambda: jax.make_jaxpr(target.fn)(*target.args))
    from acecost.api import analyze_jaxpr
    from acecost.report.model import to_json

    report = step("acecost's own pass (analyze_jaxpr)", lambda: analyze_jaxpr(
        closed, *target.args, params_argnums=target.params_argnums))
    step("JSON (to_dict + to_json)", lambda: to_json(report.to_dict()))
    print(f"{path.name}: {len(closed.jaxpr.eqns)} top-level equations; flax.nnx imported: "
          f"{'flax.nnx' in sys.modules}; rich.table imported: {'rich.table' in sys.modules}\n")
    print("| step | wall s | CPU s | of which gc s (collections) |\n|---|---:|---:|---:|")
    for name, wall, cpu, g, n in rows:
        print(f"| {name} | {wall:.3f} | {cpu:.3f} | {g:.3f} ({n}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
