"""Each point's report on disk, keyed by everything that can change it.

The key hashes the model's source (the model file and the ``.py`` files it
imports from its own directory, found by reading its ``import`` statements),
the point's parameters and options, and the versions of acecost (and a
digest of its own sources, so a development checkout never serves stale
numbers), jax, jaxlib and flax. The entry itself lists the digest of every
file the model actually loaded while it was imported, built and traced
(:mod:`acecost.sweeps.sources`: a helper reached through ``sys.path`` or
``importlib`` too), and is served only while they all match. An entry is
checked in full before it is served: anything else is a miss, and the point
is priced and stored again. A failed point is not stored.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import inspect
import json
import math
import os
from importlib import metadata
from pathlib import Path
from typing import Any

from acecost.errors import AcecostError
from acecost.sweeps import sources
from acecost.sweeps.rows import iso_dates

#: Bump when the stored entry or the key material changes meaning.
CACHE_FORMAT = 3
ENV_VAR = "ACECOST_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$ACECOST_CACHE_DIR``, else ``$XDG_CACHE_HOME/acecost/sweep``, else ``~/.cache/acecost/sweep``."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "acecost" / "sweep"


def local_sources(path: Path) -> list[Path]:
    """The model file and the ``.py`` files under its directory that it imports, transitively."""
    root = path.resolve().parent
    seen: list[Path] = []
    todo = [path.resolve()]
    while todo:
        p = todo.pop()
        if p in seen or not p.is_file() or not p.is_relative_to(root):
            continue
        seen.append(p)
        try:
            tree = ast.parse(p.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue  # the import itself will report it
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                todo.extend(_module_file(root, a.name.split(".")) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = p.parent if node.level else root
                for _ in range(max(node.level - 1, 0)):
                    base = base.parent
                mod = (node.module or "").split(".")
                todo.append(_module_file(base, mod))
                todo.extend(_module_file(base, [*mod, a.name]) for a in node.names)
    return sorted(seen, key=lambda q: (q != path.resolve(), str(q)))


def _module_file(base: Path, parts: list[str]):
    """Files a dotted name may be under ``base``: ``a/b.py`` or the package ``a/b/__init__.py``."""
    parts = [x for x in parts if x]
    if not parts:
        return base / "__init__.py"
    target = base.joinpath(*parts)
    if target.with_suffix(".py").is_file():
        return target.with_suffix(".py")
    return target / "__init__.py"


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, str]:
    """Versions that change numbers, and a digest of acecost's own sources."""
    out = {}
    for pkg in ("acecost", "jax", "jaxlib", "flax"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    here = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for p in sorted(here.rglob("*")):
        if p.suffix in (".py", ".json", ".csv") and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(here)).encode())
            h.update(p.read_bytes())
    out["acecost_sources"] = h.hexdigest()
    return out


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_identity(spec) -> Any:
    """What identifies the model's code, or None when it cannot be known (no caching then)."""
    if spec.fn is not None:
        # a function of an importable module is known by that module's files; one from __main__
        # (a notebook, a script) may read state its source does not show, so it is not cached
        fn = spec.fn
        if getattr(fn, "__module__", "__main__") == "__main__":
            return None
        try:
            source = Path(inspect.getsourcefile(fn) or "")
        except TypeError:
            return None
        if not source.is_file():
            return None
        return {"callable": f"{fn.__module__}.{fn.__qualname__}",
                "files": {str(p): _digest(p.read_bytes()) for p in local_sources(source)}}
    if spec.spec.startswith("zoo:"):
        return {"zoo": spec.spec}
    if spec.is_file:
        root = Path(spec.spec).resolve().parent
        return {"file": Path(spec.spec).name,
                "files": {str(p.relative_to(root)): _digest(p.read_bytes()) for p in local_sources(Path(spec.spec))}}
    import importlib.util

    mod = spec.spec.partition(":")[0]
    try:
        found = importlib.util.find_spec(mod)
    except (ImportError, ValueError):
        found = None
    origin = Path(found.origin) if found is not None and found.origin else None
    if origin is None or not origin.is_file():
        return None
    return {"module": spec.spec, "files": {str(p): _digest(p.read_bytes()) for p in local_sources(origin)}}


def point_key(identity: Any, entry: str | None, params: dict, options: dict) -> str:
    material = {"format": CACHE_FORMAT, "env": environment(), "model": identity, "entry": entry,
                "params": params, "options": options, "files": _option_files(options)}
    if not material["files"]:  # the key of a point that names no file is what it was before
        del material["files"]
    return _digest(json.dumps(material, sort_keys=True, default=repr).encode())


def _option_files(options: dict) -> dict[str, str]:
    """The digest of a device file a point's ``hardware`` names: editing the file is a miss."""
    hw = (options.get("analysis") or {}).get("hardware") if isinstance(options, dict) else None
    if isinstance(hw, str) and Path(hw).suffix.lower() in (".toml", ".json") and Path(hw).is_file():
        return {hw: _digest(Path(hw).read_bytes())}
    return {}


class Cache:
    """A directory of ``<key[:2]>/<key>.json`` entries, written atomically."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.dir = Path(directory).expanduser() if directory else default_cache_dir()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AcecostError(f"cannot use cache directory {self.dir}: {exc.strerror or exc}") from None
        if not os.access(self.dir, os.W_OK):
            raise AcecostError(f"cannot use cache directory {self.dir}: permission denied")

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored result of a point, or None: absent, damaged, or its model's files changed."""
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError):
            entry = None
        if not valid_entry(entry):
            with contextlib.suppress(OSError):
                path.unlink()  # damaged: priced and written again
            return None
        return entry if sources.unchanged(entry["sources"]) else None

    def put(self, key: str, result: dict) -> None:
        """Store a priced point: its report, seconds and the digests of the files its model loaded."""
        if result.get("error") is not None or not isinstance(result.get("sources"), dict):
            return  # a failed point, or one whose files could not all be read: priced again next time
        # (a space file's TOML date-times among the report's parameters are kept as ISO 8601 text)
        report = json.loads(json.dumps(result["report"], default=iso_dates))
        entry = {"report": report, "seconds": result["seconds"], "error": None,
                 "sources": result["sources"], "digest": entry_digest(report, result["sources"])}
        if not valid_entry(entry):
            return
        path = self._path(key)
        try:
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(entry), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs time next run


def entry_digest(report: dict, files: dict) -> str:
    """What the entry stored: a damaged report or file list no longer matches it."""
    return _digest(json.dumps({"report": report, "sources": files}, sort_keys=True).encode())


_HEX = set("0123456789abcdef")
_INT_TOTALS = ("macs", "binary_macs", "ace", "size_bits", "params", "elementwise_ops")


def _count(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _is_digest(x: object) -> bool:
    return isinstance(x, str) and len(x) == 64 and set(x) <= _HEX


def valid_entry(entry: object) -> bool:
    """Every field a sweep row reads, of the right type, and the report and file list as stored."""
    from acecost.ci.diff import validate_report
    from acecost.errors import ConfigError

    if not isinstance(entry, dict) or set(entry) != {"report", "seconds", "error", "sources", "digest"}:
        return False
    seconds, files = entry["seconds"], entry["sources"]
    if entry["error"] is not None or isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not math.isfinite(seconds) or seconds < 0:
        return False
    if not isinstance(files, dict) or not all(isinstance(p, str) and _is_digest(d) for p, d in files.items()):
        return False
    report = entry["report"]
    try:
        validate_report(report, "cache entry")
    except ConfigError:
        return False
    totals = report["totals"]
    if not all(_count(totals.get(k)) for k in _INT_TOTALS) or not isinstance(totals.get("complete"), bool):
        return False
    cpu64 = totals.get("cpu64")
    if not (_count(cpu64) or isinstance(cpu64, float) and math.isfinite(cpu64) and cpu64 >= 0):
        return False
    return _is_digest(entry["digest"]) and entry["digest"] == entry_digest(report, files)
