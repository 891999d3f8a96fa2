"""The source files a model actually loaded, so a cached point is served only while they are unchanged.

Reading a model's ``import`` statements finds the helpers under its own
directory, not one reached through a ``sys.path`` addition, ``importlib`` or a
package installed in development mode. So the modules that appear in
``sys.modules`` while the model is imported, built and traced are recorded
(other than the standard library, installed packages and acecost itself, whose
versions the cache key holds), and every cache entry stores the digests of
their files; a lookup checks them against the files as they are now.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import site
import sys
import sysconfig
import tempfile
from typing import Iterator

#: name -> file of the modules a model loaded (what :func:`recording` yields)
Found = dict


@functools.lru_cache(maxsize=1)
def _not_recorded() -> tuple[str, ...]:
    """Directories whose modules are not the model's: the standard library, installed packages,
    acecost itself, and the copies of shipped sources a remote worker imports (already keyed)."""
    roots = {p for key in ("stdlib", "platstdlib", "purelib", "platlib")
             if (p := sysconfig.get_paths().get(key))}
    with contextlib.suppress(AttributeError):
        roots.update(site.getsitepackages())
    with contextlib.suppress(AttributeError):
        roots.add(site.getusersitepackages())
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the acecost package
    out = tuple(os.path.realpath(r) + os.sep for r in roots if r)
    return out + (os.path.join(os.path.realpath(tempfile.gettempdir()), "acecost-sweep-"),)


def module_file(module: object) -> str | None:
    """The real path of a module's source when it is the model's code, else None."""
    name = getattr(module, "__file__", None)
    if not isinstance(name, str) or not name:
        return None
    path = os.path.realpath(name)
    if not os.path.isfile(path) or path.startswith(_not_recorded()):
        return None
    return path


@contextlib.contextmanager
def recording() -> Iterator[Found]:
    """Yield a dict that, on leaving, holds the modules first imported inside the block."""
    before = set(sys.modules)
    found: Found = {}
    try:
        yield found
    finally:
        for name in set(sys.modules) - before:
            path = module_file(sys.modules.get(name))
            if path is not None:
                found[name] = path


_DIGESTS: dict[tuple[str, int, int], str] = {}


def digest(path: str) -> str | None:
    """sha256 of a file's bytes (remembered per modification time and size); None if unreadable."""
    try:
        st = os.stat(path)
        stamp = (path, st.st_mtime_ns, st.st_size)
        if stamp not in _DIGESTS:
            with open(path, "rb") as fh:
                _DIGESTS[stamp] = hashlib.sha256(fh.read()).hexdigest()
        return _DIGESTS[stamp]
    except OSError:
        return None


def remember(sources: dict, found: Found) -> None:
    """Add what a block loaded to a model's record: module name -> (path, digest as loaded)."""
    for name, path in found.items():
        if name not in sources:
            sources[name] = (path, digest(path))


def stale(sources: dict) -> bool:
    """Whether a file the model loaded has changed since: the model must be imported anew."""
    return any(digest(path) != d for path, d in sources.values())


def forget(sources: dict) -> None:
    """Drop the recorded modules from ``sys.modules``, so importing the model runs their new source."""
    for name in sources:
        sys.modules.pop(name, None)


def stored(sources: dict) -> dict[str, str] | None:
    """path -> digest for a cache entry; None when a file could not be read (the point is not cached)."""
    out = {path: d for path, d in sources.values()}
    return None if any(d is None for d in out.values()) else dict(sorted(out.items()))


def unchanged(stored: dict[str, str]) -> bool:
    """Whether every file a cached point's model loaded still has the content it had."""
    return all(digest(path) == d for path, d in stored.items())
