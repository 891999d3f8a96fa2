"""pytest plugin: write the JSON of every Report the tests build, for a before/after comparison.

    ACECOST_DUMP=DIR PYTHONPATH=bench python -m pytest -p report_dump tests/corpus
    python bench/check_identical.py compare-dumps BEFORE AFTER

Each public analysis call (``analyze``, ``analyze_jaxpr``, ``analyze_train``,
``analyze_target``) is wrapped; its report goes to
``DIR/<test id>.<n>.json``, ``n`` counting the calls of that test. This
covers models built inside tests (the corpus of other projects' models) that
``check_identical.py`` cannot name as a command-line target.
"""
from __future__ import annotations

import functools
import os
import re
from collections import Counter
from pathlib import Path

_DIR = os.environ.get("ACECOST_DUMP")
_CALLS: Counter = Counter()


def _test_id() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "outside-a-test").rsplit(" (", 1)[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", current)[:180]


def _wrap(module, name: str, dumps) -> None:
    fn = getattr(module, name)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        report = fn(*args, **kwargs)
        key = _test_id()
        _CALLS[key] += 1
        try:
            text = dumps(report.to_dict())
        except Exception as exc:  # noqa: BLE001 - the dump never fails a test
            text = f"unserialisable: {type(exc).__name__}: {exc}"
        (Path(_DIR) / f"{key}.{_CALLS[key]}.json").write_text(text, encoding="utf-8")
        return report

    setattr(module, name, wrapper)


if _DIR:
    Path(_DIR).mkdir(parents=True, exist_ok=True)
    import acecost.api as _api

    try:
        from acecost.report.model import to_json as _dumps
    except ImportError:  # before the stage layout
        from acecost.report import to_json as _dumps
    for _name in ("analyze", "analyze_jaxpr", "analyze_train", "analyze_target"):
        _wrap(_api, _name, _dumps)
