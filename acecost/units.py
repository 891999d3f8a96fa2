"""Readable quantities for budgets: counts, sizes and percentages.

Budgets are typed by people into a shell or a TOML file, so they accept the
forms people write (``5e9``, ``4.2G``, ``900M``, ``4MB``, ``32Mbit``,
``1.5GiB``, ``2%``) and reject anything ambiguous with a message that says
what to write instead.

Conventions
-----------
Counts (MACs, ACE, BOPs, CPU64, elementwise ops): a plain number or one with
a decimal suffix ``k``/``K`` (1e3), ``M`` (1e6), ``G`` (1e9), ``T`` (1e12).

Sizes are returned in **bits**, the unit of ``totals.size_bits``:

- ``B``/``byte``/``bytes`` is a byte (8 bits); ``bit``/``bits`` is a bit.
- ``k``/``K``, ``M``, ``G``, ``T`` are decimal (1e3 ...), ``Ki``, ``Mi``,
  ``Gi``, ``Ti`` binary (1024 ...): ``4MB`` = 4e6 bytes = 32e6 bits,
  ``32Mbit`` = 32e6 bits, ``1.5GiB`` = 1.5 * 2**30 * 8 bits.
- A bare number (``32e6``) is bits.
- A lone lowercase ``b`` (``4Mb``) is rejected: it means bits to some people
  and bytes to others, so write ``Mbit`` or ``MB``.

Percentages: ``2%``, ``2.5 %`` or a bare ``2`` all mean two percent.

For people, numbers are written one way by every command (:func:`format_count`,
:func:`format_size`, :func:`format_energy`): three significant figures with an
SI prefix (``191M``), exact below 1000, sizes in bits (``32Mbit``, which
:func:`parse_size_bits` reads back), never 0 for a value that is not 0 and
no exponent between 1e-30 and 1e33 (:data:`SPAN`). JSON keeps exact numbers.

Values are parsed exactly (``Decimal``) so ``4.2G`` is 4200000000, not a
float rounding of it. Negative, NaN and infinite values are rejected.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from acecost.errors import ConfigError

Number = int | float

_DECIMAL = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_BYTE_UNITS = {"B", "byte", "bytes"}
_BIT_UNITS = {"bit", "bits"}

_NUM = r"[+-]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QTY = re.compile(rf"^\s*(?P<num>{_NUM})\s*(?P<unit>[A-Za-z%]*)\s*$")


def _number(text: str, what: str, raw: object) -> Decimal:
    try:
        value = Decimal(text.replace("_", ""))
    except InvalidOperation:  # pragma: no cover - the regex admits only numbers
        raise ConfigError(f"invalid {what} {raw!r}") from None
    if value < 0:
        raise ConfigError(f"invalid {what} {raw!r}: must not be negative")
    if value.adjusted() > 30:
        raise ConfigError(f"invalid {what} {raw!r}: too large")
    return value


def _exact(value: Decimal) -> Number:
    """An int when the value is whole (exact comparisons), else a float."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _from_number(raw: object, what: str) -> Decimal | None:
    """Numbers from TOML/JSON arrive typed; vet them like strings."""
    if isinstance(raw, bool):
        raise ConfigError(f"invalid {what} {raw!r}: expected a number")
    if isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, float):
        if not math.isfinite(raw):
            raise ConfigError(f"invalid {what} {raw!r}: must be a finite number")
        value = Decimal(repr(raw))
    else:
        return None
    if value < 0:
        raise ConfigError(f"invalid {what} {raw!r}: must not be negative")
    if value.adjusted() > 30:
        raise ConfigError(f"invalid {what} {raw!r}: too large")
    return value


def _split(raw: object, what: str, example: str) -> tuple[Decimal, str]:
    """A quantity and its unit: a typed number (TOML/JSON) has none (``""``)."""
    value = _from_number(raw, what)
    if value is not None:
        return value, ""
    if not isinstance(raw, str):
        raise ConfigError(f"invalid {what} {raw!r}: expected a number or a string like {example}")
    m = _QTY.match(raw)
    if m is None:
        low = raw.strip().lower().lstrip("+-")
        if low in {"inf", "infinity", "nan"}:
            raise ConfigError(f"invalid {what} {raw!r}: must be a finite number")
        raise ConfigError(f"invalid {what} {raw!r}: expected a number like {example}")
    return _number(m["num"], what, raw), m["unit"]


def parse_count(raw: object, what: str = "count") -> Number:
    """``5e9``, ``4.2G``, ``900M``, ``1.5k`` -> a non-negative number."""
    value, unit = _split(raw, what, "5e9, 4.2G, 900M or 1.5k")
    if unit not in _DECIMAL:
        hint = ""
        if unit.endswith(("B", "b", "bit", "bits", "byte", "bytes")) or unit in _BINARY:
            hint = " (byte and bit units are for sizes only)"
        raise ConfigError(
            f"invalid {what} {raw!r}: unknown suffix {unit!r}; use k, M, G or T{hint}"
        )
    return _exact(value * _DECIMAL[unit])


def parse_size_bits(raw: object, what: str = "size") -> Number:
    """``4MB``, ``32Mbit``, ``1.5GiB``, ``32e6`` (bits) -> a size in bits."""
    value, unit = _split(raw, what, "4MB, 32Mbit, 1.5GiB or 32e6 (bits)")
    if unit == "":
        return _exact(value)
    for base in sorted(_BYTE_UNITS | _BIT_UNITS | {"b"}, key=len, reverse=True):
        if unit.endswith(base):
            prefix = unit[: -len(base)]
            break
    else:
        raise ConfigError(
            f"invalid {what} {raw!r}: unknown unit {unit!r}; use B (bytes) or bit, "
            "e.g. 4MB, 32Mbit, 1.5GiB"
        )
    if base == "b":
        raise ConfigError(
            f"invalid {what} {raw!r}: 'b' is ambiguous; write {prefix}bit for bits "
            f"or {prefix}B for bytes"
        )
    scale = _DECIMAL.get(prefix) or _BINARY.get(prefix)
    if scale is None:
        raise ConfigError(
            f"invalid {what} {raw!r}: unknown prefix {prefix!r}; use k, M, G, T or Ki, Mi, Gi, Ti"
        )
    per_unit = 8 if base in _BYTE_UNITS else 1
    return _exact(value * scale * per_unit)


def parse_percent(raw: object, what: str = "percentage") -> float:
    """``2%``, ``2.5 %`` or ``2`` -> 2.0, 2.5, 2.0 (percent)."""
    value, unit = _split(raw, what, "2% or 0.5%")
    if unit not in ("", "%"):
        raise ConfigError(f"invalid {what} {raw!r}: expected a percentage like 2%")
    return float(value)


# ------------------------------------------------------------- for people

#: SI prefixes of powers of 1000, from 10^0 to 10^30.
PREFIXES = ("", "k", "M", "G", "T", "P", "E", "Z", "Y", "R", "Q")
#: decimal exponents written without an exponent: 10**-30 <= |value| < 10**33
SPAN = (-30, 33)


def _plain(value: object) -> object:
    """A numpy or pandas scalar as the Python number it holds."""
    if isinstance(value, (int, float, Fraction, Decimal)) or value is None:
        return value
    return value.item() if hasattr(value, "item") else float(value)  # type: ignore[arg-type]


def _decimal(value: object) -> Decimal:
    if isinstance(value, Fraction):
        return Decimal(value.numerator) / Decimal(value.denominator)
    return Decimal(value)  # type: ignore[arg-type]  # exact for int and float


def si_digits(value: Decimal, digits: int = 3, top: int = len(PREFIXES) - 1) -> tuple[str, int]:
    """A value > 0 as (its text at ``digits`` significant figures, g): value ~ text * 1000**g.

    ``g`` is between 0 and ``top``; a value below 1 is written in plain
    decimals (``0.0156``), one beyond 1000**top in whole digits: no exponent
    between 10**-30 and 10**33 (the SI prefixes' span, far beyond any model).
    Outside it, a number of 30 digits says nothing a reader can use and breaks
    the line, so it is written ``1e200`` (g = 0).
    """
    mantissa, exp_text = f"{value:.{digits - 1}e}".split("e")
    exp = int(exp_text)
    if not SPAN[0] <= exp < SPAN[1]:
        return f"{mantissa.rstrip('0').rstrip('.')}e{exp}", 0
    figures = mantissa.replace(".", "")
    group = max(0, min(exp // 3, top))
    point = exp - 3 * group + 1  # figures before the decimal point
    if point <= 0:
        text = "0." + "0" * -point + figures
    elif point >= len(figures):
        text = figures + "0" * (point - len(figures))
    else:
        text = figures[:point] + "." + figures[point:]
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text, group


def _special(value: object) -> str | None:
    """The text of a value that is not a finite number, else None."""
    if value is None:
        return "-"
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return None


def _sign_and_magnitude(value: Number | Fraction | None) -> str | tuple[str, Decimal]:
    """``value`` as (sign, magnitude), or its whole text where it has none to scale (``-``, ``nan``, ``0``)."""
    value = _plain(value)  # type: ignore[assignment]
    special = _special(value)
    if special is not None:
        return special
    if value == 0:
        return "0"
    d = _decimal(value)
    return ("-", -d) if d < 0 else ("", d)


def format_count(value: Number | Fraction | None) -> str:
    """``0``, ``7``, ``999``, ``1k``, ``191M``, ``1.05T``; ``15.6`` and ``0.0156`` for fractions."""
    parts = _sign_and_magnitude(value)
    if isinstance(parts, str):
        return parts
    sign, d = parts
    if d < 1000 and d == d.to_integral_value():
        return f"{sign}{int(d)}"
    text, group = si_digits(d)
    return f"{sign}{text}{PREFIXES[group]}"


def format_size(bits: Number | Fraction | None) -> str:
    """A size in bits, with a decimal prefix: ``640bit``, ``6.87Mbit``, ``1.05Gbit``.

    Bits, like ``totals.size_bits``, the figures' axis (Mbit) and the weights
    themselves (a 1-bit weight is not a fraction of a byte); ``parse_size_bits``
    reads the text back."""
    special = _special(_plain(bits))
    if special is not None:
        return special
    return format_count(bits) + "bit"


_ENERGY_PREFIXES = ("p", "n", "u", "m", "")


def format_energy(pj: Number | None) -> str:
    """pJ in a readable unit, 3 significant figures: ``812 pJ``, ``4.1 nJ``, ``2.35 mJ``."""
    parts = _sign_and_magnitude(pj)
    if isinstance(parts, str):
        return parts
    sign, d = parts
    text, group = si_digits(d, top=len(_ENERGY_PREFIXES) - 1)
    return f"{sign}{text} {_ENERGY_PREFIXES[group]}J"


_TIME_PREFIXES = ("n", "µ", "m", "")
_TIME_UNITS = {"s": Decimal(1), "ms": Decimal("1e-3"), "us": Decimal("1e-6"), "µs": Decimal("1e-6"),
               "ns": Decimal("1e-9")}


def format_time(seconds: Number | None) -> str:
    """Seconds in a readable unit, 3 significant figures: ``139 µs``, ``1.39 ms``, ``2.5 s``."""
    parts = _sign_and_magnitude(seconds)
    if isinstance(parts, str):
        return parts
    sign, d = parts
    text, group = si_digits(d * Decimal("1e9"), top=len(_TIME_PREFIXES) - 1)
    return f"{sign}{text} {_TIME_PREFIXES[group]}s"


def parse_time(raw: object, what: str = "time") -> Number:
    """``2ms``, ``150us``, ``0.5s``, ``1.5e-4`` (seconds) -> seconds."""
    value, unit = _split(raw, what, "2ms, 150us, 0.5s or 1.5e-4 (seconds)")
    if unit == "":
        return float(value)
    if unit not in _TIME_UNITS:
        raise ConfigError(f"invalid {what} {raw!r}: unknown unit {unit!r}; use s, ms, us or ns")
    return float(value * _TIME_UNITS[unit])
