"""Roofline time on named hardware (``--hardware``): compute or memory, whichever is slower.

A contraction runs in the narrowest operand class of the device's matrix
units that holds its operands, at that class's peak dense rate; it moves its
memory traffic (``read_bits + write_bits``) at the device's peak bandwidth.
Its time is the larger of the two, and that one ``bound``s it. Elementwise
work is taken as fused into the contractions (as ``memory_bits`` takes it), so
it adds no time. A roofline is a lower bound: real runs land above it.

The bundled table (``hardware.json``, each device with its sources) can be
replaced by a TOML or JSON file of one device (docs/metrics.md, "Time").
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from acecost.errors import ConfigError
from acecost.report.model import OpRecord, Report

#: operand classes: name -> (width in bits, integer class); the order a tie is broken in
CLASSES: dict[str, tuple[int, bool]] = {
    "int4": (4, True), "int8": (8, True), "fp8": (8, False), "fp16": (16, False), "bf16": (16, False),
    "fp32": (32, False)}
_KEYS = {"title", "memory_bandwidth", "peak", "source"}


@dataclass(frozen=True)
class Hardware:
    name: str
    title: str
    #: bytes per second
    memory_bandwidth: float
    #: class -> peak dense operations per second (a MAC is 2)
    peak: dict[str, float]
    source: str = ""

    def compute_class(self, bits: int, is_float: bool) -> str:
        """The narrowest class whose width holds ``bits``: float classes only for a float
        operand, integer classes first (then floats) for integer levels. Wider than every class:
        the widest (a lower bound)."""
        ranked = sorted(self.peak, key=lambda c: (CLASSES[c][0], not CLASSES[c][1]))
        usable = [c for c in ranked if not (is_float and CLASSES[c][1])] or ranked
        return next((c for c in usable if CLASSES[c][0] >= bits), usable[-1])


def builtin() -> dict[str, Any]:
    return json.loads(resources.files("acecost.report").joinpath("hardware.json").read_text(encoding="utf-8"))


def _device(name: str, data: object, where: str) -> Hardware:
    """A device from its table, every number checked: one clear line per mistake."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table with memory_bandwidth and peak")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected {', '.join(sorted(_KEYS))}")
    bandwidth = data.get("memory_bandwidth")
    if not _positive(bandwidth):
        raise ConfigError(f"{where}: memory_bandwidth must be a number of bytes per second > 0, "
                          f"got {bandwidth!r}")
    peak = data.get("peak")
    if not isinstance(peak, dict) or not peak:
        raise ConfigError(f"{where}: peak must be a table of operations per second per class "
                          f"({', '.join(CLASSES)}), e.g. bf16 = 9.894e14")
    for cls, rate in peak.items():
        if cls not in CLASSES:
            raise ConfigError(f"{where}: unknown peak class {cls!r}; expected {', '.join(CLASSES)}")
        if not _positive(rate):
            raise ConfigError(f"{where}: peak {cls} must be a number of operations per second > 0, got {rate!r}")
    for key in ("title", "source"):
        if not isinstance(data.get(key, ""), str):
            raise ConfigError(f"{where}: {key} must be a string")
    return Hardware(name, data.get("title") or name, float(bandwidth), {c: float(r) for c, r in peak.items()},
                    data.get("source", ""))


def _positive(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def load_hardware(spec: str, where: str = "hardware") -> Hardware:
    """A bundled device by name (``h100-sxm``) or a ``.toml``/``.json`` file of one device."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"invalid {where} {spec!r}: expected a device name or a .toml/.json file")
    spec = spec.strip()
    devices = builtin()["devices"]
    if spec.lower() in devices:
        return _device(spec.lower(), devices[spec.lower()], f"hardware {spec}")
    path = Path(spec)
    if path.suffix.lower() not in (".toml", ".json"):
        raise ConfigError(f"invalid {where} {spec!r}: not a bundled device ({', '.join(devices)}) "
                          "nor a .toml/.json file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid {where} {spec!r}: cannot read it: {getattr(exc, 'strerror', None) or exc}") \
            from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"invalid {where} {spec!r}: not valid {path.suffix[1:].upper()}: {exc}") from None
    return _device(path.stem, data, f"invalid {where} {spec!r}")


def parse_hardware(raw: object, where: str = "hardware") -> str:
    """The option's value: checked by loading it, kept as typed (a sweep's cache key names it)."""
    load_hardware(raw, where)  # type: ignore[arg-type]
    return raw.strip()  # type: ignore[union-attr]


def record_time(r: OpRecord, hw: Hardware) -> tuple[float, str, str]:
    """(seconds, bound, class) of a record: max(2 MACs / peak of its class, its bits / 8 / bandwidth)."""
    is_float = r.origin("a").is_float or r.origin("w").is_float or r.float_codes
    cls = hw.compute_class(max(r.bits_a, r.bits_w), is_float)
    compute = 2 * r.macs / hw.peak[cls]
    memory = (r.read_bits + r.write_bits) / 8 / hw.memory_bandwidth
    return max(compute, memory), "compute" if compute >= memory else "memory", cls


def apply_hardware(report: Report, hw: Hardware) -> None:
    """Each layer's ``time_s``, ``bound`` and ``compute_class``, the total ``time_s`` and
    ``meta.hardware`` (with notes on operands narrower or wider than every class)."""
    narrowest = min(CLASSES[c][0] for c in hw.peak)
    widest = max(CLASSES[c][0] for c in hw.peak)
    narrow, wide = {}, {}
    for r in report.layers:
        if r.read_bits is None or r.write_bits is None:
            continue
        r.time_s, r.bound, r.compute_class = record_time(r, hw)
        bits = max(r.bits_a, r.bits_w)
        if bits < narrowest:
            narrow[r.compute_class] = narrow.get(r.compute_class, 0) + 1
        elif bits > widest:
            wide[r.compute_class] = wide.get(r.compute_class, 0) + 1
    known = all(r.time_s is not None for r in report.layers)
    report.totals.time_s = sum(r.time_s for r in report.layers) if known else None  # type: ignore[misc]
    notes = [f"{n} contraction(s) with operands narrower than any class of {hw.title} "
             f"(its narrowest is {narrowest} bits) run in {cls}" for cls, n in narrow.items()]
    notes += [f"{n} contraction(s) with operands wider than any class of {hw.title} are timed in {cls}, "
              "its widest: a lower bound" for cls, n in wide.items()]
    report.warnings.extend(f"hardware: {note}" for note in notes)
    report.meta["hardware"] = {"name": hw.name, "title": hw.title, "memory_bandwidth": hw.memory_bandwidth,
                               "peak": dict(hw.peak), "source": hw.source, "notes": notes}
