"""Pricing one contraction: its operands' widths, its layer name, its record.

Kept apart from the walker (:mod:`acecost.engine.walker`), which hands every
``dot_general`` / ``conv_general_dilated`` / ``ragged_dot`` here with the
abstract values of its operands. Widths come from the operands' proven
levels (:meth:`ContractionPricing.operand_bits`), names from the scope and
the parameters read (:mod:`acecost.engine.names`).
"""
from __future__ import annotations

import functools
import re

from acecost.engine.values.levels import ceil_log2, describe_range, dtype_bits, narrow_float_bits, range_count
from acecost.engine.values.value import Value, nontrivial_axes
from acecost.engine.rules.contractions import Contraction
from acecost.engine.grad_names import INPUT
from acecost.engine.names import LayerText, Site, einsum_spec, library_only
from acecost.engine.pricing import (Side, Width, capped, float_width, held_bits, names_of, overridden, param_use,
                                    price_record, side_warnings)
from acecost.report.model import DECLARED_SOURCE, FALLBACK_SOURCE, BitsOrigin, FallbackCause, OpRecord
from acecost.engine.measured import WeightFacts, WeightPricing, price_weight
from acecost.engine.scales import codes_bits, fold_scale, group_scales
from acecost.report.traffic import storage_bits
from acecost.engine.tally import Tally

#: Source of an operand that is one value per row of the contraction.
ZERO_POINT_SOURCE = ("1 level: constant along the contracting dimensions once its per-row "
                     "value is factored out (an asymmetric zero-point correction)")

def stored_width(value: Value) -> bool:
    """Whether ``value``'s level count is an integer parameter's storage width."""
    return value.levels.cause is BitsOrigin.STORAGE_WIDTH


def _proven(bits: int, source: str, value: Value, stored: bool | None = None) -> Width:
    """A width from proven levels: INFERRED, or STORAGE_WIDTH when the levels' account is a dtype's."""
    stored = stored_width(value) if stored is None else stored
    return Width(bits, source, None, BitsOrigin.STORAGE_WIDTH if stored else BitsOrigin.INFERRED, stored=stored)


def per_row_constant(value: Value, contracting: frozenset[int]) -> bool:
    """Whether ``value`` is quantized and does not vary along any (non-trivial) contracting dim.

    Such an operand is a per-row scale times a tensor of ones: one level. It
    is what an asymmetric quantizer's zero-point correction
    ``dot(broadcast(zp), w)`` contracts against (Qwix ``minmax`` activations).
    A value with no level structure is left float even when it is constant
    along the contraction: a broadcast float (the gradient of a global
    average pool in a batch-1 weight gradient) is multiplied as written.
    """
    spread = contracting & nontrivial_axes(value.shape)
    return value.levels.known and bool(spread) and not (value.vary & contracting)


#: Path parts that wrap a quantized weight's codes rather than name a layer
#: (Qwix ``WithAux.array`` / ``QArray.qvalue``, AQT ``Freezer`` ``frozen``).
_CONTAINER_PARTS = {"array", "qvalue", "frozen"}


def layer_of_param(path: str) -> str:
    """``fc1/kernel`` -> ``fc1``; ``fc1/kernel/array/qvalue`` -> ``fc1`` too.

    A last part that is a list index is the weight itself, not its attribute
    name: ``weights/0`` and ``weights/1`` are two layers, kept whole.
    """
    parts = path.split("/")
    while len(parts) > 1 and parts[-1] in _CONTAINER_PARTS:
        parts.pop()
    return "/".join(parts[:-1]) if len(parts) > 1 and not parts[-1].isdigit() else "/".join(parts)


_REGEX_SAFE = re.compile(r"[\w/.,>#-]*")  # outside brackets these match themselves ('.' any char)


@functools.lru_cache(maxsize=4096)
def exact_pattern(layer: str) -> str:
    """A ``--bits`` pattern that picks this layer and no other (``fc`` alone would match ``fc1``)."""
    return f"^{layer}$" if _REGEX_SAFE.fullmatch(layer) else f"^{re.escape(layer)}$"


class ContractionPricing:
    """The contraction half of :class:`acecost.engine.walker.Interpreter` (a mixin: it uses its options)."""

    #: concrete weights to measure (``levels`` / ``sparsity`` options, and the hints); None: none
    weight_facts: WeightFacts | None = None

    def contraction(self, eqn, ins: list[Value], scope: str, tally: Tally, c: Contraction,
                    prep: bool = False) -> None:
        """Price one contraction into ``tally``; ``prep``: its operands are weight preparation."""
        prim = eqn.primitive.name
        lhs, rhs = ins[0], ins[1]
        origin_l, origin_r = self._param_origin(lhs), self._param_origin(rhs)
        weight_is_lhs = bool(origin_l) and not origin_r
        param = origin_r or origin_l or self.grad_params.get(id(eqn))
        if param and (not scope or library_only(scope)):
            layer = layer_of_param(param)  # e.g. Equinox: named by the attribute path
        else:
            layer = scope or self._unnamed_layer(prim)
        lhs_bits = self.operand_bits(lhs, c.lhs_contracting)
        rhs_bits = self.operand_bits(rhs, c.rhs_contracting)
        # group-wise codes compared with a fallback's float width: float_bits decides (re-pricing)
        float_decided = any(b.reason is not None and v.levels.groups and v.levels.count is not None
                            for b, v in ((lhs_bits, lhs), (rhs_bits, rhs)))
        lhs_bits, rhs_bits = group_scales(eqn, (lhs, rhs), c, (lhs_bits, rhs_bits))
        if self.options.scales == "strict":
            lhs_bits, rhs_bits = fold_scale(eqn, (lhs, rhs), c, (lhs_bits, rhs_bits))
        lhs_bits, rhs_bits = self.facts(lhs, lhs_bits), self.facts(rhs, rhs_bits)
        if lhs_bits.zero_point or rhs_bits.zero_point:
            layer = f"{layer}/zero_point"
        w_side, act_side = ("lhs", "rhs") if weight_is_lhs else ("rhs", "lhs")
        site = self.site(layer, einsum_spec(eqn))
        macs, measured = c.macs, None
        if self.weight_facts is not None:
            # measuring compares the weight's width at this float_bits (re-pricing walks again)
            float_decided = True
            value, natural = (lhs, lhs_bits) if w_side == "lhs" else (rhs, rhs_bits)
            before = capped(self._side(w_side, value, natural, None, True), self.options.float_bits)
            measured = self._measured(eqn, w_side, value, c, before, site, tally)
            macs = measured.macs
            if measured.width is not before:  # fewer bits than the cap: the weight's natural width
                lhs_bits, rhs_bits = (measured.width, rhs_bits) if w_side == "lhs" else (lhs_bits, measured.width)
        sides = {"lhs": self._side("lhs", lhs, lhs_bits, origin_l, float_decided),
                 "rhs": self._side("rhs", rhs, rhs_bits, origin_r, float_decided)}
        out_aval = eqn.outvars[0].aval
        record = OpRecord(
            name=layer, primitive=prim,
            lhs_shape=list(lhs.shape), rhs_shape=list(rhs.shape),
            out_shape=list(out_aval.shape),
            bits_a=0, bits_w=0, bits_a_source="", bits_w_source="",  # price_contraction sets them
            multiplier=1, macs=macs, ace=0,
            binary=False, weight_operand=w_side, phase=self.phase, site=site,
            gradient=self.gradient_kind(eqn, bool(origin_l or origin_r)),
            weight_prep=prep, sides=(sides[act_side], sides[w_side]),
            measured_levels=None if measured is None else measured.measured_levels,
            weight_density=None if measured is None else measured.weight_density,
            held_bits=(0, 0, storage_bits(out_aval.dtype)),  # the output's; price_record sets the operands'
            float_codes=any(narrow_float_bits(v.dtype) is not None for v in (lhs, rhs)))
        tally.records.append(self.price_contraction(record, tally))

    def price_contraction(self, record: OpRecord, tally: Tally) -> OpRecord:
        """Price a walked record at this walk's options: the float cap, the overrides, then
        the record's widths, warnings and parameter widths (all in :mod:`acecost.engine.pricing`)."""
        fb = self.options.float_bits
        a_side, w_side = record.sides
        a, w = capped_a, capped_w = capped(a_side, fb), capped(w_side, fb)
        overrides = self.options.overrides
        if overrides:
            names = names_of(record.site)
            a, w = overridden([o for o in overrides if any(o[0].search(n) for n in names)], a, w)
        prim = record.primitive
        both = ((a_side, a, capped_a), (w_side, w, capped_w))
        for side, priced, natural in both if a_side.side == "lhs" else both[::-1]:  # lhs first, as always
            hidden = priced is not natural
            shown = natural if hidden else priced
            tally.warnings.extend(side_warnings(record.site, self.phase, prim, side, shown,
                                                held_bits(shown, side, fb), hidden))
            use = param_use(side, held_bits(priced, side, fb))
            if use is not None:
                tally.use_param(*use)
        return price_record(record, a, w)

    def _side(self, name: str, value: Value, bits: Width, param: str | None, float_decided: bool) -> Side:
        """What pricing (now, and when re-priced) needs of one operand."""
        packed = None if param else self._packed_origin(value)
        return Side(name, bits, dtype_bits(value.dtype), value.dtype.kind == "c", value.levels.tag is not None,
                    param, packed, tuple(value.shape), float_decided, storage_bits(value.dtype))

    def _measured(self, eqn, side: str, value: Value, c: Contraction, w: Width, site: Site,
                  tally: Tally) -> WeightPricing:
        """The weight operand's width and the MACs once concrete weights are measured
        (:mod:`acecost.engine.measured`)."""
        contracting = c.lhs_contracting if side == "lhs" else c.rhs_contracting
        return price_weight(self.weight_facts, self.options, eqn, value, side, contracting, w, c.macs,
                            lambda body, tail: tally.warnings.append(LayerText(site, self.phase, body, tail)))

    def gradient_kind(self, eqn, reads_param: bool) -> str | None:
        """What a backward contraction computes: a top-level one as the backward jaxpr's data flow
        says (:func:`acecost.engine.grad_names.gradient_kinds`); a nested one (a scan body) that
        multiplies by a parameter carries the cotangent to a layer's input; else unknown (None)."""
        if self.phase != "backward":
            return None
        return self.grad_kinds.get(id(eqn)) or (INPUT if reads_param else None)

    def site(self, base: str, spec: str) -> Site:
        """The next contraction's place in ``base``: ordinals in program order, per phase."""
        counts = self._ordinals
        nth = counts[base] = counts.get(base, 0) + 1
        key = (base, spec)
        nth_of_spec = counts[key] = counts.get(key, 0) + 1
        return Site(base, spec, nth, nth_of_spec)

    def naming_state(self):
        """What numbers the next contractions: ordinals per scope, unnamed layers."""
        return dict(self._ordinals), self._unnamed

    def restore_naming(self, state) -> None:
        self._ordinals, self._unnamed = dict(state[0]), state[1]

    def start_phase(self, phase: str) -> None:
        """Ordinals restart: the backward pass names its contractions on its own."""
        self.phase = phase
        self._ordinals = {}

    def operand_bits(self, value: Value, contracting: frozenset[int]) -> Width:
        """(bits, where they came from, why it fell back to float or None) and the facts behind them."""
        lv = value.levels
        if lv.tag is not None:
            return Width(lv.tag, f"{DECLARED_SOURCE}{lv.tag})", None, BitsOrigin.DECLARED)
        if per_row_constant(value, contracting):
            return Width(1, ZERO_POINT_SOURCE, None, BitsOrigin.INFERRED, zero_point=True)
        if lv.known and not (lv.axes & contracting):
            return _proven(ceil_log2(lv.count), f"{lv.count} levels: {lv.why}", value)
        codes = lv.known and lv.scaled and self.options.scales == "codes"
        # the whole tensor's level set (the same along every dimension), unless its codes are fewer
        if lv.flat is not None and not (codes and lv.count < lv.flat):
            by_range = range_count(lv.lo, lv.hi) == lv.flat
            held = f"integers in {describe_range(lv)}" if by_range else lv.why
            return _proven(ceil_log2(lv.flat), f"{lv.flat} levels in the whole tensor: {held}", value,
                           stored=not by_range and stored_width(value))
        if codes:
            return _proven(*codes_bits(value, contracting, "not counted (--scales codes)")[:2], value)
        if lv.known:
            reason = (f"its scale varies along contracting dimension(s) "
                      f"{sorted(lv.axes & contracting)} ({lv.why})")
            cause = FallbackCause.SCALE_VARIES
        else:
            reason = lv.why or "no proven level structure"
            cause = lv.cause if isinstance(lv.cause, FallbackCause) else FallbackCause.OTHER
        return Width(self.float_width(value), f"{FALLBACK_SOURCE} ({reason})", reason, BitsOrigin.FLOAT_FALLBACK,
                     cause, stored=stored_width(value))

    @staticmethod
    def facts(value: Value, bits) -> Width:
        """``bits`` as a :class:`Width`: a plain triple comes from :mod:`acecost.engine.scales`, which
        prices an operand by its codes (a group-wise or folded scale): proven levels, whose account
        is ``value``'s why."""
        return bits if isinstance(bits, Width) else _proven(bits[0], bits[1], value)

    def float_width(self, value: Value) -> int:
        """The width of ``value`` as a float operand (``--float-bits``); an operand is never
        priced wider (:func:`acecost.engine.pricing.cap`, FLOAT_WIDTH)."""
        return float_width(self.options.float_bits, dtype_bits(value.dtype), value.dtype.kind == "c")

    def _param_origin(self, value: Value) -> str | None:
        """The parameter this operand essentially is (largest origin, not a scale)."""
        best = self._largest_origin(value.origins)
        return best if best is not None and self.param_sizes.get(best, 0) >= value.size else None

    def _largest_origin(self, origins: frozenset[str]) -> str | None:
        """The largest parameter among ``origins`` (ties: the first path), or None when there is none."""
        if not origins:
            return None
        if len(origins) == 1:
            (best,) = origins
            return best
        return max(sorted(origins), key=lambda p: self.param_sizes.get(p, 0))

    def _packed_origin(self, value: Value) -> tuple[str, int, int] | None:
        """(path, k, storage bits) of an integer parameter unpacked into ``k`` values per element.

        ``concatenate([(p << 4) >> 4, p >> 4])`` holds two values of each byte
        of ``p``: the operand is ``k`` times the parameter's size and, unlike a
        broadcast, varies along every axis. The parameter then stores ``k``
        operand values per element: ``k x (operand bits)``, at most its
        storage width (see docs/metrics.md, Size).
        """
        widths = self.packed_widths
        if not widths or not value.origins or value.vary != nontrivial_axes(value.shape):
            return None
        best = self._largest_origin(value.origins)
        size = self.param_sizes.get(best, 0)
        if best not in widths or not size or value.size <= size or value.size % size:
            return None
        return best, value.size // size, widths[best]

    def _unnamed_layer(self, prim: str) -> str:
        self._unnamed += 1
        return f"{prim}_{self._unnamed}"
