"""The baselines bench_process.py compares acecost with, one per process.

    python _bare.py trace MODEL.py   # import jax, build the model, jax.make_jaxpr
    python _bare.py xla MODEL.py     # ... jax.jit(fn).lower(*args).compile().cost_analysis()
"""
import importlib.util
import sys

mode, path = sys.argv[1], sys.argv[2]
import jax  # noqa: E402

spec = importlib.util.spec_from_file_location("bench_model", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
fn, args = module.acecost_model()
if mode == "trace":
    jaxpr = jax.make_jaxpr(fn)(*args)
    print(len(jaxpr.eqns))
elif mode == "xla":
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    print(cost.get("flops"))
else:
    sys.exit(f"unknown mode {mode!r}")
