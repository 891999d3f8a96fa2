"""Time acecost against tracing alone and against XLA's compile-based cost analysis.

For each model, in one run:
  (a) ``jax.make_jaxpr`` alone (the floor any jaxpr-based tool pays),
  (b) ``acecost.analyze`` end to end (tracing included),
  (c) ``jax.jit(f).lower(*args).compile().cost_analysis()``,
  (d) ``acecost.analyze_jaxpr`` on the jaxpr of (a): acecost's own pass alone,
      measured directly rather than as the difference b - a of two noisy times.
Every model is built from ShapeDtypeStructs, so nothing is executed.

Usage:  python bench/bench_engine.py [--reps N] [--quick]
"""
from __future__ import annotations

import argparse
import gc
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

import acecost

S = jax.ShapeDtypeStruct
F32 = jnp.float32

# ------------------------------------------------------------------ models


@dataclass
class Model:
    name: str
    fn: Callable
    args: tuple
    layers: int = 0  # for the scan model: L, the loop length


def resnet50() -> Model:
    """The zoo's ResNet-50 v1.5 (bf16 compute), 1x224x224x3."""
    try:
        from acecost import zoo

        target = zoo.get("resnet50-bf16").build()
        return Model("ResNet-50 (zoo, bf16)", target.fn, tuple(target.args))
    except Exception:  # pragma: no cover - a zoo-less checkout
        return _local_resnet50()


def _local_resnet50() -> Model:
    import flax.linen as nn

    class Bottleneck(nn.Module):
        features: int
        stride: int

        @nn.compact
        def __call__(self, x):
            r = x
            y = nn.relu(nn.BatchNorm(use_running_average=True)(nn.Conv(self.features, (1, 1))(x)))
            y = nn.Conv(self.features, (3, 3), (self.stride, self.stride))(y)
            y = nn.relu(nn.BatchNorm(use_running_average=True)(y))
            y = nn.BatchNorm(use_running_average=True)(nn.Conv(4 * self.features, (1, 1))(y))
            if r.shape != y.shape:
                r = nn.Conv(4 * self.features, (1, 1), (self.stride, self.stride))(r)
            return nn.relu(y + r)

    class ResNet(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(64, (7, 7), (2, 2))(x))
            x = nn.max_pool(x, (3, 3), (2, 2), "SAME")
            for i, n in enumerate((3, 4, 6, 3)):
                for j in range(n):
                    x = Bottleneck(64 * 2 ** i, 2 if i and not j else 1)(x)
            return nn.Dense(1000)(jnp.mean(x, axis=(1, 2)))

    model = ResNet()
    x = S((1, 224, 224, 3), F32)
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x.shape)))
    return Model("ResNet-50 (local)", lambda v, x: model.apply(v, x), (variables, x))


# A GPT-style decoder block; small enough that XLA compiles 48 unrolled copies in seconds.
D, FF, HEADS, SEQ, VOCAB = 512, 2048, 8, 128, 8192
HD = D // HEADS


def _ln(x, g):
    mu = jnp.mean(x, -1, keepdims=True)
    return (x - mu) * lax.rsqrt(jnp.var(x, -1, keepdims=True) + 1e-5) * g


def _block(x, p):
    h = _ln(x, p["ln1"])
    q, k, v = ((h @ p[n]).reshape(SEQ, HEADS, HD) for n in ("wq", "wk", "wv"))
    s = jnp.einsum("qhd,khd->hqk", q, k) * (HD ** -0.5)
    a = jax.nn.softmax(jnp.where(jnp.tril(jnp.ones((SEQ, SEQ), bool)), s, -1e9), -1)
    x = x + jnp.einsum("hqk,khd->qhd", a, v).reshape(SEQ, D) @ p["wo"]
    return x + jax.nn.gelu(_ln(x, p["ln2"]) @ p["w1"]) @ p["w2"]


def _layer_shapes(lead=()):
    sd = lambda *s: S((*lead, *s), F32)  # noqa: E731
    return {"ln1": sd(D), "ln2": sd(D), "wq": sd(D, D), "wk": sd(D, D), "wv": sd(D, D),
            "wo": sd(D, D), "w1": sd(D, FF), "w2": sd(FF, D)}


def _embed_head(body):
    def forward(params, tokens):
        x = params["embed"][tokens]
        x = body(x, params["layers"])
        return _ln(x, params["ln_f"]) @ params["embed"].T

    return forward


def _outer(layers):
    return {"embed": S((VOCAB, D), F32), "ln_f": S((D,), F32), "layers": layers}


def transformer_unrolled(L: int) -> Model:
    def body(x, layers):
        for p in layers:
            x = _block(x, p)
        return x

    params = _outer([_layer_shapes() for _ in range(L)])
    return Model(f"transformer L={L} unrolled", _embed_head(body), (params, S((SEQ,), jnp.int32)), L)


def transformer_scan(L: int) -> Model:
    def body(x, layers):
        return lax.scan(lambda h, p: (_block(h, p), None), x, layers)[0]

    params = _outer(_layer_shapes((L,)))
    return Model(f"transformer L={L} scan", _embed_head(body), (params, S((SEQ,), jnp.int32)), L)


def transformer_macs(L: int) -> int:
    """Closed form: projections, attention scores and values, MLP, tied head."""
    per_layer = SEQ * (4 * D * D + 2 * D * FF) + 2 * SEQ * SEQ * D
    return L * per_layer + SEQ * D * VOCAB


# ----------------------------------------------------------------- timing

def _median_time(fn: Callable[[], object], reps: int) -> tuple[float, object]:
    """Median wall time of ``fn``, each run cold: jax caches traces by function,
    so without clearing them a repeated ``make_jaxpr`` costs nothing.

    Each run starts from a collected heap: a full collection of jax's live
    objects takes 60-100 ms here and otherwise lands in whichever timed call
    happens to cross the threshold, swamping the difference being measured.
    """
    times, out = [], None
    for _ in range(reps):
        jax.clear_caches()
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _xla_flops(cost) -> float:
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float(cost.get("flops", float("nan")))


@dataclass
class Row:
    name: str
    trace: float
    acecost: float
    own: float  # (d): the walk alone, on an already traced jaxpr
    compile: float | None
    macs: int
    macs_once: int  # every loop body counted once, as XLA's cost analysis does
    xla_flops: float | None
    layers: int


def bench(model: Model, reps: int, compile_reps: int) -> Row:
    trace = lambda: jax.make_jaxpr(model.fn)(*model.args)  # noqa: E731
    analyze = lambda: acecost.analyze(model.fn, *model.args)  # noqa: E731
    analyze()  # warm-up: first-use imports and registrations, for (a) and (b) alike
    closed = trace()
    walk = lambda: acecost.analyze_jaxpr(closed, *model.args)  # noqa: E731
    ta, tb, td = [], [], []
    for _ in range(reps):  # interleave so drift hits all alike
        ta.append(_median_time(trace, 1)[0])
        t, rep = _median_time(analyze, 1)
        tb.append(t)
        td.append(_median_time(walk, 1)[0])
    compile_time, flops = None, None
    if compile_reps:
        compile_time, cost = _median_time(
            lambda: jax.jit(model.fn).lower(*model.args).compile().cost_analysis(), compile_reps)
        flops = _xla_flops(cost)
    return Row(model.name, statistics.median(ta), statistics.median(tb), statistics.median(td), compile_time,
               rep.totals.macs, sum(r.macs_per_call for r in rep.layers), flops, model.layers)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5, help="repetitions of (a) and (b); medians are shown")
    ap.add_argument("--compile-reps", type=int, default=3, help="repetitions of (c)")
    ap.add_argument("--quick", action="store_true", help="fewer models and repetitions")
    args = ap.parse_args(argv)
    reps = 3 if args.quick else args.reps
    creps = 1 if args.quick else args.compile_reps

    print(f"jax {jax.__version__}, acecost {acecost.__version__}, {jax.devices()[0].platform}; "
          f"medians of {reps} (a, b) and {creps} (c) runs\n")
    models = [resnet50(), transformer_unrolled(48), transformer_scan(48)]
    rows = [bench(m, reps, creps) for m in models]
    # scan: acecost's time should not grow with L; compile is not needed for that
    # (the times are ~0.1 s, so take more repetitions to see past the noise)
    flat = [bench(transformer_scan(L), 3 * reps, creps if L == 12 else 0)
            for L in ((12, 384) if args.quick else (12, 96, 384))]

    head = f"{'model':28s} {'(a) trace':>10s} {'(b) acecost':>12s} {'(c) compile':>12s} " \
           f"{'b-a':>8s} {'(b-a)/a':>8s} {'(d) own':>8s} {'d/a':>6s} {'b/c':>7s}"
    print(head)
    print("-" * len(head))
    for r in rows + flat:
        c = f"{r.compile:10.3f} s" if r.compile is not None else f"{'-':>12s}"
        ratio = f"{r.acecost / r.compile:7.3f}" if r.compile else f"{'-':>7s}"
        print(f"{r.name:28s} {r.trace:8.3f} s {r.acecost:10.3f} s {c} {r.acecost - r.trace:6.3f} s "
              f"{(r.acecost - r.trace) / r.trace:8.1%} {r.own:6.3f} s {r.own / r.trace:6.1%} {ratio}")

    print("\nMACs vs XLA's cost_analysis: flops/2 (XLA adds elementwise flops, skips padded conv taps"
          "\nand counts a loop body once); 'body once' is acecost's count with each loop body once")
    for r in rows + [f for f in flat if f.xla_flops]:
        if r.xla_flops is None:
            continue
        half = r.xla_flops / 2
        print(f"  {r.name:28s} acecost {r.macs:>15,}  body once {r.macs_once:>15,}  "
              f"XLA flops/2 {half:>17,.0f}  acecost/XLA {r.macs / half:6.2f}")
        if r.layers and "scan" in r.name:
            outside = SEQ * D * VOCAB  # the tied head, outside the loop
            body = r.macs_once - outside
            xla_body = half - outside
            print(f"  {'':28s} loop: acecost {r.macs - outside:,} = {(r.macs - outside) // body} x body "
                  f"{body:,}; XLA's body (flops/2) {xla_body:,.0f} = {xla_body / body:.3f} x body")
    base = flat[0]
    print("\nscan time vs L: " + ", ".join(f"L={f.layers}: {f.acecost:.3f} s" for f in flat)
          + f"  (x{flat[-1].acecost / base.acecost:.2f} for x{flat[-1].layers // base.layers} layers)")


if __name__ == "__main__":
    main()
