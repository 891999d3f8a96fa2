"""Where a model's error is: the file and line in the user's code, as one line.

A traceback through a model runs through importlib, jax and acecost; the
frame that names the user's mistake is the innermost one in the user's own
files (the model, or a helper module beside it).
"""
from __future__ import annotations

import traceback
from pathlib import Path


def one_line(text: object) -> str:
    """A message of several lines as one: its non-blank lines joined by ' / ', encodable as UTF-8."""
    from acecost.report.safe_text import unsurrogate

    return " / ".join(line.strip() for line in unsurrogate(text).splitlines() if line.strip())


def _shown(filename: str | Path) -> str:
    """A file as the user would write it: relative to the current directory when under it."""
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(filename)


def _library_dirs() -> tuple[Path, ...]:
    import sysconfig

    paths = sysconfig.get_paths()
    dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    dirs.add(str(Path(__file__).resolve().parent))  # acecost itself
    return tuple(Path(d).resolve() for d in dirs)


def user_frames(exc: BaseException, path: Path | None) -> list[tuple[str, int | None]]:
    """(file, line) of each traceback frame in the user's code, outermost first.

    User code is the model file and any file outside the standard library,
    installed packages and acecost (a helper module beside the model).
    """
    libraries = _library_dirs()
    model = path.resolve() if path is not None else None
    frames = []
    for f in traceback.extract_tb(exc.__traceback__):
        if f.filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
            continue
        file = Path(f.filename).resolve()
        if file != model and any(file.is_relative_to(d) for d in libraries):
            continue
        frames.append((f.filename, f.lineno))
    return frames


def _via(frames, path: Path | None, how: str) -> str:
    """' (imported from model.py:3)': where the model file reached a helper that failed."""
    if path is None:
        return ""
    mine = [line for file, line in frames if Path(file).resolve() == path.resolve()]
    return f" ({how} from {_shown(path)}:{mine[-1]})" if mine else ""


def where(exc: BaseException, path: Path | None, how: str = "imported") -> str:
    """``file:line`` of the innermost frame in the user's code, and the model line that led there.

    An error in a helper the model imports is reported at the helper's line
    (``quantlib.py:7 (imported from model.py:3)``), not at the import.
    """
    frames = user_frames(exc, path)
    if frames:
        file, line = frames[-1]
        if path is not None and Path(file).resolve() == path.resolve():
            return f"{_shown(path)}:{line}"
        return f"{_shown(file)}:{line}{_via(frames, path, how)}"
    every = traceback.extract_tb(exc.__traceback__)
    return f"{_shown(every[-1].filename)}:{every[-1].lineno}" if every else _shown(path or "?")


def syntax_where(exc: SyntaxError, path: Path | None) -> str:
    """Where a SyntaxError is: the file it is in (the model or a helper) and its line, if it has one.

    A SyntaxError without a file (null bytes in a source) is placed at the
    user's line that imported the broken module, if any, else at the model.
    """
    if exc.filename is None:
        return where(exc, path) if user_frames(exc, path) else _shown(path or "?")
    in_model = path is not None and Path(exc.filename).resolve() == path.resolve()
    file = _shown(path if in_model else exc.filename)
    at = f"{file}:{exc.lineno}" if exc.lineno else file
    return at if in_model else at + _via(user_frames(exc, path), path, "imported")
