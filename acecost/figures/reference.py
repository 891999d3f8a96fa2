"""The PokeBNN reference overlay: bundled costs and published accuracies.

Two kinds of data, kept apart so a plot never shows an accuracy nobody
published:

- **Bundled widths**: the PokeBNN models in :mod:`acecost.zoo`, with the
  costs stored with the package (:mod:`acecost.zoo.costs`; a test
  re-analyses them, so the overlay always matches the engine). A width
  carries a top-1 accuracy only when a published PokeBNN point names its cost: the width's computed ACE, rounded to the precision
  the source printed, equals the published ACE (the paper's abstract gives
  70.5% at 2.6 ACE; the bundled 0.75x computes 2.59 G). Other widths are
  cost-only.
- **Published points**: the rows of the shipped CSV
  (:func:`acecost.zoo.published_points`), with their published costs and
  accuracies and their source.

Reading the stored costs needs neither jax nor a trace.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

FAMILY = "PokeBNN"


@dataclass(frozen=True)
class BundledWidth:
    """One bundled PokeBNN width and what acecost computes for it."""

    model: str  # zoo name, e.g. "pokebnn-0.75x"
    width: str  # "0.75x"
    totals: Mapping[str, float]
    complete: bool = True
    top1: float | None = None  # only when a published point matches its cost
    paired_with: str | None = None  # the published model that gives top1
    source: str | None = None  # that point's source


@dataclass(frozen=True)
class PublishedPoint:
    """A row of the shipped CSV: published accuracy and published costs."""

    model: str
    family: str
    top1: float
    costs: Mapping[str, float]  # CSV column (e.g. "ace_g") -> value; blanks dropped
    source: str


@dataclass(frozen=True)
class Reference:
    """Everything the overlay draws."""

    name: str
    widths: tuple[BundledWidth, ...]
    published: tuple[PublishedPoint, ...]
    sources: tuple[str, ...] = field(default=())  # distinct sources, numbered from 1
    #: what its accuracies and costs were measured on: the dataset of the published top-1
    #: and the input of the bundled widths' costs (batch, height, width, channels)
    dataset: str = "ImageNet"
    input_shape: tuple[int, ...] = (1, 224, 224, 3)

    def source_number(self, source: str) -> int:
        """1-based number of ``source`` in the caption."""
        return self.sources.index(source) + 1


def _bundled_models() -> list[object]:
    """The zoo entries of the family, narrowest first."""
    from acecost import zoo

    entries = [z for z in zoo.MODELS.values() if z.family == FAMILY]
    return sorted(entries, key=lambda z: (z.width_multiplier or math.inf, z.name))


def bundled_costs() -> tuple[BundledWidth, ...]:
    """Each bundled PokeBNN width with its stored costs (no accuracies): nothing is analysed."""
    from acecost.zoo import costs

    out = []
    for entry in _bundled_models():
        totals = dict(costs.stored(entry.name)["totals"])
        out.append(
            BundledWidth(
                model=entry.name,
                width=entry.variant,
                totals=totals,
                complete=bool(totals.get("complete", True)),
            )
        )
    return tuple(out)


def published_points() -> tuple[PublishedPoint, ...]:
    """The shipped CSV as records; blank cost cells are left out.

    Read with the csv module: a plot of JSON files need not start pandas.
    """
    import csv
    import importlib.resources

    from acecost import zoo

    with importlib.resources.files(zoo.__name__).joinpath(zoo.PUBLISHED_CSV).open(
        "r", encoding="utf-8", newline=""
    ) as f:
        rows = list(csv.DictReader(f))
    return tuple(
        PublishedPoint(
            model=row["model"],
            family=row["family"],
            top1=float(row["top1"]),
            costs={col: float(row[col]) for col in ("ace_g", "cpu64_1e8", "bops_1e9", "flops_1e8")
                   if (row.get(col) or "").strip()},
            source=row["source"],
        )
        for row in rows
    )


def _decimals(value: float) -> int:
    """Digits after the point as printed (2.6 -> 1, 7.85 -> 2, 8.0 -> 1)."""
    text = repr(float(value))
    if "e" in text or "." not in text:
        return 0
    return len(text.split(".")[1])


def matches_published_ace(ace: float, published_ace_g: float) -> bool:
    """Does a computed ACE (raw units) print as the published value (in G)?"""
    return round(ace / 1e9, _decimals(published_ace_g)) == round(
        published_ace_g, _decimals(published_ace_g)
    )


def pair_accuracies(
    widths: tuple[BundledWidth, ...], published: tuple[PublishedPoint, ...]
) -> tuple[BundledWidth, ...]:
    """Give a width the top-1 of a published PokeBNN point whose ACE it reproduces."""
    out = []
    for w in widths:
        match = next(
            (
                p
                for p in published
                if p.family == FAMILY
                and "ace_g" in p.costs
                and matches_published_ace(w.totals["ace"], p.costs["ace_g"])
            ),
            None,
        )
        if match is None:
            out.append(w)
        else:
            out.append(
                BundledWidth(
                    model=w.model,
                    width=w.width,
                    totals=w.totals,
                    complete=w.complete,
                    top1=match.top1,
                    paired_with=match.model,
                    source=match.source,
                )
            )
    return tuple(out)


def build_reference(
    widths: tuple[BundledWidth, ...], published: tuple[PublishedPoint, ...],
    input_shape: tuple[int, ...] = (1, 224, 224, 3),
) -> Reference:
    """Pair accuracies and number the sources (published rows first, in CSV order)."""
    paired = pair_accuracies(widths, published)
    sources: list[str] = []
    for src in [p.source for p in published] + [w.source for w in paired if w.source]:
        if src not in sources:
            sources.append(src)
    return Reference(name=FAMILY, widths=paired, published=published, sources=tuple(sources),
                     input_shape=tuple(input_shape))


def stored_input_shape() -> tuple[int, int, int, int]:
    """The input the stored costs were computed on: ``batch`` NHWC RGB images of ``resolution``^2
    (what :meth:`acecost.zoo.ZooModel.build` makes), read from the stored document."""
    from acecost.zoo import costs

    doc = costs.load()
    return (int(doc["batch"]), int(doc["resolution"]), int(doc["resolution"]), 3)


def pokebnn_reference() -> Reference:
    """The PokeBNN overlay: bundled widths (stored costs) plus published points."""
    return build_reference(bundled_costs(), published_points(), stored_input_shape())
