"""Where each acecost key sits in its TOML file, so CI annotations can point at it.

``tomllib`` returns values without positions. The acecost tables are flat
(``key = value`` lines under ``[tool.acecost]`` and ``[[tool.acecost.models]]``,
or ``[[models]]`` in ``acecost.toml``), so a line scan that follows the table
headers finds them; a key it cannot place (an inline table, a dotted key)
simply has no line, and the annotation then names no line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_ARRAY = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]")
_TABLE = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
_KEY = re.compile(r"""^\s*(?:"([A-Za-z0-9_-]+)"|'([A-Za-z0-9_-]+)'|([A-Za-z0-9_-]+))\s*=""")


@dataclass
class KeyLines:
    """1-based line numbers: the defaults table's keys, and per model its header and keys."""

    defaults: dict[str, int] = field(default_factory=dict)
    models: list[dict[str, int]] = field(default_factory=list)  # "" is the [[...models]] header

    def of_model(self, index: int) -> dict[str, int]:
        """A model's keys, with defaults where the model does not set the key itself."""
        own = self.models[index] if index < len(self.models) else {}
        return {**self.defaults, **own}


def _header(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in text.split("."))


def scan(text: str) -> KeyLines:
    """Key lines of the acecost tables of a pyproject.toml or acecost.toml text."""
    lines = text.splitlines()
    in_tool = any(_header(m[1])[:2] == ("tool", "acecost")
                  for m in map(lambda s: _ARRAY.match(s) or _TABLE.match(s), lines) if m)
    prefix = ("tool", "acecost") if in_tool else ()
    out = KeyLines()
    current: dict[str, int] | None = None if in_tool else out.defaults
    in_string = None  # the delimiter of a multi-line string being skipped
    for number, line in enumerate(lines, start=1):
        if in_string is not None:
            if line.count(in_string) % 2:
                in_string = None
            continue
        array, table = _ARRAY.match(line), _TABLE.match(line)
        if array:
            if _header(array[1]) == prefix + ("models",):
                out.models.append({"": number})
                current = out.models[-1]
            else:
                current = None
        elif table:
            current = out.defaults if _header(table[1]) == prefix and prefix else None
        else:
            key = _KEY.match(line)
            if key and current is not None:
                current.setdefault(next(g for g in key.groups() if g), number)
        for delim in ('"""', "'''"):
            if line.count(delim) % 2:
                in_string = delim
                break
    return out


def key_lines(path: Path) -> KeyLines:
    """:func:`scan` of a file; an unreadable file has no lines (its values were read already)."""
    try:
        return scan(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return KeyLines()
