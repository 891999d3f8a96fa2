"""Text made safe for every output format: JSON, XML and the terminal.

A report carries user text (file names that are not UTF-8, model names with
control characters or ANSI escapes) and floats JSON has no token for. These
functions clean that text at the edge, where each format is written, so the
records themselves keep what the model said.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def unsurrogate(text: object) -> str:
    """``text`` with lone surrogates written as backslash escapes: valid UTF-8 in every format.

    Python decodes a file name that is not UTF-8 with ``surrogateescape``
    (byte 0xff becomes U+DCFF); such a string cannot be encoded, so it is
    shown as ``os.fsdecode`` + ``backslashreplace`` would: ``m\\xff.py``.
    """
    text = str(text)
    return _SURROGATE.sub(_escape_surrogate, text) if _SURROGATE.search(text) else text


def finite(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by None (JSON has no such numbers)
    and every string made encodable (:func:`unsurrogate`)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, str):
        return unsurrogate(data)
    if isinstance(data, dict):
        return {unsurrogate(k) if isinstance(k, str) else k: finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v) for v in data]
    return data


def to_json(data: Any) -> str:
    """Always valid JSON: no NaN/Infinity tokens, one trailing newline."""
    return json.dumps(finite(data), indent=2, allow_nan=False) + "\n"


_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` without ANSI escape sequences and the characters XML 1.0 cannot hold."""
    return _NOT_XML.sub("", _ANSI.sub("", unsurrogate(text)))


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def printable(text: object) -> str:
    """``text`` without ANSI escape sequences and control characters (for a terminal)."""
    return _CONTROL.sub("", _ANSI.sub("", unsurrogate(text)))
