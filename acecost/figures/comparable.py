"""Whether the user's models can be judged against the reference's accuracies.

The PokeBNN reference is ImageNet top-1 at 224x224 RGB. A model priced on
32x32 CIFAR images, or trained on another dataset, shares the figure's
"Top-1 accuracy" axis with it only by name: a verdict such as "no model is
dominated by a reference point" would then mean nothing. So the verdict is
withheld, the caption says why and the command warns, whenever

- the user names a dataset other than the reference's (``--dataset``), or
- a model's recorded input (``meta.input_shapes``) holds no image of the
  reference's size (224x224x3, channels last or first; the batch is not
  compared).

A model whose input is not recorded (a report from before ``input_shapes``,
a sweep table without an ``input_shape`` or ``resolution`` column) cannot be
judged either way: it is compared as before, and the text output says so
after the verdict (:func:`unrecorded_note`; not on stderr, where a plot that
succeeds without a doubt about its numbers writes nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from acecost.errors import AcecostError

_MAX_NAMED = 3


@dataclass(frozen=True)
class Withheld:
    """Why the reference's accuracies and the user's cannot be compared."""

    reason: str  # one clause, no final stop

    @property
    def warning(self) -> str:
        """The one stderr line."""
        return f"{self.reason}; the dominance verdict against the reference is withheld"

    @property
    def caption(self) -> str:
        """The caption's note."""
        return (f"Note: {self.reason}. The reference is drawn for orientation only; "
                "no dominance verdict is given.")

    @property
    def verdict(self) -> str:
        """What the text output says instead of the dominance lines."""
        return f"dominance verdict withheld: {self.reason}"


def check_dataset(dataset: object) -> str | None:
    """``--dataset``/``dataset=``: None (not said) or a non-empty name."""
    if dataset is None:
        return None
    if not isinstance(dataset, str) or not dataset.strip():
        raise AcecostError(f"bad --dataset {dataset!r}: name the dataset the accuracies are on, "
                           "e.g. --dataset cifar10")
    return dataset.strip()


def shapes_of(meta: object) -> tuple[tuple[int, ...], ...] | None:
    """The input shapes a report's ``meta`` records, or None where it records none (an older
    report) or something that is not a list of shapes."""
    if not isinstance(meta, Mapping):
        return None
    recorded = meta.get("input_shapes")
    if not isinstance(recorded, list):
        return None
    out = []
    for item in recorded:
        shape = item.get("shape") if isinstance(item, Mapping) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool)
                                                  for d in shape):
            return None
        out.append(tuple(shape))
    return tuple(out)


def image_size(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(height, width, channels) of the reference's input shape (NHWC)."""
    return tuple(shape[-3:])  # type: ignore[return-value]


def holds_image(shapes: Sequence[tuple[int, ...]], hwc: tuple[int, int, int]) -> bool:
    """Does one of ``shapes`` end in an ``hwc`` image, channels last or first?"""
    h, w, c = hwc
    return any(len(s) >= 3 and tuple(s[-3:]) in ((h, w, c), (c, h, w)) for s in shapes)


def shape_text(shapes: Sequence[tuple[int, ...]]) -> str:
    """``1x32x32x3 input``; several inputs joined by ``+``; none as ``no input``."""
    if not shapes:
        return "no input"
    return " + ".join("x".join(str(d) for d in s) or "scalar" for s in shapes) + \
        (" input" if len(shapes) == 1 else " inputs")


def _named(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMED])
    return shown + (f" and {len(names) - _MAX_NAMED} more" if len(names) > _MAX_NAMED else "")


def reference_mismatch(points: Sequence[object], ref: object, dataset: str | None = None) -> Withheld | None:
    """Why ``points`` (``ModelPoint``) cannot be judged against ``ref`` (a
    :class:`~acecost.figures.reference.Reference`), or None when they can (or their input
    is not recorded)."""
    if ref is None:
        return None
    reasons = []
    dataset = check_dataset(dataset)
    if dataset is not None and dataset.lower() != ref.dataset.lower():  # "imagenet", in any case
        reasons.append(f"the accuracies are on {dataset} but the reference's are {ref.dataset} top-1")
    hwc = image_size(ref.input_shape)
    other: dict[str, list[str]] = {}  # input text -> models
    for p in points:
        shapes = getattr(p, "input_shapes", None)
        if shapes is not None and not holds_image(shapes, hwc):
            other.setdefault(shape_text(shapes), []).append(p.name)
    if other:
        models = " and ".join(f"{_named(names)} take{'s' * (len(names) == 1)} {text}"
                              for text, names in other.items())
        reasons.append(f"{models} but the reference is {ref.dataset} at {'x'.join(map(str, hwc))}")
    return Withheld("; ".join(reasons)) if reasons else None


def unrecorded(points: Sequence[object]) -> list[str]:
    """The models whose input shapes are not recorded (judged against the reference as given)."""
    return [p.name for p in points if getattr(p, "input_shapes", None) is None]


def unrecorded_note(names: Sequence[str], ref: object) -> str:
    """The line after the dominance verdict saying some models' input is not known, so the verdict
    takes them as the reference's kind of input."""
    hwc = "x".join(map(str, image_size(ref.input_shape)))
    return (f"input size not recorded for {_named(names)} (a report from before meta.input_shapes, or a sweep "
            f"table without an input_shape or resolution column): judged as {ref.dataset} {hwc} input; "
            "--dataset NAME withholds the verdict")
