"""Building the Report of a walk: names, parameters, totals, warnings and meta.

Takes the engine's :class:`~acecost.engine.tally.Tally`, the argument leaves
(parameters and inputs) and the options; gives the
:class:`~acecost.report.model.Report`. Weight preparation is kept apart here,
and the walk's layer names are made the user's (``UserNames``).
"""
from __future__ import annotations

import functools
from collections import Counter
from fractions import Fraction
from importlib import metadata

from acecost.engine.contraction import exact_pattern
from acecost.engine.values.levels import dtype_bits, dtype_name
from acecost.engine.names import LayerText, UserNames, distinct_names
from acecost.engine.tally import Tally
from acecost.engine.walker import Options
from acecost.report.model import ParamRecord, Report, Totals, WeightPrep, exact_number
from acecost.report.reprice import pricing_of
from acecost.report.traffic import elements, memory_totals


def contraction_totals(records) -> dict:
    """MACs, binary MACs, ACE and CPU64 of some contraction records."""
    macs = sum(r.macs for r in records)
    binary = sum(r.macs for r in records if r.binary)
    return {"macs": macs, "binary_macs": binary, "ace": sum(r.ace for r in records),
            "cpu64": exact_number(Fraction(binary, 64) + (macs - binary))}


def phase_totals(tally: Tally) -> dict:
    """A training phase's totals: its weight preparation included (it runs on every step)."""
    ops = sum(tally.elementwise.values()) + sum(tally.prep_elementwise.values())
    return {**contraction_totals(tally.records), "elementwise_ops": ops,
            **memory_totals(tally.records, tally.moved_bits + tally.prep_moved_bits)}


def input_shapes(leaves) -> list[dict] | None:
    """The shapes and dtypes of the non-parameter argument leaves, in order: what the model was
    priced on (a figure compares it with a reference's input). None when the leaves are not known
    (an argument jax does not flatten into arrays), so a reader can tell unknown from none."""
    if any(leaf is None for leaf in leaves):
        return None
    return [{"shape": [int(d) for d in leaf.shape], "dtype": dtype_name(leaf.dtype)}
            for leaf in leaves if not leaf.is_param]


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("acecost", "jax", "flax"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def _render(warning, by_site) -> str:
    """A warning's text; one about a contraction names it as the report does."""
    if not isinstance(warning, LayerText):
        return warning
    name = by_site.get(id(warning.site), warning.site.base)
    return name + warning.body + exact_pattern(name) + warning.tail


def build_report(tally: Tally, leaves, options: Options, name: str | None,
                 unread: set[str] = frozenset(), prep_in_totals: bool = False) -> Report:
    """The report of a walk. Weight preparation is kept out of the totals, in
    ``totals.weight_prep`` and ``weight_prep_layers``, unless ``prep_in_totals``
    (a training step, which prepares its weights on every step)."""
    every = tally.records
    user_names = UserNames(r.name for r in every)
    final = distinct_names(every, lambda r: user_names(r.name))
    by_site = {}
    for r, layer in zip(every, final):
        if r.site is not None:
            by_site[id(r.site)] = layer  # each record's Site is its own object (a replay makes new ones)
        r.name = layer
    prep_records = [r for r in every if r.weight_prep]
    records = every if prep_in_totals or not prep_records else [r for r in every if not r.weight_prep]
    params, unused = [], []
    for leaf in leaves:
        if leaf is None or not leaf.is_param:
            continue
        if leaf.path in unread:
            unused.append(leaf)
            continue
        used = tally.param_bits.get(leaf.path)
        bits = used if used is not None else dtype_bits(leaf.dtype)
        size = elements(leaf.shape)
        params.append(ParamRecord(path=leaf.path, shape=list(leaf.shape), dtype=dtype_name(leaf.dtype),
                                  bits=bits, size_bits=size * bits,
                                  used_in="dot/conv" if used is not None else "elementwise"))
    by_category: Counter = Counter()
    by_layer: Counter = Counter()
    prep_by_category: Counter = Counter()
    counted = [tally.elementwise, tally.prep_elementwise] if prep_in_totals else [tally.elementwise]
    for counts in counted:
        for (scope, category), ops in counts.items():
            by_category[category] += ops
            by_layer[user_names(scope) if scope else "top level"] += ops
    for (_, category), ops in tally.prep_elementwise.items():
        prep_by_category[category] += ops
    unsupported = sorted(tally.unsupported.values(), key=lambda e: -e["count"])
    for entry in unsupported:
        entry["scopes"] = list(dict.fromkeys(user_names(s) for s in entry["scopes"]))
    for entry in (*tally.loops, *tally.branches):
        entry["scope"] = user_names(entry["scope"])
    for r in every:
        r.bits_a_source, r.bits_w_source = user_names.text(r.bits_a_source), user_names.text(r.bits_w_source)
    # a hidden warning (its operand overridden) is kept for re-pricing, not shown
    rendered = [(None if type(w) is not str and w.hidden else user_names.text(_render(w, by_site)), w)
                for w in tally.warnings]
    warnings = list(dict.fromkeys(text for text, _ in rendered if text is not None))
    fallback_warnings = frozenset(text for text, w in rendered
                                  if text is not None and isinstance(w, LayerText) and w.kind == "float_fallback")
    walked = len(warnings)
    if unused:
        shown = ", ".join(lf.path for lf in unused[:3]) + (", ..." if len(unused) > 3 else "")
        warnings.append(f"{len(unused)} parameter leaves ({sum(elements(lf.shape) for lf in unused):,} "
                        f"values: {shown}) are never used by the outputs; not counted in size.")
    for entry in unsupported:
        warnings.append(f"unsupported primitive `{entry['primitive']}` ({entry['count']}x, in "
                        f"{', '.join(entry['scopes'][:3])}): its cost is not counted; price it with "
                        "acecost.register_primitive.")
    totals = Totals(
        **contraction_totals(records),
        size_bits=sum(p.size_bits for p in params), params=sum(elements(p.shape) for p in params),
        elementwise_ops=sum(by_category.values()),
        complete=not tally.incomplete and not unsupported,
        **memory_totals(records, tally.moved_bits + (tally.prep_moved_bits if prep_in_totals else 0)),
        weight_prep=_weight_prep(prep_records, prep_by_category, prep_in_totals, tally.prep_moved_bits))
    meta = {**_versions(), "float_bits": options.float_bits, "cond": options.cond,
            "scales": options.scales, **measuring(options), "target": name, "input_shapes": input_shapes(leaves)}
    pricing = pricing_of(tally, every, prep_in_totals, options.float_bits, user_names, rendered,
                         warnings[walked:], contraction_totals)
    report = Report(totals=totals, layers=records, params=params,
                    elementwise_by_category=dict(by_category), elementwise_by_layer=dict(by_layer),
                    warnings=warnings, fallback_warnings=fallback_warnings, unsupported=unsupported,
                    loops=tally.loops, branches=tally.branches, meta=meta,
                    weight_prep_layers=[] if prep_in_totals else prep_records, pricing=pricing)
    if options.hardware is not None:
        from acecost.report.hardware import apply_hardware, load_hardware

        pricing.hardware = load_hardware(options.hardware)
        apply_hardware(report, pricing.hardware)
    return report


def measuring(options: Options) -> dict:
    """How the weights were priced (``levels``, ``sparsity``), in ``meta`` when given: absent,
    they are inferred and dense, and a default report's bytes stay as they were."""
    return {k: getattr(options, k) for k in ("levels", "sparsity") if getattr(options, k) is not None}


def _weight_prep(records, by_category: Counter, in_totals: bool, moved_bits: int) -> WeightPrep:
    """What the weight preparation costs, by the same rules as the totals."""
    c = contraction_totals(records)
    return WeightPrep(elementwise_ops=sum(by_category.values()), macs=c["macs"], binary_macs=c["binary_macs"],
                      ace=c["ace"], by_category=dict(sorted(by_category.items())), in_totals=in_totals,
                      **memory_totals(records, moved_bits))
