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
from collections import Counter
from typing import Iterable, NamedTuple

#: Scope parts a quantization library adds inside the user's layer: AQT's
#: ``AqtDotGeneral_0``/``AqtConvGeneralDilated_0``/``AqtEinsum_0`` submodules
#: and their methods (``AqtDotGeneral_0.shared_forward_fn``, ``.make_aqt_dg``).
#: Equinox's layers name their scope after their class (``eqx.nn.Linear``),
#: which says nothing about which of the model's layers it is.
LIBRARY_PART = re.compile(r"Aqt[A-Za-z]+_\d+(\.\w+)?|aqt_fwd|aqt_bwd|eqx\.nn\.\w+")


@functools.lru_cache(maxsize=4096)
def user_layer_name(name: str) -> str:
    """``ConvNet/fc/AqtDotGeneral_0/.../aqt_fwd`` -> ``ConvNet/fc`` (the name itself if nothing is left)."""
    parts = [p for p in name.split("/") if not LIBRARY_PART.fullmatch(p)]
    return "/".join(parts) or name


@functools.lru_cache(maxsize=4096)
def library_only(scope: str) -> bool:
    """Whether every part of ``scope`` is a library's (nothing the user named)."""
    return all(LIBRARY_PART.fullmatch(p) for p in scope.split("/"))


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


# ------------------------------------------------------- distinct names
#
# Two contractions in one scope (attention's q @ k.T and p @ v, a Qwix PTQ
# layer's two einsums, a layer applied twice) would share its name, so
# ``--bits`` could not pick one and ``diff`` would add them up. Each record
# carries a :class:`Site`; names are decided once every record is known
# (:func:`distinct_names`), while ``--bits`` patterns are matched during the
# walk against every name the record may end up with (:func:`aliases`).

class Site(NamedTuple):
    """Where a contraction sits: its scope, its einsum form, its ordinals there."""

    base: str
    spec: str
    nth: int  # 1-based, among the scope's contractions in program order
    nth_of_spec: int  # 1-based, among those with the same spec


def einsum_spec(eqn) -> str:
    """``dot_general``'s dimension numbers as an einsum, ``ab,bc->ac``; ``conv`` for a convolution.

    Letters follow the lhs axes, then the rhs free axes; the output is jax's
    order: batch, lhs free, rhs free.
    """
    if eqn.primitive.name == "conv_general_dilated":
        return conv_spec(eqn.params["dimension_numbers"])
    if eqn.primitive.name != "dot_general":
        return eqn.primitive.name.split("_")[0]
    return _dot_spec(eqn.params["dimension_numbers"], len(eqn.invars[0].aval.shape),
                     len(eqn.invars[1].aval.shape))


@functools.lru_cache(maxsize=1024)
def _dot_spec(dimension_numbers, nl: int, nr: int) -> str:
    (lc, rc), (lb, rb) = dimension_numbers
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    lhs = [next(letters) for _ in range(nl)]
    rhs = [""] * nr
    for i, j in (*zip(lc, rc), *zip(lb, rb)):
        rhs[j] = lhs[i]
    rhs = [c or next(letters) for c in rhs]
    out = [lhs[i] for i in lb] + [lhs[i] for i in range(nl) if i not in lc and i not in lb] + \
          [rhs[j] for j in range(nr) if j not in rc and j not in rb]
    return f"{''.join(lhs)},{''.join(rhs)}->{''.join(out)}"


@functools.lru_cache(maxsize=256)
def conv_spec(dn) -> str:
    """A convolution's layout, ``NHWC,HWIO->NHWC``: a weight gradient's differs from the forward's."""
    def layout(spec, first, second):
        letters = [""] * len(spec)
        letters[spec[0]], letters[spec[1]] = first, second
        for k, axis in enumerate(spec[2:]):
            letters[axis] = "HWDXYZ"[k] if len(spec) <= 5 else str(k)
        return "".join(letters)
    return (f"{layout(dn.lhs_spec, 'N', 'C')},{layout(dn.rhs_spec, 'O', 'I')}"
            f"->{layout(dn.out_spec, 'N', 'C')}")


def aliases(site: Site) -> tuple[str, ...]:
    """Every name :func:`distinct_names` may give the record at ``site``."""
    b = site.base
    return (b, f"{b}#{site.nth}", f"{b}[{site.spec}]", f"{b}[{site.spec}]#{site.nth_of_spec}")


def distinct_names(records, base_of) -> list[str]:
    """One name per record, distinct within its phase.

    A scope with one contraction keeps its name. Otherwise the einsum spec is
    added where it tells the contractions apart (``attn[abcd,aecd->acbe]``), and
    the ordinal where it does not (``qkv#2``, ``attn[ab,bc->ac]#2``).
    """
    groups: dict = {}
    for r in records:
        groups.setdefault((r.phase, base_of(r)), []).append(r)
    names = {}
    for (_, base), members in groups.items():
        if len(members) == 1:
            names[id(members[0])] = base
            continue
        by_spec = Counter(r.site.spec for r in members)
        # which of the site's aliases: by ordinal alone, by spec, or by spec and ordinal
        which = 1 if len(by_spec) == 1 else None
        for r in members:
            pick = which if which is not None else (2 if by_spec[r.site.spec] == 1 else 3)
            names[id(r)] = aliases(r.site._replace(base=base))[pick]
    return [names[id(r)] for r in records]


class LayerText(NamedTuple):
    """A warning about one contraction, written once its final name is known.

    It reads ``name + body + pattern + tail``: the contraction's name, then a
    ``--bits`` regex that picks exactly that contraction.
    """

    site: Site
    phase: str
    body: str
    tail: str
    #: what the warning is about: "float_fallback" (an operand counted as a float for lack of
    #: evidence; the warnings panel groups these by cause) or "" (anything else)
    kind: str = ""
    #: the operand it is about ("lhs"/"rhs"), for a warning about one operand's width
    side: str = ""
    #: kept for re-pricing but not shown: an override replaced the operand it is about
    hidden: bool = False


_SUFFIX = re.compile(r"(\[[^\[\]]*\])?(#\d+)?$")


def base_name(name: str) -> str:
    """``attn[abc,cd->abd]#2`` -> ``attn``: the scope a contraction's name was made from."""
    return _SUFFIX.sub("", name, count=1)
