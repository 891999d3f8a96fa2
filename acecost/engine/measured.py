"""Facts measured in concrete weights: distinct values per output channel, and nonzeros.

``levels="measured"`` prices a weight operand at ``min(inferred, ceil(log2 L))``
bits, ``L`` the largest number of distinct values in any output channel (a fiber
of the weight along the contraction's axes); ``sparsity="discount"`` counts only
the multiplications by a nonzero weight. Both read the weights as a mapping
parameter path -> array (arrays given as parameters, or a checkpoint read one
tensor at a time), hold one tensor at a time, and keep only the small facts:
one count per (path, contracting axes), one nonzero count per path.
See docs/design.md, "Measured weights", for the rules and why they are sound.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from acecost.engine.values.levels import ceil_log2
from acecost.engine.values.value import Value
from acecost.report.model import MEASURED_SOURCE, BitsOrigin

#: priced bits at least this many times the measured bits draw the "--levels measured" hint
FAR_FEWER = 2

#: rows sorted at once: bounds the sort's buffer beside the tensor itself
_CHUNK = 1 << 22


def distinct_per_fiber(array, axes: tuple[int, ...], cap: int | None = None) -> int:
    """The largest number of distinct values along ``axes`` over every index of the other axes.

    ``axes`` empty: 1 (each fiber is one element); all axes: the whole tensor's count.
    NaNs compare unequal, so each counts as its own value: never fewer than there are.
    Channels are taken in blocks along the longest other axis, each block copied and sorted
    on its own (at most ``_CHUNK`` elements beside the tensor). With a ``cap``, blocks start
    small and the scan stops once a channel holds more than ``cap`` values: the count
    returned is then only known to exceed it.
    """
    arr = np.asarray(array)
    if arr.size == 0:
        return 0
    axes = tuple(sorted(axes))
    keep = [a for a in range(arr.ndim) if a not in axes]
    fiber = math.prod(arr.shape[a] for a in axes)
    along = max(keep, key=lambda a: arr.shape[a]) if keep else None
    per_index = arr.size // arr.shape[along] if along is not None else arr.size
    budget = min(_CHUNK, 1 << 16) if cap is not None else _CHUNK
    best, start, n = 1, 0, arr.shape[along] if along is not None else 1
    while start < n:
        step = max(1, budget // per_index)
        block = arr if along is None else arr[(slice(None),) * along + (slice(start, start + step),)]
        table = _comparable(block.transpose(keep + list(axes)).reshape(-1, fiber), arr)
        table.sort(axis=1)
        changes = np.count_nonzero(table[:, 1:] != table[:, :-1], axis=1)
        best = max(best, int(changes.max()) + 1)
        del table, block
        if cap is not None and best > cap:
            break
        start, budget = start + step, min(_CHUNK, budget * 2)
    return best


def _comparable(table: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``table`` as an array of its own (it is sorted in place: the weights are never touched)
    that numpy sorts and compares by value."""
    if table.dtype.kind == "V" or table.dtype.type.__module__.startswith("ml_dtypes"):
        return table.astype(np.float32)  # bfloat16, float8, int4: widening to float32 is exact
    if table.dtype.kind == "b":
        return table.astype(np.uint8)
    return table.copy() if np.may_share_memory(table, source) else table


def _fiber(shape, axes: tuple[int, ...] | None) -> int:
    """Elements of one channel along ``axes`` (None: the whole tensor)."""
    return math.prod(shape[a] for a in (range(len(shape)) if axes is None else axes))


def count_nonzero(array) -> int:
    arr = np.asarray(array)
    flat = arr.reshape(-1)
    return sum(int(np.count_nonzero(flat[i:i + _CHUNK])) for i in range(0, flat.size, _CHUNK))


@dataclass(frozen=True)
class Measured:
    """What was measured of one weight operand."""

    path: str
    #: distinct values per output channel (the largest), or None when not measured
    levels: int | None
    #: whether ``levels`` is per output channel (else a whole-tensor bound)
    per_channel: bool
    #: nonzeros and elements of the operand, or None when its density is not known exactly
    nnz: int | None
    size: int
    #: elements of a channel (of the whole tensor for a bound)
    fiber: int = 0

    @property
    def bits(self) -> int | None:
        return None if self.levels is None else ceil_log2(self.levels)

    @property
    def evidence(self) -> bool:
        """Whether the count says anything: a channel with as many distinct values as elements (every
        float channel) holds no sign of fewer levels, and ``ceil(log2 L)`` would then only be the
        logarithm of its fan-in."""
        return self.levels is not None and self.levels < self.fiber

    @property
    def density(self) -> float | None:
        return None if self.nnz is None else self.nnz / self.size if self.size else 1.0

    def source(self, inferred_bits: int) -> str:
        where = "per output channel" if self.per_channel else "in the whole tensor (a bound)"
        return f"{MEASURED_SOURCE} {self.levels} levels {where} of '{self.path}' (inferred: {inferred_bits} bits)"


#: Primitives whose output is a view of one parameter that measuring can follow (:meth:`WeightFacts.note_view`).
VIEW_PRIMITIVES = frozenset(("transpose", "convert_element_type", "acecost_tag", "reshape", "squeeze",
                             "expand_dims"))


@dataclass(frozen=True)
class View:
    """A value that is a parameter seen another way: ``axes[i]`` is the parameter axis that the
    value's axis ``i`` is (None: not mapped, only the whole tensor's count bounds it)."""

    path: str
    axes: tuple[int, ...] | None


class WeightFacts:
    """Concrete weights and the facts measured in them, cached by path and contracting axes.

    ``weights`` may read a tensor from disk on each lookup: a tensor is read once per
    fact needed and not kept.
    """

    def __init__(self, weights: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]]):
        self.weights = weights
        self.shapes = dict(shapes)
        #: (path, contracting axes) -> (count, whether it is exact or only known to exceed a cap)
        self._levels: dict[tuple[str, tuple[int, ...]], tuple[int, bool]] = {}
        self._nnz: dict[str, int] = {}
        #: atom of a value -> the parameter it is a view of (:meth:`note_view`)
        self.views: dict[int, View] = {}

    def has(self, path: str) -> bool:
        return path in self.weights

    def levels(self, path: str, axes: tuple[int, ...], want_nnz: bool = False, cap: int | None = None) -> int:
        """The largest distinct count of a channel of ``path`` along ``axes`` (exact, or with a
        ``cap`` either exact or only known to be above it)."""
        key = (path, axes)
        known = self._levels.get(key)
        if known is None or not (known[1] or cap is not None and known[0] > cap):
            array = self.weights[path]
            count = distinct_per_fiber(array, axes, cap)
            self._levels[key] = (count, cap is None or count <= cap)
            if want_nnz and path not in self._nnz:
                self._nnz[path] = count_nonzero(array)
            del array
        return self._levels[key][0]

    def nonzeros(self, path: str) -> int:
        if path not in self._nnz:
            self._nnz[path] = count_nonzero(self.weights[path])
        return self._nnz[path]

    def view_of(self, value: Value) -> View | None:
        """The parameter ``value`` is, or is a view of; None when it is neither. A value whose
        linear form is one atom times a nonzero number (``-w``) has that atom's levels and zeros."""
        if value.name is not None and tuple(self.shapes.get(value.name, ())) == tuple(value.shape):
            return View(value.name, tuple(range(len(value.shape))))
        if len(value.form) == 1 and value.form[0][1] != 0:
            return self.views.get(value.form[0][0])
        return None

    def note_view(self, eqn, source: Value, out: Value) -> None:
        """Remember that ``out`` is a view of a parameter when ``source`` is one (the walker
        calls this for :data:`VIEW_PRIMITIVES` while weights are measured).

        A transpose permutes the axes. An element type cast keeps them; it is a function of
        each element, so it adds no value to a channel, and it maps zero to zero, so it adds
        no nonzero (a narrowing one may round a small weight to zero: the parameter's
        nonzeros are then a bound). A reshape keeps the elements, so their nonzeros, but not
        the channels: the whole tensor's count bounds its levels.
        """
        view = self.view_of(source)
        if view is None or len(out.form) != 1:
            return
        name = eqn.primitive.name
        if name == "transpose":
            axes = None if view.axes is None else tuple(view.axes[a] for a in eqn.params["permutation"])
            view = View(view.path, axes)
        elif name not in ("convert_element_type", "acecost_tag"):  # a tag is the identity
            view = View(view.path, None)
        self.views[out.form[0][0]] = view

    def measure(self, value: Value, contracting: frozenset[int], want_nnz: bool,
                cap: int | None = None) -> Measured | str:
        """The facts of an operand that is a stored parameter, or why it cannot be measured.

        Per channel where the operand is the parameter itself, a transpose or cast of it
        (:meth:`note_view`), or a slice of it a scan takes along leading axes (those axes are
        output channels too: the largest count over every slice). Any other view of the
        parameter (a reshape; ``value.name`` set, another shape) holds only its values: the
        whole tensor's count bounds it. Nonzeros only where the operand holds every element.
        """
        view = self.view_of(value)
        if view is not None and view.path in self.weights:
            axes = None if view.axes is None else tuple(sorted(view.axes[a] for a in contracting))
            levels = self.levels(view.path, tuple(range(len(self.shapes[view.path]))) if axes is None else axes,
                                 want_nnz, cap)
            nnz = self.nonzeros(view.path) if want_nnz else None
            return Measured(view.path, levels, axes is not None, nnz, value.size,
                            _fiber(self.shapes[view.path], axes))
        path = value.name
        if path is None:
            return "it is not a stored parameter nor a transpose, cast or reshape of one" \
                if value.origins - {""} else "it is not a parameter"
        if not self.has(path):
            return f"no concrete values for parameter '{path}'"
        shape = tuple(self.shapes.get(path, value.shape))
        k = len(shape) - len(value.shape)
        # the trailing axes, and only there (a Pallas block of one column of a square kernel
        # would also end the shape: not followed)
        places = [j for j in range(k + 1) if shape[j:j + len(value.shape)] == tuple(value.shape)]
        if k >= 0 and places == [k]:
            axes = tuple(sorted(a + k for a in contracting))
            exact_density = k == 0
            levels = self.levels(path, axes, want_nnz and exact_density, cap)
            per_channel = True
        else:
            levels = self.levels(path, tuple(range(len(shape))), cap=cap)
            exact_density, per_channel = False, False
        nnz = self.nonzeros(path) if want_nnz and exact_density else None
        return Measured(path, levels, per_channel, nnz, value.size,
                        _fiber(shape, axes if per_channel else None))


def _values(n: int) -> str:
    return f"{n} distinct value{'' if n == 1 else 's'}"


def _bits(n: int) -> str:
    return f"{n} bit{'' if n == 1 else 's'}"


def uniform_per_weight(eqn, side: str) -> bool:
    """Whether every element of the ``side`` operand takes part in the same number of MACs.

    A ``dot_general``: each element meets every free element of the other operand in its
    batch. A convolution's kernel, padded taps counted: each tap serves every output
    position (N x H_out x W_out). Not an input-dilated conv (the inserted zeros are not
    counted, so taps differ) nor a conv whose "weight" is its input side.
    """
    name = eqn.primitive.name
    if name == "dot_general":
        return True
    if name == "conv_general_dilated" and side == "rhs":
        return all(d == 1 for d in (eqn.params.get("lhs_dilation") or ()))
    return False


@dataclass(frozen=True)
class WeightPricing:
    """A weight operand's width and MACs once its concrete values are measured."""

    width: Any  #: :class:`acecost.engine.contraction.Width`
    macs: int
    #: what the record shows (None: not computed, left out of the JSON)
    measured_levels: int | None = None
    weight_density: float | None = None


def price_weight(facts: WeightFacts, options, eqn, value: Value, side: str, contracting: frozenset[int],
                 width, macs: int, warn) -> WeightPricing:
    """The weight operand ``value`` priced with what its concrete values show.

    ``width`` is the inferred :class:`~acecost.engine.contraction.Width`; ``warn(body,
    tail)`` adds a warning about this contraction (its ``--bits`` pattern between them).
    """
    measured = options.levels == "measured"
    discount = options.sparsity == "discount"
    # a float operand measured for the hint alone: a count past the hint's is not made exact
    cap = 2 ** (width.bits // FAR_FEWER) if not measured and width.origin.is_float else None
    m = facts.measure(value, contracting, discount, cap)
    if isinstance(m, str):
        # a width the graph proves is not what measuring is for; zeros it could discount are
        if (measured and width.origin.is_float or discount) and value.origins - {""}:
            warn(f": weight operand {list(value.shape)} not measured ({m}); priced as inferred. "
                 "Tag it with acecost.tag(x, bits=N) or pass --bits '", "=,N'.")
        return WeightPricing(width, macs)
    bits, levels = m.bits, m.levels
    if m.per_channel and not width.origin.is_float and levels > 2 ** width.bits:
        warn(f": weight '{m.path}' holds {_values(levels)} per output channel ({_bits(bits)}) "
             f"but the graph prices it at {_bits(width.bits)} (a quantizer or declaration that does not "
             "reach the stored weights?); check it, or pass --bits '", f"=,{bits}'.")
    if not m.evidence:
        pass  # as many values as elements: no sign of quantization, the width stays inferred
    elif measured:
        if bits < width.bits and width.origin is not BitsOrigin.DECLARED:
            width = width._replace(bits=bits, source=m.source(width.bits),
                                   reason=None, origin=BitsOrigin.MEASURED, cause=None, stored=False,
                                   zero_point=False)
    elif bits * FAR_FEWER <= width.bits and width.origin is not BitsOrigin.DECLARED:
        where = "per output channel" if m.per_channel else "in all"
        warn(f": weight '{m.path}' holds {_values(levels)} {where} ({_bits(bits)}) but is priced at "
             f"{width.bits} bits: pass --levels measured, or --bits '", f"=,{bits}'.")
    density = None
    if discount:
        if m.nnz is None:
            warn(f": weight '{m.path}' is read as a slice or view, not as stored: its zeros are "
                 "not discounted (--sparsity discount). To set its width alone: --bits '", "=,N'.")
        elif not uniform_per_weight(eqn, side) or (macs * m.nnz) % m.size:
            warn(f": `{eqn.primitive.name}` does not use every weight element equally often: its "
                 "zeros are not discounted (--sparsity discount). To set its width alone: --bits '", "=,N'.")
        else:
            macs, density = macs * m.nnz // m.size, m.density
    return WeightPricing(width, macs, levels if measured else None, density)
