"""Option values as people type them, on the command line or in a config file.

One parser per option, shared by ``acecost analyze``, ``acecost check`` and
``[tool.acecost]``: each takes the raw value (a string, or a TOML value) and
the name to quote in the error, and returns the value or raises
:class:`ConfigError`. Digits are ASCII (``int('²')`` is not a width) and
every number is bounded, so nothing odd reaches jax.
"""

from __future__ import annotations

import re

from acecost.errors import ConfigError

MODES = ("inference", "train")
#: Values of ``--cond`` and ``--scales``, the first the default.
COND_MODES = ("max", "quantized")
SCALES_MODES = ("strict", "codes")

MAX_DIM = 2**31 - 1  # an array dimension jax can hold
MAX_COUNT = 2**63 - 1  # a loop trip count


def _ascii_int(raw: object) -> int | None:
    """An integer from TOML, or from a string of ASCII digits (no '²', no '٣')."""
    if isinstance(raw, str):
        text = raw.strip()
        return int(text) if re.fullmatch(r"[0-9]{1,30}", text) else None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    return None


def parse_input_shape(raw: object, where: str = "input_shape") -> tuple[int, ...]:
    """``"1,224,224,3"``, ``"1x224x224x3"`` or ``[1, 224, 224, 3]``; every dimension >= 1."""
    if isinstance(raw, str):
        parts = [p.strip() for p in re.split(r"[,x]", raw.strip().strip("()[]"))]
        dims = [_ascii_int(p) for p in parts]
        if parts == [""] or any(d is None for d in dims):
            raise ConfigError(f"invalid {where} {raw!r}: expected integers like 1,224,224,3")
    elif isinstance(raw, (list, tuple)) and raw:
        dims = [d if isinstance(d, int) and not isinstance(d, bool) else None for d in raw]
        if any(d is None for d in dims):
            raise ConfigError(f"invalid {where} {raw!r}: expected a list of integers like [1, 224, 224, 3]")
    else:
        raise ConfigError(f"invalid {where} {raw!r}: expected a list of integers like [1, 224, 224, 3]")
    if any(not 1 <= d <= MAX_DIM for d in dims):
        raise ConfigError(f"invalid {where} {raw!r}: every dimension must be from 1 to {MAX_DIM}")
    return tuple(dims)


def parse_float_bits(raw: object, where: str = "float_bits") -> int | str:
    """An operand width in bits, or ``"dtype"`` for the storage dtype's width."""
    if isinstance(raw, str) and raw.strip() == "dtype":
        return "dtype"
    value = _ascii_int(raw)
    if value is not None and 1 <= value <= 64:
        return value
    raise ConfigError(f"invalid {where} {raw!r}: expected an integer from 1 to 64 or 'dtype'")


def parse_bits_override(raw: object, where: str = "bits") -> tuple[str, int | None, int | None]:
    """``"REGEX=A,W"`` -> (regex, activation bits, weight bits).

    The last ``=`` splits, so the regex itself may contain ``=``. An empty
    side (``"head=,8"``) keeps the inferred width, as ``acecost analyze
    --bits`` does.
    """
    usage = f"invalid {where} {raw!r}: expected REGEX=A,W like 'conv1=8,8' or 'head=,8'"
    if not isinstance(raw, str) or "=" not in raw:
        raise ConfigError(usage)
    pattern, _, widths = raw.rpartition("=")
    m = re.fullmatch(r"\s*([0-9]{0,30})\s*,\s*([0-9]{0,30})\s*", widths)
    if m is None or not pattern or not (m[1] or m[2]):
        raise ConfigError(usage)
    a, w = (int(x) if x else None for x in (m[1], m[2]))
    if any(x is not None and not 1 <= x <= 64 for x in (a, w)):
        raise ConfigError(f"invalid {where} {raw!r}: bit-widths must be from 1 to 64")
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as e:
        raise ConfigError(f"invalid {where} {raw!r}: bad regex: {e}") from None
    return pattern, a, w


def parse_int(raw: object, where: str, minimum: int = 0, maximum: int = MAX_DIM) -> int:
    """An integer option given as a TOML integer or a command-line string."""
    value = _ascii_int(raw)
    if value is not None and minimum <= value <= maximum:
        return value
    kind = "a non-negative integer" if minimum == 0 else f"an integer >= {minimum}"
    raise ConfigError(f"invalid {where} {raw!r}: expected {kind} (at most {maximum})")


def parse_while_trips(raw: object, where: str = "while_trips") -> int:
    return parse_int(raw, where, 0, MAX_COUNT)


def parse_resolution(raw: object, where: str = "resolution") -> int:
    return parse_int(raw, where, 8)


def parse_batch(raw: object, where: str = "batch") -> int:
    return parse_int(raw, where, 1)


def parse_dtype(raw: object, where: str = "dtype") -> str:
    """A dtype name like ``float32`` or ``bfloat16`` (the model checks it exists)."""
    if isinstance(raw, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,40}", raw.strip()):
        return raw.strip()
    raise ConfigError(f"invalid {where} {raw!r}: expected a dtype name like 'float32'")


def parse_entry(raw: object, where: str = "entry") -> str:
    """A Python identifier: the function or Module of a model file to use."""
    if isinstance(raw, str) and raw.strip().isidentifier() and raw.strip().isascii():
        return raw.strip()
    raise ConfigError(f"invalid {where} {raw!r}: expected a Python name like 'acecost_model'")


def parse_mode(raw: object, where: str = "mode") -> str:
    if raw in MODES:
        return raw
    raise ConfigError(f"invalid {where} {raw!r}: expected 'inference' or 'train'")


def parse_cond(raw: object, where: str = "cond") -> str:
    if raw in COND_MODES:
        return raw
    raise ConfigError(f"invalid {where} {raw!r}: expected 'max' or 'quantized'")


def parse_scales(raw: object, where: str = "scales") -> str:
    if raw in SCALES_MODES:
        return raw
    raise ConfigError(f"invalid {where} {raw!r}: expected 'strict' or 'codes'")
