"""Stored costs of the bundled models, shipped with the package.

A zoo model's figures only change when the engine or the model does, so they
are computed once, kept in ``costs.json`` beside this module, and read by
``acecost zoo list`` and the plot reference (:mod:`acecost.figures.reference`)
without importing jax or tracing anything. ``tests/test_zoo_costs.py``
re-analyses every entry and fails when a stored number drifts from a fresh
analysis. After a deliberate change, regenerate the file and review its diff::

    python -m acecost.zoo.costs           # rewrite acecost/zoo/costs.json
    python -m acecost.zoo.costs --check   # exit 1 and name each drift

Each entry is what one default analysis (``RESOLUTION``, ``BATCH``) reports:
its ``totals`` and its elementwise work by category, in the report's own
JSON form.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from acecost.errors import AcecostError

COSTS_JSON = "costs.json"
REGENERATE = "python -m acecost.zoo.costs"


def entry(report: Any) -> dict[str, Any]:
    """What is stored of one analysis (a :class:`acecost.Report`)."""
    data = report.to_dict()
    return {"totals": data["totals"], "elementwise": data["elementwise"]["by_category"]}


def analyse(name: str, resolution: int | None = None, batch: int | None = None) -> dict[str, Any]:
    """A fresh analysis of zoo model ``name``, in the stored form."""
    from acecost import analyze_target, zoo

    return entry(analyze_target(zoo.get(name).build(resolution or zoo.RESOLUTION, batch or zoo.BATCH)))


def compute(progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """The whole document, every bundled model analysed now."""
    from acecost import zoo

    models = {}
    for i, name in enumerate(zoo.MODELS):
        if progress is not None:
            progress(name, i, len(zoo.MODELS))
        models[name] = analyse(name)
    return {"resolution": zoo.RESOLUTION, "batch": zoo.BATCH, "models": models}


@functools.lru_cache(maxsize=1)
def _stored_text() -> str:
    return importlib.resources.files(__package__).joinpath(COSTS_JSON).read_text(encoding="utf-8")


def load() -> dict[str, Any]:
    """The stored document (a fresh copy: callers may change it)."""
    return json.loads(_stored_text())


def stored(name: str) -> dict[str, Any]:
    """The stored entry of zoo model ``name``; an error that says how to regenerate otherwise."""
    models = load()["models"]
    if name not in models:
        raise AcecostError(f"no stored costs for zoo model {name!r}; regenerate them with `{REGENERATE}`")
    return models[name]


def drift(stored_doc: Mapping[str, Any], fresh_doc: Mapping[str, Any]) -> list[str]:
    """One readable line per difference between a stored and a fresh document."""
    lines = [f"{key}: stored {stored_doc.get(key)!r}, analysed {fresh_doc[key]!r}"
             for key in ("resolution", "batch") if stored_doc.get(key) != fresh_doc[key]]
    old, new = stored_doc.get("models", {}), fresh_doc["models"]
    lines += [f"{name}: not in the zoo any more" for name in old if name not in new]
    for name, fresh in new.items():
        if name not in old:
            lines.append(f"{name}: no stored costs")
            continue
        for part in ("totals", "elementwise"):
            was, now = old[name].get(part, {}), fresh[part]
            for key in sorted(set(was) | set(now)):
                if was.get(key) != now.get(key):
                    lines.append(f"{name}: {part}.{key} stored {was.get(key)!r}, analysed {now.get(key)!r}")
    return lines


def drift_message(lines: list[str]) -> str:
    """The failure text of a drift: what differs and how to regenerate."""
    return (f"the stored zoo costs ({__package__.replace('.', '/')}/{COSTS_JSON}) differ from a fresh analysis:\n  "
            + "\n  ".join(lines)
            + f"\nIf the change is intended, regenerate them with `{REGENERATE}` and review the diff.")


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite ``costs.json`` from a fresh analysis (``--check``: only compare)."""
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--check"]):
        print(f"usage: {REGENERATE} [--check]", file=sys.stderr)
        return 2
    fresh = compute(lambda name, i, n: print(f"analysing {name} ({i + 1}/{n})", file=sys.stderr))
    if args == ["--check"]:
        lines = drift(load(), fresh)
        print(drift_message(lines) if lines else "the stored zoo costs are up to date",
              file=sys.stderr)
        return 1 if lines else 0
    path = Path(__file__).with_name(COSTS_JSON)
    path.write_text(dumps(fresh), encoding="utf-8")
    _stored_text.cache_clear()
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
