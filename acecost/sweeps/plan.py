"""A sweep's plan: what a fully cached sweep needs, so it imports neither jax nor the model.

Telling a model parameter from an option and filling in the model's defaults
needs the model imported, and that imports jax (a second or more) before the
first point can be looked up. So once a sweep has keyed its points, it stores a
plan beside the entries, keyed by everything the request itself holds (the
model as named, the space, the fixed options, sample and seed, the working
directory (and ``sys.path`` for a module), and the cache key's own material: format, versions
and a digest of acecost's sources). The plan keeps each axis name's kind, each
point's cache key, and the digest of every file those keys were made from (the
model file and the helpers it imports, a checkpoint, a device file), as build
systems keep dependency files. A later run re-hashes those files and looks the
keys up (each entry checks the files its model loaded, as any lookup does);
anything missing or changed falls back to the full path, which stores the plan
again.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from acecost.sweeps import sources
from acecost.sweeps.cache import CACHE_FORMAT, Cache, environment, local_sources

#: Bump when a plan's fields or key material change meaning.
PLAN_FORMAT = 1


@dataclass
class Plan:
    """What a sweep found out from its model: axis kinds, point keys and the files they hang on."""

    kinds: dict[str, str]
    keys: list[str]
    files: dict[str, str]


def plan_key(spec, space, fixed: dict | None, sample: int | None, seed: int) -> str | None:
    """The plan's key from the request alone; None for a callable (its code is not a file named here)."""
    if spec.fn is not None or spec.files:
        return None
    target = os.path.abspath(spec.spec) if spec.is_file else spec.spec
    material = {"plan": PLAN_FORMAT, "format": CACHE_FORMAT, "env": environment(), "target": target,
                "entry": spec.entry, "axes": space.axes, "points": space.points, "raw": space.raw,
                "fixed": fixed or {}, "sample": sample, "seed": seed, "cwd": os.getcwd()}
    if not spec.is_file and not spec.spec.startswith("zoo:"):  # which module a name finds
        material["path"] = [os.path.abspath(p) for p in sys.path]
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=repr).encode()).hexdigest()


def _path(cache: Cache, key: str) -> Path:
    return cache.dir / "plans" / f"{key}.plan"  # not "*.json": the entries are those


def load(cache: Cache, key: str) -> Plan | None:
    """The stored plan if every file it names is unchanged, else None."""
    try:
        data = json.loads(_path(cache, key).read_text(encoding="utf-8"))
        plan = Plan(dict(data["kinds"]), list(data["keys"]), dict(data["files"]))
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None  # absent or damaged: the full path writes it again
    if not all(isinstance(k, str) for k in plan.keys) or not all(
            isinstance(p, str) and isinstance(d, str) for p, d in plan.files.items()):
        return None
    return plan if sources.unchanged(plan.files) else None


def store(cache: Cache, key: str, plan: Plan) -> None:
    """Write the plan atomically; a plan that cannot be written only costs time next run."""
    path = _path(cache, key)
    with contextlib.suppress(OSError):
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"kinds": plan.kinds, "keys": plan.keys, "files": plan.files}), encoding="utf-8")
        os.replace(tmp, path)


def key_files(spec, identity, tasks) -> dict[str, str] | None:
    """path -> digest of the files the point keys were made from; None if one cannot be read."""
    paths: list[str] = []
    if spec.is_file:
        paths += [str(p) for p in local_sources(Path(spec.spec))]
    elif isinstance(identity, dict):
        paths += list(identity.get("files", {}))  # a module's files, absolute already
    for task in tasks:
        weights, hardware = task.analysis.get("weights"), task.analysis.get("hardware")
        if isinstance(weights, str):
            paths.append(os.path.abspath(weights))
        if isinstance(hardware, str) and Path(hardware).suffix.lower() in (".toml", ".json") \
                and Path(hardware).is_file():
            paths.append(os.path.abspath(hardware))
    out = {p: sources.digest(p) for p in paths}
    return None if any(d is None for d in out.values()) else dict(sorted(out.items()))
