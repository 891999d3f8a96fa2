"""Layer names as the user wrote them, without a quantization library's internals.

AQT runs each contraction inside its own submodule and forward function, so
a linen ``nn.Dense`` named ``fc`` reports its dot as
``ConvNet/fc/AqtDotGeneral_0/AqtDotGeneral_0.shared_forward_fn/aqt_fwd``.
The report calls it ``ConvNet/fc`` -- but only where that is unambiguous: a
module that makes several AQT contractions itself (three ``AqtEinsum``s for
q, k and v) keeps the full names, which are then the only ones that tell the
layers apart.
"""
from __future__ import annotations

import functools
import re
from typing import Iterable

#: Scope parts a quantization library adds inside the user's layer: AQT's
#: ``AqtDotGeneral_0``/``AqtConvGeneralDilated_0``/``AqtEinsum_0`` submodules
#: and their methods (``AqtDotGeneral_0.shared_forward_fn``, ``.make_aqt_dg``).
LIBRARY_PART = re.compile(r"Aqt[A-Za-z]+_\d+(\.\w+)?|aqt_fwd|aqt_bwd")


@functools.lru_cache(maxsize=4096)
def user_layer_name(name: str) -> str:
    """``ConvNet/fc/AqtDotGeneral_0/.../aqt_fwd`` -> ``ConvNet/fc`` (the name itself if nothing is left)."""
    parts = [p for p in name.split("/") if not LIBRARY_PART.fullmatch(p)]
    return "/".join(parts) or name


class UserNames:
    """Renames the layers and scopes of one report to the user's names where unambiguous."""

    def __init__(self, layer_names: Iterable[str]):
        by_short: dict[str, set[str]] = {}
        for name in set(layer_names):
            by_short.setdefault(user_layer_name(name), set()).add(name)
        #: short names two or more layers would share: those layers keep their full names
        self.ambiguous = {short for short, names in by_short.items() if len(names) > 1}
        self._renamed: dict[str, str] = {}
        self._pattern: re.Pattern | None = None
        self._pattern_size = 0

    def __call__(self, name: str) -> str:
        """A layer or elementwise scope's name in the report."""
        short = user_layer_name(name)
        if short in self.ambiguous:
            return name
        if short != name:
            self._renamed[name] = short
        return short

    def text(self, text: str) -> str:
        """A warning or source text with every renamed name in it renamed too.

        Whole names only: ``Encoder/fc/...`` inside ``TextEncoder/fc/...`` is
        a different layer and stays.
        """
        if not self._renamed:
            return text
        if self._pattern is None or self._pattern_size != len(self._renamed):
            names = sorted(self._renamed, key=len, reverse=True)
            self._pattern = re.compile(r"(?<![\w/.])(" + "|".join(map(re.escape, names)) + r")(?![\w/]|\.\w)")
            self._pattern_size = len(self._renamed)
        return self._pattern.sub(lambda m: self._renamed[m.group(1)], text)
