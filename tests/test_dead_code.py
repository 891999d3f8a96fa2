"""Work whose result the outputs never use is not priced (issue: dead code).

Every expected number is a closed form of the shapes involved: a
(m, k) @ (k, n) product is m*k*n MACs.
"""
import jax
import jax.numpy as jnp
from jax import lax

import acecost

F32 = jnp.float32


def sds(*shape, dtype=F32):
    return jax.ShapeDtypeStruct(shape, dtype)


def macs(rep):
    return rep.totals.macs


def test_discarded_product_is_not_priced():
    def f(w, x):
        _ = (x @ w) @ w.T
        return x @ w[:, :8]

    rep = acecost.analyze(f, sds(512, 512), sds(64, 512))
    assert macs(rep) == 64 * 512 * 8 == 262_144


def test_parameter_feeding_only_dead_work_has_no_size():
    def f(p, x):
        _ = jnp.tanh(x @ p["dead"])
        return x @ p["w"]

    p = {"dead": sds(32, 32), "w": sds(32, 16)}
    rep = acecost.analyze(f, p, sds(4, 32))
    assert macs(rep) == 4 * 32 * 16
    assert rep.totals.size_bits == 32 * 16 * 16  # only w, at the default 16 bits
    assert rep.totals.params == 32 * 16
    assert [q.path for q in rep.params] == ["w"]
    assert any("never used" in w and "dead" in w for w in rep.warnings)


def test_dead_output_of_a_jitted_call():
    @jax.jit
    def both(x, w1, w2):
        return x @ w1, x @ w2

    def f(x, w1, w2):
        a, _ = both(x, w1, w2)
        b, c = both(x, w1, w2)
        return a + b + c

    rep = acecost.analyze(f, sds(8, 16), sds(16, 4), sds(16, 4), params_argnums=())
    # first call: only x @ w1 is live; second call: both products
    assert macs(rep) == 3 * 8 * 16 * 4


def test_dead_scan_output_and_carry():
    def body(carry, w):
        h, junk = carry
        junk = junk @ w  # a carry nothing reads in the end
        y = h @ w
        return (jnp.tanh(y), junk), y @ w  # ys unused below

    def f(h, ws):
        (h, _), _ = lax.scan(body, (h, h), ws)
        return h

    rep = acecost.analyze(f, sds(2, 32), sds(5, 32, 32), params_argnums=())
    assert macs(rep) == 5 * 2 * 32 * 32  # only h @ w, five times


def test_dead_while_carry():
    def f(h, w):
        def cond(c):
            return c[0] < 7

        def body(c):
            i, h, junk = c
            return i + 1, jnp.tanh(h @ w), junk @ w

        _, h, _ = lax.while_loop(cond, body, (0, h, h))
        return h

    rep = acecost.analyze(f, sds(3, 16), sds(16, 16), params_argnums=())
    assert macs(rep) == 7 * 3 * 16 * 16
    assert rep.totals.complete


def test_dead_branch_output():
    def f(p, x):
        def on(x):
            return x @ p, (x @ p) @ p.T

        def off(x):
            return x @ p, x

        y, _ = lax.cond(p[0, 0] > 0, on, off, x)
        return y

    rep = acecost.analyze(f, sds(16, 16), sds(4, 16))
    assert macs(rep) == 4 * 16 * 16


def test_discarded_init_cache_forward():
    """The shape of Hugging Face Flax ``generate()``: a full forward to build a cache, dropped."""
    def layer(x, w):
        return jnp.tanh(x @ w)

    def model(ws, x):
        for w in ws:
            x = layer(x, w)
        return x

    def generate(ws, prompt, token):
        _cache = model(ws, jnp.zeros_like(prompt))  # init_cache: its result is discarded
        del _cache
        return model(ws, token)

    ws = [sds(64, 64) for _ in range(3)]
    rep = acecost.analyze(generate, ws, sds(16, 64), sds(1, 64))
    assert macs(rep) == 3 * 1 * 64 * 64


def test_training_step_drops_residuals_the_backward_never_reads():
    def fn(p, x):
        return jnp.tanh(x @ p["w"]) @ p["v"]

    p = {"w": sds(8, 8), "v": sds(8, 2)}
    rep = acecost.analyze_train(fn, p, sds(4, 8))
    fwd = rep.phases["forward"]["macs"]
    assert fwd == 4 * 8 * 8 + 4 * 8 * 2
    assert rep.totals.params == 8 * 8 + 8 * 2
