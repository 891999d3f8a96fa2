"""What a Pareto figure is made of: cost metrics, the user's points, the reference's.

Costs are kept in raw units (one MAC, one bit) and divided by each metric's
paper unit only when drawn or printed. :func:`summarize` is what the text
output of ``acecost plot`` says; it shares the frontier definition of
:mod:`acecost.figures.pareto` with the figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from acecost.errors import AcecostError
from acecost.figures.pareto import Dominance, Point, dominated_by, frontier_mask
from acecost.figures.reference import Reference, pokebnn_reference
from acecost.metrics import AXES, Metric


#: the cost axes: the metrics of the table (acecost.metrics) that are drawn, in its choice order
METRICS: dict[str, Metric] = AXES

TOP1_NAMES = {"top1", "top-1", "top_1", "acc", "accuracy", "acc1", "acc@1"}


def metric(key: str) -> Metric:
    """Look up a metric by key, with a message listing the valid ones."""
    try:
        return METRICS[key]
    except KeyError:
        raise AcecostError(
            f"unknown cost metric {key!r}; use one of {', '.join(METRICS)}"
        ) from None


def is_top1(y: str) -> bool:
    """Is the accuracy column ImageNet top-1 (what the reference publishes)?"""
    return y.strip().lower() in TOP1_NAMES


def y_label(y: str) -> str:
    return "Top-1 accuracy (%)" if is_top1(y) else y


@dataclass(frozen=True)
class ModelPoint:
    """A user's model: its name, accuracy and the totals of its analysis."""

    name: str
    accuracy: float
    totals: Mapping[str, float]
    complete: bool = True
    #: the shapes of its non-parameter inputs (``meta.input_shapes``); None: not recorded
    input_shapes: tuple[tuple[int, ...], ...] | None = None

    def cost(self, m: Metric) -> float:
        try:
            value = self.totals[m.totals_key]
        except KeyError:
            raise AcecostError(
                f"{self.name}: the analysis has no totals.{m.totals_key} (needed for {m.name})"
            ) from None
        if value is None:  # unknown: a report saved before it was counted, or a time without --hardware
            how = "analyse it with --hardware" if m.kind == "time" else "analyse it again"
            raise AcecostError(f"{self.name}: totals.{m.totals_key} is unknown in its report ({how})")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AcecostError(f"{self.name}: totals.{m.totals_key} is not a number: {value!r}")
        return float(value)

    @classmethod
    def from_report(cls, name: str, report: object, accuracy: float) -> ModelPoint:
        """From an ``acecost.Report``, its ``to_dict()`` or a bare totals dict."""
        from acecost.figures.comparable import shapes_of

        totals = totals_of(report)
        meta = report.get("meta") if isinstance(report, Mapping) else getattr(report, "meta", None)
        return cls(name, float(accuracy), totals, bool(totals.get("complete", True)), shapes_of(meta))


def totals_of(report: object) -> dict[str, float]:
    if isinstance(report, Mapping):
        totals = report.get("totals", report)
        if not isinstance(totals, Mapping):
            raise AcecostError("the analysis 'totals' is not an object")
        return dict(totals)
    if hasattr(report, "to_dict"):
        return dict(report.to_dict()["totals"])
    raise AcecostError(f"cannot read costs from {type(report).__name__}")


@dataclass(frozen=True)
class RefPoint:
    """A reference point with an accuracy, on one metric."""

    point: Point  # raw cost
    kind: str  # "computed" (bundled width, published top-1) or "published"
    family: str
    source_number: int
    label: str
    paired_with: str | None = None  # computed: the published model whose top-1 it carries


def reference_points(ref: Reference, m: Metric) -> list[RefPoint]:
    """Reference points that have both a cost on ``m`` and a published accuracy."""
    out: list[RefPoint] = []
    for w in ref.widths:
        if w.top1 is None or w.source is None:
            continue
        name = f"{ref.name} {w.width}"
        out.append(
            RefPoint(
                Point(name, float(w.totals[m.totals_key]), w.top1),
                "computed",
                ref.name,
                ref.source_number(w.source),
                f"{name} (acecost)",
                w.paired_with,
            )
        )
    for p in ref.published:
        col = m.published_column
        if col is None or col not in p.costs:
            continue
        n = ref.source_number(p.source)
        out.append(
            RefPoint(
                Point(p.model, p.costs[col] * m.scale, p.top1),
                "published",
                p.family,
                n,
                f"{p.model} [{n}]",
            )
        )
    return out


@dataclass
class ModelSummary:
    """What the text output says about one user model."""

    name: str
    accuracy: float
    complete: bool
    costs: dict[str, float] = field(default_factory=dict)  # metric key -> raw
    on_frontier: dict[str, bool] = field(default_factory=dict)
    dominance: dict[str, Dominance] = field(default_factory=dict)


def summarize(
    points: Sequence[ModelPoint], panels: Sequence[str], reference: Reference | None, y: str = "top1"
) -> list[ModelSummary]:
    """Costs, frontier membership and dominance by the reference, per metric."""
    out = [ModelSummary(p.name, p.accuracy, p.complete) for p in points]
    for key in panels:
        m = metric(key)
        pts = [Point(p.name, p.cost(m), p.accuracy) for p in points]
        refs = (
            [r.point for r in reference_points(reference, m)]
            if reference is not None and is_top1(y)
            else []
        )
        for s, pt, on in zip(out, pts, frontier_mask(pts)):
            s.costs[key] = pt.cost
            s.on_frontier[key] = on
            d = dominated_by(pt, refs)
            if d is not None:
                s.dominance[key] = d
    return out


def as_points(points: object) -> list[ModelPoint]:
    """ModelPoints from the forms plot_pareto accepts; names must be distinct."""
    if isinstance(points, Mapping):
        items: Iterable[object] = [(k, *v) for k, v in points.items()]
    else:
        items = points  # type: ignore[assignment]
    out = []
    for item in items:
        if isinstance(item, ModelPoint):
            out.append(item)
        else:
            name, report, accuracy = item  # type: ignore[misc]
            out.append(ModelPoint.from_report(str(name), report, accuracy))
    names = [p.name for p in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AcecostError(f"two models are named {dup[0]!r}; give each a distinct name")
    return out


def resolve_reference(reference: object) -> Reference | None:
    """``"pokebnn"`` -> the stored overlay, ``None``/``"none"`` -> no overlay."""
    if reference is None or reference == "none":
        return None
    if isinstance(reference, Reference):
        return reference
    if reference == "pokebnn":
        return pokebnn_reference()
    raise AcecostError(f"unknown reference {reference!r}; use pokebnn or none")


def caption_lines(ref: Reference | None, ref_acc: bool, metrics: Sequence[Metric]) -> list[str]:
    """The caption: where the reference's costs and accuracies come from, source by source."""
    if ref is None:
        return []
    lines = []
    computed = [w for w in ref.widths if w.top1 is not None]
    widths = ", ".join(w.width for w in ref.widths)
    text = (
        f"Bundled {ref.name} widths ({widths}): cost computed by acecost at batch 1, "
        "224x224, unquantized operands at 16 bits; ticks on the x axis."
    )
    if ref_acc and computed:
        for w in computed:
            text += (
                f" {w.width} reproduces the published ACE of '{w.paired_with}' "
                f"({AXES['ace'].format(w.totals['ace'])} computed) and is drawn with its published "
                f"top-1 {w.top1:g}% [{ref.source_number(w.source)}]."  # type: ignore[arg-type]
            )
        text += " Other widths have no published accuracy and are not drawn as points."
    lines.append(text)
    if ref_acc:
        shown = {
            r.source_number
            for m in metrics
            for r in reference_points(ref, m)
        }
        if shown:
            lines.append(
                "Published points (filled markers) at their published costs and top-1:"
            )
            for i, src in enumerate(ref.sources, start=1):
                if i in shown:
                    lines.append(f"[{i}] {src}")
        missing = [
            m.name
            for m in metrics
            if not any(r.kind == "published" for r in reference_points(ref, m))
        ]
        if missing:
            lines.append(f"No published point reports {' or '.join(missing)}.")
    else:
        lines.append("Reference accuracies are ImageNet top-1; not drawn on this accuracy axis.")
    return lines
