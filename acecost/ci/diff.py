"""What changed in cost between two reports, and where.

Works on the JSON form of reports (``acecost analyze --format json``), so a
baseline committed months ago still compares with today's report. Layers are
matched by name; the records of one name (a layer called in a loop, or a
conv plus its bias dot) are summed first, so a layer is one row.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acecost.errors import ConfigError
from acecost.units import Number
from acecost.metrics import TOTALS

SCHEMA_VERSION = 1
#: the totals a diff compares, in the report's order, and what it calls them: from the table of metrics
TOTAL_KEYS = tuple(TOTALS)
REQUIRED_TOTALS = ("macs", "binary_macs", "ace", "cpu64", "size_bits")
TOTAL_LABELS = {key: m.label for key, m in TOTALS.items()}


@dataclass
class TotalDelta:
    key: str
    label: str
    base: Number
    new: Number
    delta: Number
    pct: float | None  # None when base is 0 and new is not


@dataclass
class LayerCost:
    """All records of one layer name, summed."""

    name: str
    records: int = 0
    macs: Number = 0
    binary_macs: Number = 0
    ace: Number = 0
    bits: set[tuple[Any, Any]] = field(default_factory=set)
    #: bits read and written, and roofline time; None where a record does not know them
    memory_bits: Number | None = 0
    time_s: float | None = 0

    @property
    def bits_label(self) -> str:
        """``8x8`` (activations x weights), or ``mixed`` across records."""
        if len(self.bits) == 1:
            a, w = next(iter(self.bits))
            return f"{a}x{w}"
        return "mixed" if self.bits else "-"


@dataclass
class LayerDelta:
    name: str
    status: str  # "changed", "added" or "removed"
    base_macs: Number
    new_macs: Number
    base_ace: Number
    new_ace: Number
    base_bits: str
    new_bits: str
    #: bits moved and roofline time (None: unknown), so a layer that only moves more is changed too
    base_memory_bits: Number | None = None
    new_memory_bits: Number | None = None
    base_time_s: float | None = None
    new_time_s: float | None = None

    @property
    def delta_macs(self) -> Number:
        return self.new_macs - self.base_macs

    @property
    def delta_ace(self) -> Number:
        return self.new_ace - self.base_ace

    @property
    def pct_ace(self) -> float | None:
        if self.base_ace:
            return self.delta_ace / self.base_ace * 100
        return 0.0 if self.delta_ace == 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "delta_macs": self.delta_macs,
            "delta_ace": self.delta_ace,
            "pct_ace": self.pct_ace,
        }


@dataclass
class ReportDiff:
    base_meta: dict[str, Any]
    new_meta: dict[str, Any]
    totals: list[TotalDelta]
    changed: list[LayerDelta]  # in both reports, cost or bits differ; by |ACE delta|
    added: list[LayerDelta]  # only in the new report; by ACE
    removed: list[LayerDelta]  # only in the base report; by ACE
    unchanged: int

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        cut = slice(None, top)
        return {
            "schema_version": SCHEMA_VERSION,
            "base": self.base_meta,
            "new": self.new_meta,
            "totals": {t.key: {k: v for k, v in asdict(t).items() if k != "key"} for t in self.totals},
            "layers": {
                "changed": [d.to_dict() for d in self.changed[cut]],
                "added": [d.to_dict() for d in self.added[cut]],
                "removed": [d.to_dict() for d in self.removed[cut]],
                "changed_count": len(self.changed),
                "added_count": len(self.added),
                "removed_count": len(self.removed),
                "unchanged_count": self.unchanged,
            },
        }


def _is_number(x: object) -> bool:
    """A cost: a finite number, never negative (no model has negative MACs, ACE or size)."""
    if isinstance(x, bool):
        return False
    return (isinstance(x, int) or isinstance(x, float) and math.isfinite(x)) and x >= 0


def _check(ok: bool, source: str, what: str) -> None:
    if not ok:
        raise ConfigError(f"{source}: {what}; write reports with 'acecost analyze --format json'")


def validate_report(data: object, source: str) -> dict[str, Any]:
    """Check every field budgets, diffs and plots read, so a bad file is one line, not a crash."""
    if not isinstance(data, dict) or not isinstance(data.get("totals"), dict):
        raise ConfigError(f"{source}: not an acecost report (no 'totals'); "
                          "write one with 'acecost analyze --format json'")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise ConfigError(f"{source}: unsupported report schema_version {version!r} "
                          f"(this acecost reads {SCHEMA_VERSION})")
    totals = data["totals"]
    for key in REQUIRED_TOTALS:
        if not _is_number(totals.get(key)):
            raise ConfigError(f"{source}: totals.{key} is missing or not a number >= 0")
    for key in TOTAL_KEYS:
        # None: unknown (a metric the report was saved without, a time without --hardware)
        _check(totals.get(key) is None or _is_number(totals[key]), source, f"totals.{key} is not a number >= 0")
    _check(isinstance(totals.get("complete", True), bool), source, "totals.complete is not true or false")
    _check(isinstance(data.get("meta", {}), dict), source, "'meta' is not an object")
    for key in ("warnings", "unsupported", "params", "loops", "branches"):
        _check(isinstance(data.get(key, []), list), source, f"'{key}' is not a list")
    _check(all(isinstance(w, str) for w in data.get("warnings", [])), source, "'warnings' holds a non-string")
    _check(all(isinstance(u, dict) for u in data.get("unsupported", [])), source,
           "'unsupported' holds a non-object")
    layers = data.get("layers", [])
    if not isinstance(layers, list):
        raise ConfigError(f"{source}: 'layers' must be a list")
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise ConfigError(f"{source}: layers[{i}] is not an object")
        for key in ("macs", "ace"):
            if not _is_number(layer.get(key)):
                raise ConfigError(f"{source}: layers[{i}].{key} is missing or not a number >= 0")
        for key in ("name", "primitive", "bits_a_source", "bits_w_source"):
            _check(layer.get(key) is None or isinstance(layer[key], str), source,
                   f"layers[{i}].{key} is not a string")
        for key in ("bits_a", "bits_w", "multiplier"):
            value = layer.get(key)
            _check(value is None or isinstance(value, int) and not isinstance(value, bool), source,
                   f"layers[{i}].{key} is not an integer")
        _check(isinstance(layer.get("binary", False), bool), source, f"layers[{i}].binary is not true or false")
    return data


def _no_constant(token: str) -> None:
    raise ValueError(f"{token} is not a number JSON allows")


def load_report(path: str | Path) -> dict[str, Any]:
    """Read and validate a JSON report file; every problem is one ConfigError line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (PowerShell's UTF-8) is fine
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except ValueError as e:  # NaN/Infinity, or a number too long to read
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid JSON (nested too deeply)") from None
    return validate_report(data, str(path))


def _target_key(target: object) -> str | None:
    """A target as comparable across runs: a model file by its name, not the path it was reached by."""
    if not isinstance(target, str) or not target:
        return None
    path, sep, attr = target.rpartition(":")
    if sep and path.endswith(".py"):
        return Path(path).name + ":" + attr
    return Path(target).name if target.endswith(".py") else target


def model_mismatch(base: dict[str, Any], new: dict[str, Any]) -> tuple[bool, str] | None:
    """Whether two reports are of different models: (no layer in common, message), or None.

    Comparing the wrong baseline would pass or fail a build for nothing, so
    callers say so loudly; with no layer in common the comparison is void.
    """
    base_layers, new_layers = set(aggregate_layers(base)), set(aggregate_layers(new))
    if base_layers and new_layers and not base_layers & new_layers:
        return True, (f"has no layer in common with the report ({len(base_layers)} vs {len(new_layers)} "
                      "layers): it is the report of another model")
    meta_b, meta_n = base.get("meta"), new.get("meta")
    tb = _target_key(meta_b.get("target")) if isinstance(meta_b, dict) else None
    tn = _target_key(meta_n.get("target")) if isinstance(meta_n, dict) else None
    if tb is not None and tn is not None and tb != tn:
        return False, f"is a report of {tb}, not of {tn}"
    return None


#: meta keys of the options that change the figures; a report without one was priced at this value
PRICING_OPTIONS = {"float_bits": 16, "cond": "max", "scales": "strict", "levels": "inferred",
                   "sparsity": "dense", "weights": None, "hardware": None}


def _option(meta: object, key: str) -> object:
    value = meta.get(key, PRICING_OPTIONS[key]) if isinstance(meta, dict) else PRICING_OPTIONS[key]
    return value.get("name", "a file") if key == "hardware" and isinstance(value, dict) else value


def priced_apart(base: dict[str, Any], new: dict[str, Any], base_name: str = "the base report",
                 new_name: str = "the new report") -> list[str]:
    """Why some deltas are not the model's own: the reports were priced with other options
    (``--levels``, ``--sparsity``, ``--weights``, ``--hardware``...), or a total is known in one
    report only and so is left out of the totals (a time without ``--hardware``)."""
    notes = []
    changed = [f"{key} {_option(base.get('meta'), key) or 'none'} -> {_option(new.get('meta'), key) or 'none'}"
               for key in PRICING_OPTIONS if _option(base.get("meta"), key) != _option(new.get("meta"), key)]
    if changed:
        notes.append(f"the reports were priced with different options ({'; '.join(changed)}): "
                     "their deltas are not the model's alone")
    for key in TOTAL_KEYS:
        b, n = _is_number(base["totals"].get(key)), _is_number(new["totals"].get(key))
        if b != n:
            notes.append(f"{TOTAL_LABELS[key]} is known in {base_name if b else new_name} only and is "
                         "left out of the totals" + (" (the other has no --hardware)" if key == "time_s" else ""))
    return notes


def aggregate_layers(report: dict[str, Any]) -> dict[str, LayerCost]:
    """Sum the records of each layer name (unnamed records: by primitive)."""
    layers: dict[str, LayerCost] = {}
    for rec in report.get("layers", []):
        name = rec.get("name") or f"<unnamed {rec.get('primitive', 'op')}>"
        cost = layers.setdefault(name, LayerCost(name))
        cost.records += 1
        cost.macs += rec["macs"]
        cost.ace += rec["ace"]
        if rec.get("binary"):
            cost.binary_macs += rec["macs"]
        cost.bits.add((rec.get("bits_a"), rec.get("bits_w")))
        moved = (rec.get("read_bits"), rec.get("write_bits"))
        cost.memory_bits = None if cost.memory_bits is None or None in moved else cost.memory_bits + sum(moved)
        cost.time_s = None if cost.time_s is None or rec.get("time_s") is None else cost.time_s + rec["time_s"]
    return layers


def _pct(base: Number, new: Number) -> float | None:
    if base:
        return (new - base) / base * 100
    return 0.0 if new == base else None


def diff_reports(base: dict[str, Any], new: dict[str, Any]) -> ReportDiff:
    """Totals and per-layer deltas from ``base`` to ``new`` (both report dicts)."""
    totals = []
    for key in TOTAL_KEYS:
        b, n = base["totals"].get(key), new["totals"].get(key)
        if _is_number(b) and _is_number(n):
            totals.append(TotalDelta(key, TOTAL_LABELS[key], b, n, n - b, _pct(b, n)))
    old_layers, new_layers = aggregate_layers(base), aggregate_layers(new)
    changed, added, removed, unchanged = [], [], [], 0
    for name, n in new_layers.items():
        b = old_layers.get(name)
        if b is None:
            added.append(LayerDelta(name, "added", 0, n.macs, 0, n.ace, "-", n.bits_label))
            continue
        d = LayerDelta(name, "changed", b.macs, n.macs, b.ace, n.ace, b.bits_label, n.bits_label,
                       b.memory_bits, n.memory_bits, b.time_s, n.time_s)
        same = (b.macs, b.ace, b.binary_macs, b.records, b.bits, b.memory_bits, b.time_s) == (
            n.macs, n.ace, n.binary_macs, n.records, n.bits, n.memory_bits, n.time_s)
        if same:
            unchanged += 1
        else:
            changed.append(d)
    for name, b in old_layers.items():
        if name not in new_layers:
            removed.append(LayerDelta(name, "removed", b.macs, 0, b.ace, 0, b.bits_label, "-"))

    def impact(d: LayerDelta) -> tuple:
        return (-abs(d.delta_ace), -abs(d.delta_macs), d.name)

    return ReportDiff(
        base_meta=dict(base.get("meta", {})),
        new_meta=dict(new.get("meta", {})),
        totals=totals,
        changed=sorted(changed, key=impact),
        added=sorted(added, key=impact),
        removed=sorted(removed, key=impact),
        unchanged=unchanged,
    )
