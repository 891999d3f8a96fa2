"""The source files a model actually loaded, so a cached point is served only while they are unchanged.

Reading a model's ``import`` statements finds the helpers under its own
directory, not one reached through a ``sys.path`` addition, ``importlib`` or a
package installed in development mode. So the modules that appear in
``sys.modules`` while the model is imported, built and traced are recorded
(other than the standard library, installed packages and acecost itself, whose
versions the cache key holds), and every cache entry stores the digests of
their files; a lookup checks them against the files as they are now.
Modules of that kind already imported when the model is (by a notebook or a
test that imported a helper itself) are recorded too, since the model may use
them; one of those that changed on disk since cannot be imported anew here,
so a point priced with it is not stored.
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

#: what a model loaded: module name -> (file, digest as loaded, whether the model imported it)
Sources = dict


@functools.lru_cache(maxsize=1)
def _not_recorded() -> tuple[str, ...]:
    """Directories whose modules are not the model's: the standard library, installed packages,
    acecost itself, and the copies of shipped sources a remote worker imports (already keyed)."""
    roots = {p for key in ("stdlib", "platstdlib", "purelib", "platlib", "scripts")
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
def recording(into: Sources, before_too: bool = False) -> Iterator[Sources]:
    """Add to ``into`` the modules first imported inside the block, even if it raises (a point that
    fails after importing a helper must not hide the helper from the next point).

    With ``before_too`` also the model-like modules already imported (a notebook
    or a test that imported a helper itself before the model did): the model may
    use them, and importing it would not show them.
    """
    before = set(sys.modules)
    if before_too:
        _add(into, before, mine=False)
    try:
        yield into
    finally:
        _add(into, set(sys.modules) - before, mine=True)


def _add(into: Sources, names, mine: bool) -> None:
    for name in names:
        path = module_file(sys.modules.get(name))
        if path is not None and name not in into:
            into[name] = (path, digest(path), mine)


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
    except (OSError, ValueError):  # unreadable, a directory, a NUL in a damaged entry's path
        return None


def stale(sources: Sources) -> bool:
    """Whether a file of a module the model imported has changed since: import the model anew."""
    return any(digest(path) != d for path, d, mine in sources.values() if mine)


def forget(sources: Sources) -> None:
    """Drop the modules the model imported from ``sys.modules``, so importing it runs their new source
    (a module imported before the model is the caller's, and stays)."""
    for name, (_, _, mine) in sources.items():
        if mine:
            sys.modules.pop(name, None)


def stored(sources: Sources) -> dict[str, str] | None:
    """path -> digest for a cache entry; None when a file cannot be read, or a module imported before
    the model has changed on disk since (what ran is then not what the file says): not cached."""
    out = {}
    for path, d, mine in sources.values():
        if d is None or (not mine and digest(path) != d):
            return None
        out[path] = d
    return dict(sorted(out.items()))


def unchanged(stored: dict[str, str]) -> bool:
    """Whether every file a cached point's model loaded still has the content it had."""
    return all(digest(path) == d for path, d in stored.items())
