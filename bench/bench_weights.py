"""Peak memory of reading a ~1B-parameter checkpoint through ``--weights`` (run by hand).

For each format, writes a checkpoint of a Llama-3.2-1B-shaped model (16
layers, d 2048, GQA 32/8 heads of 64, SwiGLU 8192, vocabulary 128256: 1.24 G
parameters, bfloat16 by default) into ``--dir``, then in a fresh process
opens it, binds it to the model's abstract parameters (every key, shape and
dtype checked) and reads every tensor once, as the engine would, summing its
bits so each byte is touched. That process's peak RSS (``VmHWM``) is
reported against its RSS before opening the file (jax, numpy and the
readers imported) and against the largest tensor. The file is deleted after.

    python bench/bench_weights.py                          # npz, safetensors, msgpack, orbax
    python bench/bench_weights.py --formats npz,safetensors --dtype float32
    python bench/bench_weights.py --layers 2               # a quick run (~0.36 G parameters)

``--analyze`` adds a row per format for the whole analysis, ``acecost.analyze(
forward, abstract_params, tokens, weights=FILE, levels="measured",
sparsity="discount")`` of a forward pass that reads every parameter in a
contraction: tracing, reading and measuring every weight included.
``--compare-safe-open`` adds a row reading the safetensors file with the
``safetensors`` package (``safe_open(framework="np")``, opened once per
tensor), the reader acecost does not use (see bench/README.md). Needs about
2.5 GB of disk per format at bfloat16 (5 GB at float32), and for msgpack and
Orbax, whose writers take the whole state at once, twice that in memory
while writing.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def spec(layers: int, dtype: str) -> dict[str, tuple[tuple[int, ...], str]]:
    """Parameter path -> (shape, dtype) of the model: Llama-3.2-1B's shapes, tied embedding."""
    d, ff, vocab, kv = 2048, 8192, 128256, 8 * 64
    out = {"embed/embedding": ((vocab, d), dtype)}
    for i in range(layers):
        p = f"layers_{i}"
        out.update({f"{p}/attn/q/kernel": ((d, d), dtype), f"{p}/attn/k/kernel": ((d, kv), dtype),
                    f"{p}/attn/v/kernel": ((d, kv), dtype), f"{p}/attn/o/kernel": ((d, d), dtype),
                    f"{p}/mlp/gate/kernel": ((d, ff), dtype), f"{p}/mlp/up/kernel": ((d, ff), dtype),
                    f"{p}/mlp/down/kernel": ((ff, d), dtype), f"{p}/norm1/scale": ((d,), dtype),
                    f"{p}/norm2/scale": ((d,), dtype)})
    out["final_norm/scale"] = ((d,), dtype)
    return out


def _np_dtype(name: str):
    import ml_dtypes
    import numpy as np

    return np.dtype(getattr(ml_dtypes, name, name))


def _tensor(key: str, shape, dtype):
    """Deterministic random bits of one tensor (finite values are not needed to measure memory)."""
    import numpy as np

    dt = _np_dtype(dtype)
    rng = np.random.default_rng(abs(hash(key)) % 2**32)
    bits = rng.integers(0, 2**16, size=math.prod(shape) * dt.itemsize // 2, dtype=np.uint16)
    return bits.view(dt).reshape(shape)


def _nested(flat: dict) -> dict:
    """``{"a/b": x}`` -> ``{"a": {"b": x}}``: the tree a checkpoint of these paths holds."""
    from flax.traverse_util import unflatten_dict  # here: the readers' baseline imports no flax

    return unflatten_dict(flat, sep="/")


# ------------------------------------------------------------------ writers (each in its own process)


def write(fmt: str, path: Path, params: dict) -> None:
    import numpy as np

    if fmt == "npz":  # numpy.savez's own code path, one member at a time
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for key, (shape, dtype) in params.items():
                with zf.open(key + ".npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, _tensor(key, shape, dtype), allow_pickle=False)
    elif fmt == "safetensors":  # the format as its specification gives it, one tensor at a time
        names = {"bfloat16": "BF16", "float32": "F32", "float16": "F16"}
        header, offset = {}, 0
        for key, (shape, dtype) in params.items():
            n = math.prod(shape) * _np_dtype(dtype).itemsize
            header[key] = {"dtype": names[dtype], "shape": list(shape), "data_offsets": [offset, offset + n]}
            offset += n
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        with open(path, "wb") as f:
            f.write(len(text).to_bytes(8, "little") + text)
            for key, (shape, dtype) in params.items():
                f.write(_tensor(key, shape, dtype).tobytes())
    elif fmt == "msgpack":  # flax's own serializer needs the whole state, and its bytes, at once
        from flax import serialization

        state = _nested({k: _tensor(k, s, d) for k, (s, d) in params.items()})
        path.write_bytes(serialization.msgpack_serialize(state))
    elif fmt == "orbax":
        import orbax.checkpoint as ocp

        state = _nested({k: _tensor(k, s, d) for k, (s, d) in params.items()})
        ocp.PyTreeCheckpointer().save(str(path.resolve()), state)
    else:
        raise SystemExit(f"unknown format {fmt}")


# ------------------------------------------------------------------ the measured reader


def _status(field: str) -> int:
    """A VmRSS/VmHWM line of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def forward(p, tokens, layers: int):
    """A forward pass reading every parameter in a contraction or a product (attention left out:
    what is measured is the weights, and each is a contraction's operand here)."""
    import jax.numpy as jnp

    h = tokens @ p["embed"]["embedding"]
    for i in range(layers):
        blk = p[f"layers_{i}"]
        x = h * blk["norm1"]["scale"]
        a = x @ blk["attn"]["q"]["kernel"] + jnp.tile(x @ blk["attn"]["k"]["kernel"], 4) \
            * jnp.tile(x @ blk["attn"]["v"]["kernel"], 4)
        h = h + a @ blk["attn"]["o"]["kernel"]
        x = h * blk["norm2"]["scale"]
        h = h + ((x @ blk["mlp"]["gate"]["kernel"]) * (x @ blk["mlp"]["up"]["kernel"])) @ blk["mlp"]["down"]["kernel"]
    return (h * p["final_norm"]["scale"]) @ p["embed"]["embedding"].T


def analyze(fmt: str, path: Path, params: dict, layers: int) -> dict:
    """``acecost.analyze(..., weights=path, levels="measured", sparsity="discount")`` end to end."""
    import functools

    import jax

    import acecost

    if fmt == "orbax":
        import orbax.checkpoint  # noqa: F401
    abstract = _nested({k: jax.ShapeDtypeStruct(s, _np_dtype(d)) for k, (s, d) in params.items()})
    tokens = jax.ShapeDtypeStruct((1, params["embed/embedding"][0][0]), _np_dtype(params["embed/embedding"][1]))
    fn = functools.partial(forward, layers=layers)
    base = _status("VmHWM")
    t0 = time.perf_counter()
    report = acecost.analyze(fn, abstract, tokens, weights=str(path), levels="measured", sparsity="discount")
    t1 = time.perf_counter()
    largest = max(math.prod(s) * _np_dtype(d).itemsize for s, d in params.values())
    return {"baseline": base, "peak": _status("VmHWM"), "largest": largest, "tensors": len(params),
            "open_bind_s": 0.0, "read_s": t1 - t0, "checksum": report.totals.ace}


def read(fmt: str, path: Path, params: dict, safe_open: bool) -> dict:
    import jax
    import numpy as np

    from acecost.load.trace import leaves_of
    from acecost.load.weights import bind, open_checkpoint

    if fmt == "orbax":
        import orbax.checkpoint  # noqa: F401 (imported before the baseline, like jax)
    if safe_open:
        from safetensors import safe_open as _safe_open
    abstract = _nested({k: jax.ShapeDtypeStruct(s, _np_dtype(d)) for k, (s, d) in params.items()})
    leaves = leaves_of((abstract,), (0,))
    base = _status("VmHWM")
    t0 = time.perf_counter()
    checksum, largest, n = 0, 0, 0
    if safe_open:
        keys = list(params)
        t1 = t0
        for key in keys:
            with _safe_open(str(path), framework="np") as f:
                a = f.get_tensor(key)
            checksum += int(a.view(np.uint8).sum(dtype=np.uint64))
            largest, n = max(largest, a.nbytes), n + 1
            del a
    else:
        weights = bind(open_checkpoint(path), leaves)
        t1 = time.perf_counter()
        for key in weights:
            a = weights[key]
            checksum += int(a.view(np.uint8).sum(dtype=np.uint64))
            largest, n = max(largest, a.nbytes), n + 1
            del a
    t2 = time.perf_counter()
    return {"baseline": base, "peak": _status("VmHWM"), "largest": largest, "tensors": n,
            "open_bind_s": t1 - t0, "read_s": t2 - t1, "checksum": checksum}


# ------------------------------------------------------------------ driver


def _child(*args: str) -> str:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, __file__, *args], env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--formats", default="npz,safetensors,msgpack,orbax")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32", "float16"])
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--dir", default=None, help="where the checkpoints are written (default: a temp dir)")
    ap.add_argument("--compare-safe-open", action="store_true")
    ap.add_argument("--analyze", action="store_true",
                    help="also time acecost.analyze(levels='measured', sparsity='discount') of the model")
    ap.add_argument("--child", nargs=2, metavar=("ROLE", "FORMAT"), help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    params = spec(args.layers, args.dtype)
    if args.child:
        role, fmt = args.child
        if role == "write":
            write(fmt, Path(args.path), params)
            print("written")
        else:
            result = analyze(fmt, Path(args.path), params, args.layers) if role == "analyze" else \
                read(fmt, Path(args.path), params, role == "read-safe-open")
            print(json.dumps(result))
        return

    import tempfile

    total = sum(math.prod(s) for s, _ in params.values())
    largest = max(math.prod(s) * _np_dtype(d).itemsize for s, d in params.values())
    print(f"model: {len(params)} tensors, {total / 1e9:.3f} G parameters, {args.dtype}; largest tensor "
          f"{largest / 2**20:.1f} MiB; {sys.platform}, Python {sys.version.split()[0]}\n")
    print("| format | file | open + check | read all | RSS before | peak RSS | peak - before | "
          "largest tensor | (peak - before) / largest | peak - before - largest |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="acecost-bench-weights-"))
    base.mkdir(parents=True, exist_ok=True)
    suffix = {"npz": ".npz", "safetensors": ".safetensors", "msgpack": ".msgpack", "orbax": ""}
    try:
        for fmt in args.formats.split(","):
            path = base / f"ckpt-{fmt}{suffix[fmt]}"
            _child("--child", "write", fmt, "--path", str(path), "--layers", str(args.layers), "--dtype", args.dtype)
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() \
                else path.stat().st_size
            roles = ["read"] + (["read-safe-open"] if fmt == "safetensors" and args.compare_safe_open else []) \
                + (["analyze"] if args.analyze else [])
            sums = set()
            for role in roles:
                r = json.loads(_child("--child", role, fmt, "--path", str(path), "--layers", str(args.layers),
                                      "--dtype", args.dtype))
                if role != "analyze":
                    sums.add(r["checksum"])
                extra = r["peak"] - r["baseline"]
                label = {"read": fmt, "read-safe-open": "safetensors (safe_open)",
                         "analyze": f"{fmt}: analyze --levels measured --sparsity discount"}[role]
                print(f"| {label} | {size / 2**30:.2f} GiB | {r['open_bind_s']:.2f} s | {r['read_s']:.1f} s | "
                      f"{r['baseline'] / 2**20:.0f} MiB | {r['peak'] / 2**20:.0f} MiB | {extra / 2**20:.0f} MiB | "
                      f"{r['largest'] / 2**20:.0f} MiB | {extra / r['largest']:.2f} | "
                      f"{(extra - r['largest']) / 2**10:.0f} KiB |", flush=True)
            if len(sums) != 1:
                print(f"  (the readers disagree on the checksum of {fmt}: {sums})")
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
