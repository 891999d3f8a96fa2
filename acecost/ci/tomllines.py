"""Where each acecost key sits in its TOML file, so CI annotations can point at it.

``tomllib`` returns values without positions. The acecost tables are flat
(``key = value`` lines under ``[tool.acecost]`` and ``[[tool.acecost.models]]``,
or ``[[models]]`` in ``acecost.toml``), so a line scan that follows the table
headers finds them, skipping the inner lines of multi-line strings and arrays;
a key it cannot place (an inline table, a dotted key) simply has no line, and
the annotation then names no line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

_ARRAY = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]")
_TABLE = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
_KEY = re.compile(r"""^\s*(?:"([A-Za-z0-9_-]+)"|'([A-Za-z0-9_-]+)'|([A-Za-z0-9_-]+))\s*=""")


@dataclass
class KeyLines:
    """1-based line numbers: the defaults table's keys, and per model its header and keys."""

    defaults: dict[str, int] = field(default_factory=dict)
    models: list[dict[str, int]] = field(default_factory=list)  # "" is the [[...models]] header

    def of_model(self, index: int, sets: Iterable[str]) -> dict[str, int]:
        """A model's key lines; a default's line only for a key the model does not set (``sets``).

        A key the model sets that the scan could not place (an inline table)
        has no line: the default's line would blame a value that is not the one checked.
        """
        own = self.models[index] if index < len(self.models) else {}
        sets = set(sets)
        return {**{k: v for k, v in self.defaults.items() if k not in sets}, **own}


def _header(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in text.split("."))


def _depth(text: str) -> tuple[int, str | None]:
    """Brackets a value line opens minus those it closes (strings and comments skipped),
    and the delimiter of a multi-line string it leaves open."""
    depth, i = 0, 0
    while i < len(text):
        c = text[i]
        if text.startswith(('"""', "'''"), i):
            end = text.find(text[i:i + 3], i + 3)
            if end < 0:
                return depth, text[i:i + 3]
            i = end + 3
            continue
        if c in "\"'":
            i += 1
            while i < len(text) and text[i] != c:
                i += 2 if c == '"' and text[i] == "\\" else 1
        elif c == "#":
            break
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return depth, None


def scan(text: str) -> KeyLines:
    """Key lines of the acecost tables of a pyproject.toml or acecost.toml text."""
    lines = text.splitlines()
    in_tool = any(_header(m[1])[:2] == ("tool", "acecost")
                  for m in map(lambda s: _ARRAY.match(s) or _TABLE.match(s), lines) if m)
    prefix = ("tool", "acecost") if in_tool else ()
    out = KeyLines()
    current: dict[str, int] | None = None if in_tool else out.defaults
    in_string = None  # the delimiter of a multi-line string being skipped
    depth = 0  # open brackets of a multi-line value: its lines are neither headers nor keys
    for number, line in enumerate(lines, start=1):
        if in_string is not None:
            end = line.find(in_string)
            if end < 0:
                continue
            line, in_string = line[end + 3:], None  # what follows the string's end
            if depth == 0:
                continue
        if depth > 0:
            change, in_string = _depth(line)
            depth = max(0, depth + change)
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
            if key:
                change, in_string = _depth(line[key.end():])
                depth = max(0, change)
    return out


def key_lines(path: Path) -> KeyLines:
    """:func:`scan` of a file; an unreadable file has no lines (its values were read already)."""
    try:
        return scan(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return KeyLines()
