"""The analysis result: per-operation records, parameters, totals.

Plain data classes; pandas appears only in :meth:`Report.to_pandas`.
``to_dict`` is the stable, JSON-ready form the CLI prints and the budget,
diff and plot commands read back with :meth:`Report.from_dict`. Text made
safe for JSON, XML and the terminal is :mod:`acecost.report.safe_text`.
"""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, fields
from fractions import Fraction
from typing import Any

from acecost.metrics import TOTALS as METRIC_TOTALS
from acecost.report.safe_text import to_json as to_json  # re-exported: scripts import it from here

SCHEMA_VERSION = 1


class BitsOrigin(str, enum.Enum):
    """Why an operand's width is what it is: the fact behind ``bits_a_source`` / ``bits_w_source``.

    The source text stays the detail shown to people; code reads this.
    """

    #: declared with ``acecost.tag``
    DECLARED = "declared"
    #: proven levels: a quantizer's range, a zero point (1 level), a whole-tensor bound,
    #: codes under ``--scales codes`` or group-wise scales
    INFERRED = "inferred"
    #: set by ``--bits``
    OVERRIDE = "override"
    #: priced as a float for lack of evidence: no proven level structure, or a level set
    #: whose scale varies along the contraction (``bits_*_cause`` says which)
    FLOAT_FALLBACK = "float_fallback"
    #: an integer parameter priced at its storage width (its dtype is the only account)
    STORAGE_WIDTH = "storage_width"
    #: proven levels that need more bits than a float has: multiplied as a float instead
    #: (an int32 accumulator reused as an operand); evidence, not a fallback
    FLOAT_WIDTH = "float_width"
    #: fewer bits than inferred, measured in the concrete weights (``--levels measured``)
    MEASURED = "measured"

    @property
    def is_float(self) -> bool:
        """The operand is multiplied as a float (what the energy model prices as a float MAC)."""
        return self in (BitsOrigin.FLOAT_FALLBACK, BitsOrigin.FLOAT_WIDTH)


class FallbackCause(str, enum.Enum):
    """Why an operand fell back to float, decided where the evidence broke (see
    :class:`acecost.engine.values.levels.Levels`, ``cause``)."""

    FLOAT_PARAMETER = "float_parameter"        # a float parameter used without a quantizer
    DOT_OUTPUT = "dot_output"                  # the output of a previous dot/conv, not requantized
    MODEL_INPUT = "model_input"                # a model input used without a quantizer
    SCALE_VARIES = "scale_varies"              # proven levels whose scale varies along the contraction
    UNBOUNDED_ROUNDING = "unbounded_rounding"  # round/floor/ceil with no clip to a range
    NO_BIT_RULE = "no_bit_rule"                # passed through a primitive with no bit rule
    SUM = "sum"                                # the output of a sum or reduction, not requantized
    OTHER = "other"                            # anything else (the source text says what)


#: The fixed openings the engine writes at the start of a source, and the origin each one
#: stands for. Only a record loaded from JSON, which holds no origin, is read by them
#: (:func:`origin_of_source`); the engine writes its sources with the same constants.
FALLBACK_SOURCE = "float, no level structure"
FLOAT_WIDTH_SOURCE = "float width"
OVERRIDE_SOURCE = "override --bits"
DECLARED_SOURCE = "acecost.tag(bits="
MEASURED_SOURCE = "measured"
_SOURCE_OPENINGS = ((FALLBACK_SOURCE, BitsOrigin.FLOAT_FALLBACK), (FLOAT_WIDTH_SOURCE, BitsOrigin.FLOAT_WIDTH),
                    (OVERRIDE_SOURCE, BitsOrigin.OVERRIDE), (DECLARED_SOURCE, BitsOrigin.DECLARED),
                    (MEASURED_SOURCE, BitsOrigin.MEASURED))


def origin_of_source(source: str) -> BitsOrigin:
    """The origin of a width known only by its source text (a record loaded from JSON, which
    keeps no origin): read from the fixed opening the engine writes, never from the account
    after it. Proven widths have no fixed opening: INFERRED, storage widths included."""
    for opening, origin in _SOURCE_OPENINGS:
        if source.startswith(opening):
            return origin
    return BitsOrigin.INFERRED


@dataclass
class OpRecord:
    """One dot/conv equation (all its executions, if it sits in a loop)."""

    name: str
    primitive: str
    lhs_shape: list[int]
    rhs_shape: list[int]
    out_shape: list[int]
    bits_a: int
    bits_w: int
    bits_a_source: str
    bits_w_source: str
    multiplier: int
    macs: int
    ace: int
    binary: bool
    per_iteration: bool = False
    weight_operand: str = "rhs"
    #: "forward", or "backward" in a training-step analysis
    phase: str = "forward"
    #: what a backward record computes: "weight" or "input" gradient, or "recompute" (forward
    #: work done again under jax.checkpoint); None in the forward pass, or where the walk cannot
    #: tell (see acecost.engine.grad_names). In JSON only when set
    gradient: str | None = None
    #: both operands are weight preparation (a LoRA merge ``A @ B``): an inference
    #: report keeps such records in ``weight_prep_layers``, out of the totals
    weight_prep: bool = False
    #: ``--levels measured``: the most distinct values in an output channel of the concrete
    #: weight operand (its width is at most ceil(log2) of it); in JSON only when measured
    measured_levels: int | None = None
    #: ``--sparsity discount``: the weight operand's nonzeros / elements (``macs`` counts only
    #: the nonzero weights' multiplications); in JSON only when computed
    weight_density: float | None = None
    #: memory traffic of all its executions (acecost.report.traffic.memory_traffic): operands read
    #: and output written at the widths they hold. None in a report saved before it was counted
    read_bits: int | None = None
    write_bits: int | None = None
    #: with --hardware (acecost.report.hardware): its time, "compute" or "memory" bound, operand class
    time_s: float | None = None
    bound: str | None = None
    compute_class: str | None = None
    #: where the walk found it (acecost.engine.names.Site); not part of the report's data
    site: Any = field(default=None, repr=False, compare=False)
    #: why bits_a / bits_w are what they are, as data (the sources are the text). Kept out of
    #: JSON, CSV and markdown (their bytes stay as they were): None in a record loaded from
    #: JSON, whose origin :meth:`origin` reads from its source; pandas shows them
    bits_a_origin: BitsOrigin | None = field(default=None, repr=False, compare=False)
    bits_w_origin: BitsOrigin | None = field(default=None, repr=False, compare=False)
    #: for a FLOAT_FALLBACK operand, why it fell back; else None
    bits_a_cause: FallbackCause | None = field(default=None, repr=False, compare=False)
    bits_w_cause: FallbackCause | None = field(default=None, repr=False, compare=False)
    #: the (lhs, rhs, out) widths held in memory; whether an operand is a narrow float (float8) dtype
    held_bits: tuple[int, int, int] | None = field(default=None, repr=False, compare=False)
    float_codes: bool = field(default=False, repr=False, compare=False)
    #: the activation and weight operands as walked (acecost.engine.pricing.Side), what
    #: re-pricing reads; not part of the report's data
    sides: Any = field(default=None, repr=False, compare=False)

    @property
    def macs_per_call(self) -> int:
        return self.macs // self.multiplier if self.multiplier else self.macs

    def origin(self, role: str) -> BitsOrigin:
        """The origin of the activation (``"a"``) or weight (``"w"``) width.

        A record the engine made holds it; one loaded from JSON (or built by
        hand) holds only the source text, and its origin is read from the
        fixed opening of that text (:func:`origin_of_source`).
        """
        origin = self.bits_a_origin if role == "a" else self.bits_w_origin
        if origin is None:
            return origin_of_source(self.bits_a_source if role == "a" else self.bits_w_source)
        return origin

    def cause(self, role: str) -> FallbackCause | None:
        """Why the ``role`` operand fell back to float; None if it did not, or if the record
        was loaded from JSON (no cause is kept there)."""
        return self.bits_a_cause if role == "a" else self.bits_w_cause

    @property
    def is_fallback(self) -> bool:
        """An operand is counted at float width for lack of evidence."""
        return BitsOrigin.FLOAT_FALLBACK in (self.origin("a"), self.origin("w"))


#: The origins, causes and held widths: facts of the run, in pandas but not in JSON
FACT_FIELDS = ("bits_a_origin", "bits_w_origin", "bits_a_cause", "bits_w_cause", "held_bits", "float_codes")

#: The fields of an OpRecord that are the report's data (JSON).
RECORD_FIELDS = tuple(f.name for f in fields(OpRecord) if f.name not in ("site", "sides") and f.name not in FACT_FIELDS)


#: Fields written to JSON only when set (an inference report's bytes stay as they were).
OPTIONAL_FIELDS = ("gradient", "measured_levels", "weight_density", "time_s", "bound", "compute_class")


def _record_dict(r: OpRecord) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in
            ((k, getattr(r, k)) for k in RECORD_FIELDS) if not (k in OPTIONAL_FIELDS and v is None)}


def _fact_dict(r: OpRecord) -> dict[str, Any]:
    """The origins and causes as plain strings (a loaded record's origin read from its source)."""
    causes = (r.cause("a"), r.cause("w"))
    return {"bits_a_origin": r.origin("a").value, "bits_w_origin": r.origin("w").value,
            "bits_a_cause": None if causes[0] is None else causes[0].value,
            "bits_w_cause": None if causes[1] is None else causes[1].value,
            "held_bits": r.held_bits, "float_codes": r.float_codes}


@dataclass
class ParamRecord:
    path: str
    shape: list[int]
    dtype: str
    bits: int
    size_bits: int
    used_in: str = "elementwise"  # "dot/conv" when its width came from a contraction


@dataclass
class WeightPrep:
    """Work whose inputs are parameters and constants alone: binarizing or
    fake-quantizing the weights, merging LoRA factors, transposing a kernel.

    A deployed model does it once, so an inference report keeps it out of its
    totals (``in_totals`` false); a training step does it on every step, so
    there it is a part of the totals, shown for information.
    """

    elementwise_ops: int = 0
    macs: int = 0
    binary_macs: int = 0
    ace: int = 0
    #: elementwise ops by category, like ``elementwise.by_category``
    by_category: dict[str, int] = field(default_factory=dict)
    in_totals: bool = False
    memory_bits: int | None = None
    memory_bits_unfused: int | None = None

    @classmethod
    def from_dict(cls, data: Any) -> "WeightPrep":
        if not isinstance(data, dict):
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def found(self) -> bool:
        """Whether the model prepares its weights at all (the report then says how much)."""
        return bool(self.elementwise_ops or self.macs)


@dataclass
class Totals:
    macs: int = 0
    binary_macs: int = 0
    ace: int = 0
    cpu64: int | float = 0
    size_bits: int = 0
    params: int = 0
    elementwise_ops: int = 0
    complete: bool = True
    #: docs/metrics.md, "Memory traffic"; None: unknown (a report saved before them, no --hardware)
    memory_bits: int | None = None
    memory_bits_unfused: int | None = None
    time_s: float | None = None
    #: weight preparation, beside the totals (see :class:`WeightPrep`)
    weight_prep: WeightPrep = field(default_factory=WeightPrep)

    @property
    def bops(self) -> int:
        return self.binary_macs

    @property
    def other_macs(self) -> int:
        return self.macs - self.binary_macs

    @property
    def binary_fraction(self) -> float:
        return self.binary_macs / self.macs if self.macs else 0.0


def exact_number(x: Fraction | int) -> int | float:
    """An integer stays an integer; a true fraction becomes a float."""
    x = Fraction(x)
    return int(x) if x.denominator == 1 else float(x)


@dataclass
class Report:
    totals: Totals
    layers: list[OpRecord] = field(default_factory=list)
    params: list[ParamRecord] = field(default_factory=list)
    elementwise_by_category: dict[str, int] = field(default_factory=dict)
    elementwise_by_layer: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    unsupported: list[dict[str, Any]] = field(default_factory=list)
    loops: list[dict[str, Any]] = field(default_factory=list)
    branches: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    #: per-phase totals of a training-step analysis ({"forward": ..., "backward": ...})
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: contractions of weight preparation alone (a LoRA merge), kept out of ``layers``
    #: and the totals in an inference report (in a training step they are in ``layers``)
    weight_prep_layers: list[OpRecord] = field(default_factory=list)
    #: the warnings that say an operand counted as a float for lack of evidence (grouped by
    #: cause in the warnings panel); not part of the JSON, so empty in a report loaded from it
    fallback_warnings: frozenset[str] = field(default_factory=frozenset, compare=False, repr=False)
    #: the walk this report came from, for :meth:`reprice` (acecost.report.reprice.Pricing); None in
    #: a report loaded from JSON
    pricing: Any = field(default=None, compare=False, repr=False)

    def reprice(self, bits=None, float_bits=None, hardware=None) -> "Report":
        """This report priced again with the ``--bits`` overrides ``bits`` (replacing its own),
        ``float_bits`` and the device ``hardware`` (a name or a TOML/JSON file; default: the
        report's): what ``analyze`` with those options gives, without tracing or walking
        (:mod:`acecost.report.reprice`; parameter records whose width stays are shared). Raises an
        ``AcecostError`` where that would not be exact (from JSON, a ``cond`` chosen by cost)."""
        if self.pricing is None:
            from acecost.errors import AcecostError

            raise AcecostError("this report holds no walk to re-price (one loaded from JSON, or built by "
                               "hand); analyse the model again")
        return self.pricing.reprice(self, bits=bits, float_bits=float_bits, hardware=hardware)

    # ------------------------------------------------------------ views
    @property
    def fallbacks(self) -> list[OpRecord]:
        """Records with an operand counted at float width for lack of evidence (FLOAT_FALLBACK)."""
        return [r for r in self.layers if r.is_fallback]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "meta": dict(self.meta),
            "totals": asdict(self.totals),
            "elementwise": {
                "by_category": dict(sorted(self.elementwise_by_category.items())),
                "by_layer": dict(self.elementwise_by_layer),
            },
            "layers": [_record_dict(r) for r in self.layers],
            "weight_prep_layers": [_record_dict(r) for r in self.weight_prep_layers],
            "params": [asdict(p) for p in self.params],
            "loops": list(self.loops),
            "branches": list(self.branches),
            "warnings": list(self.warnings),
            "unsupported": list(self.unsupported),
            **({"phases": dict(self.phases)} if self.phases else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Report":
        if not isinstance(data, dict) or "totals" not in data:
            raise ValueError("not an acecost report (no 'totals')")
        known = {f.name for f in fields(Totals)}
        totals = Totals(**{k: v for k, v in data["totals"].items() if k in known})
        totals.weight_prep = WeightPrep.from_dict(data["totals"].get("weight_prep"))
        rec_fields = set(RECORD_FIELDS)
        par_fields = {f.name for f in fields(ParamRecord)}
        ew = data.get("elementwise", {})
        return cls(
            totals=totals,
            layers=[OpRecord(**{k: v for k, v in r.items() if k in rec_fields})
                    for r in data.get("layers", [])],
            params=[ParamRecord(**{k: v for k, v in p.items() if k in par_fields})
                    for p in data.get("params", [])],
            elementwise_by_category=dict(ew.get("by_category", {})),
            elementwise_by_layer=dict(ew.get("by_layer", {})),
            warnings=list(data.get("warnings", [])),
            unsupported=list(data.get("unsupported", [])),
            loops=list(data.get("loops", [])),
            branches=list(data.get("branches", [])),
            meta=dict(data.get("meta", {})),
            phases=dict(data.get("phases", {})),
            weight_prep_layers=[OpRecord(**{k: v for k, v in r.items() if k in rec_fields})
                                for r in data.get("weight_prep_layers", [])],
        )

    def to_pandas(self):
        import pandas as pd

        rows = [{**{k: getattr(r, k) for k in OPTIONAL_FIELDS}, **_record_dict(r), **_fact_dict(r)}
                for r in self.layers]
        return pd.DataFrame(rows, columns=[*RECORD_FIELDS, *FACT_FIELDS])

    def summary(self) -> str:
        """Every total of the table of metrics but the parameter count, in full: ``MACs 1,000  BOPs 0 ...``."""
        shown = [(m, getattr(self.totals, key)) for key, m in METRIC_TOTALS.items() if m.key != "params"]
        return "  ".join(f"{m.label} " + ("unknown" if v is None else f"{v:.4g} s" if m.kind == "time" else
                                          f"{v:,}{' bits' if m.kind == 'size' else ''}")
                         for m, v in shown if not (m.kind == "time" and v is None))
