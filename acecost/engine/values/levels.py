"""The level-structure lattice: what the analysis knows about a value's levels.

A dot/conv operand costs ``ceil(log2 n)`` bits when it takes at most ``n``
distinct values once a scale (and offset) that does not vary along the
contracting dimensions is factored out. :class:`Levels` records exactly what is
needed to decide that:

* ``count`` / ``axes`` -- at any position the value is one of at most
  ``count`` values, and that set of values may differ only along ``axes``
  (the axes its scale or offset varies along). ``count=None`` means no
  level structure is proven.
* ``lo`` / ``hi`` / ``integral`` -- a global range and whether every value is
  an integer. An integral value in ``[lo, hi]`` has at most ``hi-lo+1``
  levels everywhere, which is how clip + round quantizers are recognised.
* ``const`` -- the value is a compile-time constant (a literal or a folded
  constant); constants carry no evidence of quantization on their own.
* ``tag`` -- a bit-width the user declared with :func:`acecost.tag`.
* ``why`` -- a short account of where the structure came from or where the
  chain of evidence broke, shown in warnings.
* ``cause`` -- the same account as data, for code to read instead of the
  text: for an unknown, the :class:`~acecost.report.model.FallbackCause` set by
  the rule that lost the structure (:func:`unknown`); for an integer
  parameter counted from its dtype, ``BitsOrigin.STORAGE_WIDTH``; else None.
  It follows ``why``: a rule that keeps an input's why keeps its cause, a new
  why drops it (:meth:`Levels.with_`) unless the rule gives one. Loop
  fixpoints compare levels without ``why`` or ``cause``
  (:func:`acecost.engine.rules.loops.same_value`).
* ``groups`` -- along some of ``axes``, the set depends on the coordinate
  only through a group index of few values, such as an aligned block of
  elements sharing one scale (:mod:`acecost.engine.values.groups`).
* ``flat`` -- a second proof, kept only when it says something ``count`` /
  ``axes`` do not: the whole tensor takes at most ``flat`` values (no
  varying axes). A per-channel-scaled value re-quantized per tensor has both
  (16 levels per channel, and 255 levels overall); an operand is priced by
  whichever proof holds along its contraction.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple, Union

import numpy as np

from acecost.report.model import BitsOrigin, FallbackCause

#: Marks the level count of an integer parameter read straight from its dtype.
STORAGE_WIDTH = "taken at its storage width"

#: Distinct values beyond which a float constant table is no evidence.
MAX_TABLE_LEVELS = 256


class Levels(NamedTuple):
    """Immutable, and a tuple: one is made per equation, so it must be cheap."""

    count: int | None = None
    axes: frozenset[int] = frozenset()
    lo: float | None = None
    hi: float | None = None
    integral: bool = False
    const: bool = False
    tag: int | None = None
    why: str = ""
    flat: int | None = None
    #: the level set varies along ``axes`` only by a factor (``codes * scale``), not by an
    #: offset or any other function: only then can the scale move onto the other operand
    scaled: bool = False
    #: ((axis, n, block), ...): along each such axis of ``axes`` the set depends on the coordinate only
    #: through a group index of at most n values (a group-wise scale), a function of
    #: ``i // block`` when ``block`` is known (:mod:`acecost.engine.values.groups`)
    groups: tuple = ()
    #: ``why`` as data (see the module's docstring): a FallbackCause, BitsOrigin.STORAGE_WIDTH or None
    cause: Union[FallbackCause, BitsOrigin, None] = None

    @property
    def known(self) -> bool:
        return self.count is not None

    def with_(self, **changes) -> "Levels":
        """A copy with ``changes``; a new ``why`` without a ``cause`` drops the old cause."""
        if "why" in changes and "cause" not in changes and self.cause is not None \
                and changes["why"] != self.why:
            changes["cause"] = None
        return self._replace(**changes)


def flat_count(lv: Levels) -> int | None:
    """Values the whole tensor takes at most (one level set everywhere), if proven."""
    if lv.flat is not None:
        return lv.flat
    return lv.count if lv.count is not None and not lv.axes else None


def with_flat(lv: Levels, flat: int | None) -> Levels:
    """``lv`` with the whole-tensor bound ``flat``, stored only where it adds to (count, axes)."""
    if flat is None or not lv.axes or lv.count is None:
        return lv if lv.flat is None or lv.axes else lv._replace(flat=None)
    if flat <= lv.count:
        return lv._replace(count=flat, axes=frozenset(), flat=None, groups=())
    return lv if flat == lv.flat else lv._replace(flat=flat)


def unknown(why: str, *, lo=None, hi=None, integral=False, cause=None) -> Levels:
    """No level structure; ``cause``: why, as data (a FallbackCause, or that of the input whose
    ``why`` is kept), None for one that is not classified (OTHER where it falls back)."""
    return Levels(count=None, lo=lo, hi=hi, integral=integral, why=why, cause=cause)


def ceil_log2(n: int) -> int:
    """Bits needed for ``n`` levels, at least 1 (a 1-level operand is still read)."""
    return max(1, math.ceil(math.log2(n))) if n > 1 else 1


def range_count(lo, hi) -> int | None:
    """Integers in ``[lo, hi]``, or None when a bound is missing or infinite."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return max(1, int(math.floor(hi)) - int(math.ceil(lo)) + 1)


def np_dtype(dtype) -> np.dtype:
    """The numpy dtype of a jax dtype; extended ones (PRNG keys) become ``object``.

    Key arrays flow through AQT's quantizers (its stochastic-rounding keys
    enter the ``custom_vjp``); they hold no numbers to count, so they only
    need a placeholder dtype.
    """
    try:
        return _NP_DTYPES[dtype]
    except KeyError:
        try:
            dt = np.dtype(dtype)
        except TypeError:
            dt = np.dtype(object)
        _NP_DTYPES[dtype] = dt
        return dt
    except TypeError:  # unhashable: not a plain dtype
        return np.dtype(object)


_NP_DTYPES: dict = {}


def is_float8(dtype) -> bool:
    """A float of at most 8 bits (every float8 variant, float6, float4): see :func:`narrow_float_bits`."""
    return narrow_float_bits(np_dtype(dtype)) is not None


@functools.lru_cache(maxsize=None)
def narrow_float_bits(dt: np.dtype) -> int | None:
    """The width of a float of at most 8 bits (``float8_*`` 8, ``float6_*`` 6, ``float4_e2m1fn`` 4), else None.

    Read from ``ml_dtypes.finfo``, so every narrow float ml_dtypes defines is
    covered, whatever numpy kind it reports (``float8_e5m2`` is kind ``f``,
    the others ``V``). Such a value takes at most ``2**bits`` values.
    """
    name = str(dt)
    if dt.kind not in "fV" or not name.startswith("float") or dt.itemsize != 1:
        return None
    try:
        import ml_dtypes

        bits = int(ml_dtypes.finfo(dt).bits)
    except (ImportError, TypeError, ValueError, AttributeError):
        return None
    return bits if bits <= 8 else None


def dtype_bits(dtype) -> int:
    """Storage width of a dtype in bits (int4 -> 4, bool -> 1, float4_e2m1fn -> 4, float6_* -> 6)."""
    return _dtype_bits(np_dtype(dtype))


@functools.lru_cache(maxsize=None)
def _dtype_bits(dt: np.dtype) -> int:
    if dt == np.bool_:
        return 1
    name = str(dt)
    for width in (1, 2, 4):
        if name in (f"int{width}", f"uint{width}"):
            return width
    narrow = narrow_float_bits(dt)
    if narrow is not None:
        return narrow
    return dt.itemsize * 8


def dtype_name(dtype) -> str:
    """``str(dtype)``, cached: numpy builds the name anew on every call."""
    try:
        return _DTYPE_NAMES[dtype]
    except KeyError:
        name = _DTYPE_NAMES[dtype] = str(dtype)
        return name
    except TypeError:  # unhashable
        return str(dtype)


_DTYPE_NAMES: dict = {}


def is_integer_dtype(dtype) -> bool:
    return _is_integer(np_dtype(dtype))


@functools.lru_cache(maxsize=None)
def _is_integer(dt: np.dtype) -> bool:
    return dt.kind in "iu" or str(dt) in ("int1", "int2", "int4", "uint1", "uint2", "uint4")


@functools.lru_cache(maxsize=None)
def _dtype_facts(dt: np.dtype) -> tuple[str, tuple[int, int] | None, int | None]:
    """(kind: bool/int/other, integer range, levels of a narrow float) for a dtype, computed once."""
    if dt == np.bool_:
        return "bool", (0, 1), None
    if is_integer_dtype(dt):
        return "int", integer_range(dt), None
    narrow = narrow_float_bits(dt)
    return "other", None, None if narrow is None else 2 ** narrow


def normalize(lv: Levels, dtype) -> Levels:
    """Fold in what the dtype proves, and the level count a range proves.

    Integer dtypes bound the value; bool has two levels; a float of ``b <= 8``
    bits (float8, float6, float4) has at most ``2**b``. An integral value
    within ``[lo, hi]`` has ``hi - lo + 1`` levels, the same set everywhere
    (so no varying axes).
    """
    dt = np_dtype(dtype)
    kind, info, narrow = _dtype_facts(dt)
    if kind == "other" and not narrow and not lv.integral:
        return lv  # a plain float proves nothing
    lo, hi, integral = lv.lo, lv.hi, lv.integral
    if kind == "bool":
        lo, hi, integral = (0 if lo is None else max(lo, 0)), (1 if hi is None else min(hi, 1)), True
    elif kind == "int":
        lo = info[0] if lo is None else max(lo, info[0])
        hi = info[1] if hi is None else min(hi, info[1])
        integral = True
    count, axes, why, flat, cause = lv.count, lv.axes, lv.why, lv.flat, lv.cause
    if integral:
        rc = range_count(lo, hi)
        if rc is not None and (count is None or rc <= count):
            # the dtype's range says more than a larger count's account does (an int8 cast of a scaled sum)
            by_dtype = kind != "other" and (lv.lo is None or lv.hi is None or lv.lo < lo or lv.hi > hi)
            if (by_dtype and count is not None and rc < count) or (count is None and not (lv.integral or lv.const)):
                why, cause = f"{dt} values in [{_fmt(lo)}, {_fmt(hi)}]", None
            count, axes, flat = rc, frozenset(), None
        elif rc is not None and axes and (flat is None or rc < flat):
            flat = rc  # fewer levels per position than the range holds, but a set that varies
    if narrow and (count is None or count > narrow):
        count, axes, why, flat, cause = narrow, frozenset(), f"{dt} storage", None, None
    elif narrow and axes and (flat is None or flat > narrow):
        flat = narrow
    if (count, axes, lo, hi, integral, why, flat) == (lv.count, lv.axes, lv.lo, lv.hi, lv.integral, lv.why, lv.flat):
        return lv
    return lv._replace(count=count, axes=axes, lo=lo, hi=hi, integral=integral, why=why, flat=flat,
                       groups=lv.groups if axes else (), cause=cause)


def integer_range(dt) -> tuple[int, int]:
    name = str(dt)
    special = {"int1": (-1, 0), "uint1": (0, 1), "int2": (-2, 1), "uint2": (0, 3), "int4": (-8, 7),
               "uint4": (0, 15)}
    if name in special:
        return special[name]
    info = np.iinfo(dt)
    return int(info.min), int(info.max)


def _fmt(x) -> str:
    if x is None:
        return "?"
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def describe_range(lv: Levels) -> str:
    return f"[{_fmt(lv.lo)}, {_fmt(lv.hi)}]"


#: Elements converted at a time while counting a constant's levels: the
#: extra memory of :func:`from_constant` is a few chunks, whatever the size.
CHUNK = 1 << 18

#: Distinct values tracked for an integral constant; beyond it the range bounds the count.
MAX_INTEGRAL_LEVELS = 1 << 16


def from_constant(value) -> Levels:
    """Levels of a concrete constant: its distinct values, when few.

    Counted chunk by chunk, so the extra memory is bounded whatever the
    constant's size (a 400 MB mask is neither copied whole nor widened to
    float64). Complex values are counted as complex numbers, and have a
    range only when they are all real.
    """
    arr = np.asarray(value)
    kind = arr.dtype.kind
    if arr.size == 1 and kind in "biuf":
        v = float(arr.reshape(()))
        if math.isfinite(v):
            return Levels(count=1, lo=v, hi=v, integral=v.is_integer(), const=True, why="scalar constant")
    if arr.size == 0:
        return Levels(count=1, const=True, why="empty constant")
    if kind == "b":
        lo, hi = (0.0 if not arr.all() else 1.0), (1.0 if arr.any() else 0.0)
        counted = _Counted(lo, hi, True, int(hi - lo) + 1)
    else:
        try:
            counted = _count_levels(arr.ravel(order="K"), kind)  # a view for C or Fortran order
        except (TypeError, ValueError):
            return Levels(count=1, const=True, why="constant")
    uniq = counted.distinct
    count = uniq if uniq is not None and (uniq <= MAX_TABLE_LEVELS or counted.integral) else None
    what = "scalar constant" if arr.ndim == 0 else (
        f"constant table of {uniq} distinct values" if uniq is not None else "constant table")
    return Levels(count=count, lo=counted.lo, hi=counted.hi, integral=counted.integral,
                  const=arr.size == 1, why=what)


class _Counted(NamedTuple):
    lo: float | None
    hi: float | None
    integral: bool
    distinct: int | None  # None: more than can be a level table


def _count_levels(flat: np.ndarray, kind: str) -> _Counted:
    """Range, integrality and distinct values of a 1-d array, one chunk at a time."""
    small_int = kind in "iu" and flat.dtype.itemsize <= 2
    # numpy's own floats are compared, floored and sorted exactly as they are: no float64 copy
    native_float = kind == "f" and flat.dtype in (np.float16, np.float32, np.float64)
    seen = np.zeros(1 << (8 * flat.dtype.itemsize), bool) if small_int else np.empty(0, flat.dtype)
    lo = hi = None
    integral, all_real, limit = True, True, MAX_INTEGRAL_LEVELS
    for start in range(0, flat.size, CHUNK):
        part = flat[start:start + CHUNK]
        if small_int:  # mark each value's slot: no sort, no float copy
            seen[part.astype(np.int64) - (np.iinfo(part.dtype).min if kind == "i" else 0)] = True
            lo, hi = _extend(lo, hi, part.min(), part.max())
            continue
        if kind not in "iu":
            num = part if native_float else part.astype(np.complex128 if kind == "c" else np.float64)
            if kind == "c":
                all_real = all_real and not num.imag.any()
                integral = integral and all_real
                real = num.real
            else:
                real = num
            finite = np.isfinite(real)
            all_finite = bool(finite.all())
            integral = integral and all_finite and bool((np.floor(real) == real).all())
            if all_real and all_finite:  # the usual case: no copy of the finite values
                lo, hi = _extend(lo, hi, real.min(), real.max())
            elif all_real and finite.any():
                lo, hi = _extend(lo, hi, real[finite].min(), real[finite].max())
            part = num
        else:
            lo, hi = _extend(lo, hi, part.min(), part.max())
        if not integral:
            limit = MAX_TABLE_LEVELS
        if seen is not None:
            rest = part
            if 0 < seen.size <= 8:  # a few values seen: compare, no sort, no copy when none is new
                new = part != seen[0]
                for known in seen[1:]:
                    new &= part != known
                rest = part[new] if new.any() else part[:0]
            if rest.size:
                seen = np.union1d(seen, np.unique(rest))
                if seen.size > limit:
                    seen = None
    if small_int:
        distinct = int(seen.sum())
    else:
        distinct = None if seen is None or seen.size > limit else int(seen.size)
    if not all_real:
        lo = hi = None
    return _Counted(lo, hi, integral, distinct)


def _extend(lo, hi, part_lo, part_hi):
    part_lo, part_hi = float(part_lo), float(part_hi)
    return (part_lo if lo is None else min(lo, part_lo)), (part_hi if hi is None else max(hi, part_hi))
