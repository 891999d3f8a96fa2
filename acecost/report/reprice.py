"""Re-pricing a walked report under other ``--bits`` overrides or another ``float_bits``.

Neither option changes the jaxpr or the walk's values: only the widths of
the contractions' operands, and what follows from them (each record's ACE,
BOPs and CPU64, the parameters' stored widths and so size, and the warnings
about an operand's width). The walk keeps each operand's natural width and
the facts re-pricing needs on its record (:class:`acecost.engine.pricing.Side`);
:class:`Pricing`, kept on the report, holds the rest of the walk: every record
in walk order, the warnings in order with each operand's warnings in its place,
and the names. :meth:`Pricing.reprice` then runs the engine's own pricing
functions (:mod:`acecost.engine.pricing`) once per record: the new report is
the one a fresh ``analyze`` with those options gives, field for field.

Where that cannot be exact the report says why (``Pricing.inexact``) and
re-pricing refuses (:class:`NotRepriceable`): a ``cond`` whose branch was
chosen by cost (the choice and the branches' listed costs depend on the
widths), or a ``float_bits`` that a group-wise scale's pricing compared
against (the record's ``Side.float_decided``). The sweep then walks the
cached jaxpr again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from acecost.engine.contraction import exact_pattern
from acecost.engine.names import LayerText, UserNames
from acecost.engine.pricing import capped, held_bits, names_of, overridden, param_use, price_record, side_warnings
from acecost.errors import AcecostError
from acecost.options import OPTION, compile_overrides
from acecost.report.model import OpRecord, ParamRecord, Report, Totals, WeightPrep
from acecost.report.traffic import memory_totals


class NotRepriceable(AcecostError):
    """The report cannot be re-priced exactly: analyse (or walk) it again."""


@dataclass(eq=False)
class Pricing:
    """What :meth:`Report.reprice` needs of a walk beyond the records' own facts."""

    #: every contraction record in walk order (weight preparation included)
    every: list[OpRecord]
    prep_in_totals: bool
    #: the walk's ``float_bits``: the one the natural widths and the template's texts are at
    float_bits: int | str
    user_names: UserNames
    #: the walk's warnings in order: a rendered text, or (record index, LayerText) for a
    #: warning about one operand's width (shown unless an override replaces that operand)
    template: list
    #: warnings after the walk's (unused parameters, unsupported primitives)
    tail: list[str]
    #: MACs, binary MACs, ACE and CPU64 of some records (``build.contraction_totals``)
    totals: Callable[[list[OpRecord]], dict]
    #: why a re-price would not be exact, or None
    inexact: str | None = None
    #: the device of ``--hardware`` (acecost.report.hardware.Hardware): its times are redone
    hardware: Any = None
    _matches: dict = field(default_factory=dict)
    _capped: dict = field(default_factory=dict)
    _compiled: dict = field(default_factory=dict)
    _stores: list | None = None
    _params: dict | None = None
    _texts: dict = field(default_factory=dict)

    def matching(self, pattern) -> frozenset[int]:
        """Indices of the records ``pattern`` picks by any of their names (cached per pattern)."""
        key = (pattern.pattern, pattern.flags)
        found = self._matches.get(key)
        if found is None:
            found = self._matches[key] = frozenset(
                i for i, r in enumerate(self.every) if any(pattern.search(n) for n in names_of(r.site)))
        return found

    def overrides(self, bits) -> list:
        """``bits`` checked as ``analyze`` checks them and compiled (cached for a list of strings)."""
        key = tuple(bits) if isinstance(bits, (list, tuple)) and all(type(b) is str for b in bits) else None
        found = self._compiled.get(key) if key is not None else None
        if found is None:
            found = compile_overrides(OPTION["bits"].check(bits, "bits"))
            if key is not None:
                if len(self._compiled) >= 4096:  # a search's lists are mostly seen once
                    self._compiled.clear()
                self._compiled[key] = found
        return found

    def text(self, raw: str) -> str:
        """A source or warning text with the report's layer names (``UserNames.text``), cached."""
        out = self._texts.get(raw)
        if out is None:
            out = self._texts[raw] = self.user_names.text(raw)
        return out

    def render(self, record: OpRecord, w: LayerText) -> str:
        name = record.name
        return self.text(name + w.body + exact_pattern(name) + w.tail)

    def reprice(self, report: Report, bits=None, float_bits=None, hardware=None) -> Report:
        """The report of the same walk with the overrides ``bits`` (all of them: the report's own
        are replaced), ``float_bits`` and ``hardware`` (default: the report's)."""
        if self.inexact:
            raise NotRepriceable(f"this report cannot be re-priced exactly ({self.inexact}); analyse it again")
        fb = report.meta.get("float_bits", self.float_bits) if float_bits is None else \
            OPTION["float_bits"].check(float_bits, "float_bits")
        overrides = self.overrides(bits)
        if fb != self.float_bits and any(r.sides[0].float_decided for r in self.every):
            raise NotRepriceable(f"float_bits {fb!r} changes how a group-wise scale is priced; analyse it again")
        hw = self.hardware
        if hardware is not None:  # a device times the records; it changes no width
            from acecost.report.hardware import load_hardware

            hw = load_hardware(OPTION["hardware"].check(hardware, "hardware"))
        picks = [(self.matching(o[0]), o) for o in overrides]
        every, uses, hidden = [], {}, set()
        widths = self._capped.get(fb)
        if widths is None:
            widths = self._capped[fb] = [(capped(r.sides[0], fb), capped(r.sides[1], fb)) for r in self.every]
        stores = self._stores
        if stores is None:  # per record, its operands that store a parameter (forward records: size)
            stores = self._stores = [[k for k, side in enumerate(r.sides) if r.phase == "forward" and
                                      (side.param or side.packed)] for r in self.every]
        new_record, text = object.__new__, self.text
        for i, old in enumerate(self.every):
            a, w = capped_a, capped_w = widths[i]
            if picks:
                matched = [o for found, o in picks if i in found]
                if matched:
                    a, w = overridden(matched, a, w)
                    if a is not capped_a:
                        hidden.add((i, old.sides[0].side))
                    if w is not capped_w:
                        hidden.add((i, old.sides[1].side))
            new = new_record(OpRecord)
            new.__dict__.update(old.__dict__)
            price_record(new, a, w)
            new.bits_a_source, new.bits_w_source = text(a.source), text(w.source)
            every.append(new)
            for k in stores[i]:
                side = old.sides[k]
                use = param_use(side, held_bits(w if k else a, side, fb))
                if use[1] > uses.get(use[0], 0):
                    uses[use[0]] = use[1]
        texts, fallback = [], set()
        for item in self.template:
            if type(item) is str:
                texts.append(item)
                continue
            i, w = item
            if (i, w.side) in hidden:
                continue
            if fb != self.float_bits:  # a fallback's width is in its text
                side = every[i].sides[0] if every[i].sides[0].side == w.side else every[i].sides[1]
                natural = capped(side, fb)
                w = next(x for x in side_warnings(w.site, w.phase, every[i].primitive, side, natural,
                                                  held_bits(natural, side, fb)) if x.kind == w.kind)
            text = self.render(every[i], w)
            texts.append(text)
            if w.kind == "float_fallback":
                fallback.add(text)
        warnings = list(dict.fromkeys(texts)) + self.tail
        return self._report(report, every, uses, warnings, frozenset(fallback), fb, hw)

    def _report(self, report: Report, every: list[OpRecord], uses: dict, warnings: list[str],
                fallback: frozenset, fb, hw) -> Report:
        prep = [r for r in every if r.weight_prep]
        records = every if self.prep_in_totals or not prep else [r for r in every if not r.weight_prep]
        params = list(report.params)  # the records of parameters whose width stays are shared
        index = self._params
        if index is None:
            index = self._params = {p.path: k for k, p in enumerate(params)}
        size = report.totals.size_bits
        for path, bits in uses.items():
            k = index.get(path)
            p = params[k] if k is not None else None
            if p is not None and bits != p.bits:
                params[k] = ParamRecord(p.path, p.shape, p.dtype, bits, p.size_bits // p.bits * bits, p.used_in)
                size += params[k].size_bits - p.size_bits
        old = report.totals
        wp = report.totals.weight_prep
        c = self.totals(prep)
        totals = Totals(**self.totals(records), size_bits=size,
                        params=old.params, elementwise_ops=old.elementwise_ops, complete=old.complete,
                        **moved(records, old.memory_bits, old.memory_bits_unfused),
                        weight_prep=WeightPrep(wp.elementwise_ops, c["macs"], c["binary_macs"], c["ace"],
                                               dict(wp.by_category), wp.in_totals,
                                               **moved(prep, wp.memory_bits, wp.memory_bits_unfused)))
        phases = {}
        for phase, entry in report.phases.items():
            mine = [r for r in every if r.phase == phase]
            phases[phase] = {**self.totals(mine), "elementwise_ops": entry["elementwise_ops"],
                             **moved(mine, entry.get("memory_bits"), entry.get("memory_bits_unfused"))}
        meta = dict(report.meta)
        meta["float_bits"] = fb
        state = Pricing(every, self.prep_in_totals, self.float_bits, self.user_names, self.template, self.tail,
                        self.totals, self.inexact, hw, self._matches, self._capped, self._compiled,
                        self._stores, self._params, self._texts)
        new = Report(totals=totals, layers=records, params=params,
                      elementwise_by_category=dict(report.elementwise_by_category),
                      elementwise_by_layer=dict(report.elementwise_by_layer), warnings=warnings,
                      unsupported=[dict(e) for e in report.unsupported], loops=[dict(e) for e in report.loops],
                      branches=[dict(e) for e in report.branches], meta=meta, phases=phases,
                      weight_prep_layers=[] if self.prep_in_totals else prep, fallback_warnings=fallback,
                      pricing=state)
        if hw is not None:  # times follow the widths (and the warnings their notes)
            from acecost.report.hardware import apply_hardware

            apply_hardware(new, hw)
        return new


def moved(records: list[OpRecord], fused: int | None, unfused: int | None) -> dict:
    """``memory_bits`` of re-priced ``records`` and ``memory_bits_unfused``, whose part outside
    the contractions (every other equation at its storage width) no width changes: the walk's
    ``unfused - fused`` (:func:`acecost.report.traffic.memory_totals`). Unknown stays unknown."""
    if fused is None or unfused is None:
        return {"memory_bits": None, "memory_bits_unfused": None}
    return memory_totals(records, unfused - fused)


def pricing_of(tally, every: list[OpRecord], prep_in_totals: bool, float_bits, user_names: UserNames,
               rendered: list, tail: list[str], totals: Callable) -> Pricing:
    """The :class:`Pricing` of a report ``build_report`` made: ``rendered`` pairs each of the walk's
    warnings (hidden ones included, their text None) with its text."""
    index = {id(r.site): i for i, r in enumerate(every) if r.site is not None}
    template: list[Any] = []
    for text, w in rendered:
        if type(w) is not str and w.side and id(w.site) in index:
            template.append((index[id(w.site)], w))
        elif text is not None:
            template.append(text)
    inexact = None
    if tally.branches:
        inexact = "a cond's branch and its listed costs depend on the widths"
    elif any(r.sides is None for r in every):
        inexact = "a record without its operands' facts"
    return Pricing(every, prep_in_totals, float_bits, user_names, template, tail, totals, inexact)


def reprice(report: Report, bits=None, float_bits=None, hardware=None) -> Report:
    """``report`` priced again with the ``--bits`` overrides ``bits``, ``float_bits`` and the device
    ``hardware``: what a fresh ``analyze`` with those options (and the report's others) gives,
    without tracing or walking."""
    if report.pricing is None:
        raise NotRepriceable("this report holds no walk to re-price (one loaded from JSON, or built by "
                             "hand); analyse the model again")
    return report.pricing.reprice(report, bits=bits, float_bits=float_bits, hardware=hardware)
