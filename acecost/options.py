"""Option values as people type them, on the command line or in a config file.

One parser per option, shared by ``acecost analyze``, ``acecost check`` and
``[tool.acecost]``: each takes the raw value (a string, or a TOML value) and
the name to quote in the error, and returns the value or raises
:class:`ConfigError`. Digits are ASCII (``int('²')`` is not a width) and
every number is bounded, so nothing odd reaches jax.

The analysis options are declared once, in :data:`OPTIONS`: the command
line's flags, the Python API's checks, the ``[tool.acecost]`` keys, the
sweep's option axes and the sweep cache key are all read from that table.
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass, field, make_dataclass
from typing import Any, Callable, Mapping

from acecost.errors import ConfigError

MODES = ("inference", "train")
#: Values of ``--cond`` and ``--scales``, the first the default.
COND_MODES = ("max", "quantized")
SCALES_MODES = ("strict", "codes")
#: Values of ``--levels`` and ``--sparsity`` (concrete weights measured), the first what not giving
#: the option means (its default is None, so that a sweep point's cache key names it only when given).
LEVELS_MODES = ("inferred", "measured")
SPARSITY_MODES = ("dense", "discount")

MAX_DIM = 2**31 - 1  # an array dimension jax can hold
MAX_COUNT = 2**63 - 1  # a loop trip count


def _ascii_int(raw: object) -> int | None:
    """An integer from TOML or Python, or from a string of ASCII digits (no '²', no '٣')."""
    if isinstance(raw, str):
        text = raw.strip()
        return int(text) if re.fullmatch(r"[0-9]{1,30}", text) else None
    if isinstance(raw, numbers.Integral) and not isinstance(raw, bool):
        return int(raw)  # a Python int, also from numpy's integers
    return None


def parse_input_shape(raw: object, where: str = "input_shape") -> tuple[int, ...]:
    """``"1,224,224,3"``, ``"1x224x224x3"`` or ``[1, 224, 224, 3]``; every dimension >= 1."""
    if isinstance(raw, str):
        parts = [p.strip() for p in re.split(r"[,x]", raw.strip().strip("()[]"))]
        dims = [_ascii_int(p) for p in parts]
        if parts == [""] or any(d is None for d in dims):
            raise ConfigError(f"invalid {where} {raw!r}: expected integers like 1,224,224,3")
    elif isinstance(raw, (list, tuple)) and raw:
        dims = [d if isinstance(d, int) and not isinstance(d, bool) else None for d in raw]
        if any(d is None for d in dims):
            raise ConfigError(f"invalid {where} {raw!r}: expected a list of integers like [1, 224, 224, 3]")
    else:
        raise ConfigError(f"invalid {where} {raw!r}: expected a list of integers like [1, 224, 224, 3]")
    if any(not 1 <= d <= MAX_DIM for d in dims):
        raise ConfigError(f"invalid {where} {raw!r}: every dimension must be from 1 to {MAX_DIM}")
    return tuple(dims)


def parse_float_bits(raw: object, where: str = "float_bits") -> int | str:
    """An operand width in bits, or ``"dtype"`` for the storage dtype's width."""
    if isinstance(raw, str) and raw.strip() == "dtype":
        return "dtype"
    value = _ascii_int(raw)
    if value is not None and 1 <= value <= 64:
        return value
    raise ConfigError(f"invalid {where} {raw!r}: expected an integer from 1 to 64 or 'dtype'")


def parse_bits_override(raw: object, where: str = "bits") -> tuple[str, int | None, int | None]:
    """``"REGEX=A,W"`` -> (regex, activation bits, weight bits).

    The last ``=`` splits, so the regex itself may contain ``=``. An empty
    side (``"head=,8"``) keeps the inferred width, as ``acecost analyze
    --bits`` does.
    """
    usage = f"invalid {where} {raw!r}: expected REGEX=A,W like 'conv1=8,8' or 'head=,8'"
    if not isinstance(raw, str) or "=" not in raw:
        raise ConfigError(usage)
    pattern, _, widths = raw.rpartition("=")
    m = re.fullmatch(r"\s*([0-9]{0,30})\s*,\s*([0-9]{0,30})\s*", widths)
    if m is None or not pattern or not (m[1] or m[2]):
        raise ConfigError(usage)
    a, w = (int(x) if x else None for x in (m[1], m[2]))
    if any(x is not None and not 1 <= x <= 64 for x in (a, w)):
        raise ConfigError(f"invalid {where} {raw!r}: bit-widths must be from 1 to 64")
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as e:
        raise ConfigError(f"invalid {where} {raw!r}: bad regex: {e}") from None
    return pattern, a, w


def parse_int(raw: object, where: str, minimum: int = 0, maximum: int = MAX_DIM) -> int:
    """An integer option given as a TOML integer or a command-line string."""
    value = _ascii_int(raw)
    if value is not None and minimum <= value <= maximum:
        return value
    kind = "a non-negative integer" if minimum == 0 else f"an integer >= {minimum}"
    raise ConfigError(f"invalid {where} {raw!r}: expected {kind} (at most {maximum})")


def parse_while_trips(raw: object, where: str = "while_trips") -> int:
    return parse_int(raw, where, 0, MAX_COUNT)


def parse_resolution(raw: object, where: str = "resolution") -> int:
    return parse_int(raw, where, 8)


def parse_batch(raw: object, where: str = "batch") -> int:
    return parse_int(raw, where, 1)


def parse_dtype(raw: object, where: str = "dtype") -> str:
    """A dtype name like ``float32`` or ``bfloat16`` (the model checks it exists)."""
    if isinstance(raw, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,40}", raw.strip()):
        return raw.strip()
    raise ConfigError(f"invalid {where} {raw!r}: expected a dtype name like 'float32'")


def parse_entry(raw: object, where: str = "entry") -> str:
    """A Python identifier: the function or Module of a model file to use."""
    if isinstance(raw, str) and raw.strip().isidentifier() and raw.strip().isascii():
        return raw.strip()
    raise ConfigError(f"invalid {where} {raw!r}: expected a Python name like 'acecost_model'")


def choice_parser(name: str, choices: tuple[str, ...]):
    """The parser of an option that is one of ``choices``: the value itself, or an error naming
    ``where`` (the option's name by default) and the choices (``expected 'max' or 'quantized'``)."""
    expected = " or ".join(filter(None, (", ".join(map(repr, choices[:-1])), repr(choices[-1]))))

    def parse(raw: object, where: str = name) -> str:
        if raw in choices:
            return raw
        raise ConfigError(f"invalid {where} {raw!r}: expected {expected}")

    parse.__name__ = parse.__qualname__ = f"parse_{name}"
    return parse


parse_mode = choice_parser("mode", MODES)
parse_cond = choice_parser("cond", COND_MODES)
parse_scales = choice_parser("scales", SCALES_MODES)
parse_levels = choice_parser("levels", LEVELS_MODES)
parse_sparsity = choice_parser("sparsity", SPARSITY_MODES)


def parse_weights(raw: object, where: str = "weights") -> str:
    """A checkpoint's path, read once the model is traced (:mod:`acecost.load.weights`)."""
    if isinstance(raw, str) and raw.strip():
        return raw
    raise ConfigError(f"invalid {where} {raw!r}: expected a checkpoint: a .npz, .safetensors or .msgpack "
                      "file or an Orbax checkpoint directory")


def check_weights(raw: object, where: str = "weights") -> str | Mapping | None:
    """``weights`` as Python gives it: a path (``str``, ``os.PathLike``) or a mapping of arrays by path."""
    import os

    if raw is None or isinstance(raw, Mapping):
        return raw
    return parse_weights(os.fspath(raw) if isinstance(raw, os.PathLike) else raw, where)


def parse_hardware(raw: object, where: str = "hardware") -> str:
    """A bundled device name (``h100-sxm``) or a ``.toml``/``.json`` file of one; checked by loading it."""
    from acecost.report.hardware import parse_hardware as parse

    return parse(raw, where)


def check_bits_overrides(raw: object, where: str = "bits") -> list:
    """Overrides as Python gives them -> a list of items, each checked by :func:`parse_bits_override`.

    ``None``, one ``'REGEX=A,W'`` string, a list of them, a mapping regex ->
    ``(A, W)`` or ``(regex, A, W)`` triples (the regex may be compiled). A
    triple is checked as the ``REGEX=A,W`` text it stands for, so a value the
    command line refuses is refused with the same message. Strings are kept as
    given; a triple keeps its regex object and gets its widths as integers.
    """
    if raw is None:
        return []
    if isinstance(raw, str):
        items: list = [raw]
    elif isinstance(raw, Mapping):
        items = [(k, *v) if isinstance(v, (tuple, list)) else (k, v) for k, v in raw.items()]
    elif isinstance(raw, (list, tuple)):
        items = list(raw)
    else:
        raise ConfigError(f"invalid {where} {raw!r}: expected 'REGEX=A,W' strings like 'conv1=8,8' "
                          "or a mapping REGEX -> (A, W)")
    out = []
    for item in items:
        if isinstance(item, str):
            parse_bits_override(item, where)
            out.append(item)
            continue
        text = None
        if isinstance(item, (tuple, list)) and len(item) == 3:
            pattern = getattr(item[0], "pattern", item[0])
            if isinstance(pattern, str):
                text = f"{pattern}=" + ",".join("" if x is None else str(x) for x in item[1:])
        if text is None:
            raise ConfigError(f"invalid {where} {item!r}: expected REGEX=A,W like 'conv1=8,8' or 'head=,8'")
        _, a, w = parse_bits_override(text, where)
        out.append((item[0], a, w))
    return out


def compile_overrides(items: list) -> list:
    """Checked overrides (``'REGEX=A,W'`` strings, ``(regex, A, W)`` triples) -> ``(pattern, A, W)``
    with each regex compiled, as the engine matches them."""
    out = []
    for item in items:
        if isinstance(item, str):
            pattern, a, w = parse_bits_override(item, "--bits")
            out.append((re.compile(pattern), a, w))
        else:
            out.append((re.compile(item[0]) if isinstance(item[0], str) else item[0], item[1], item[2]))
    return out


#: Values of :attr:`Option.reuse`, cheapest first.
REPRICE, REWALK, RETRACE = "reprice", "rewalk", "retrace"


@dataclass(frozen=True)
class Option:
    """One analysis option, declared once: how it is read, its default, where it appears.

    ``parse`` reads one value as typed on the command line or written in
    TOML (one item of a repeatable option) and raises :class:`ConfigError`
    naming ``where``; every place that takes the option checks it with it, so
    they accept and refuse the same values with the same message.
    """

    name: str  #: the ``[tool.acecost]`` key and the sweep axis
    parse: Callable[[object, str], Any]
    default: Any  #: what the analysis uses when the option is not given
    help: str  #: the command line's help text
    metavar: str | None = None
    choices: tuple[str, ...] = ()  #: the values a closed option takes (shown as [a|b])
    multiple: bool = False  #: repeatable: its value is a list of items, each read by ``parse``
    keyword: str = ""  #: the Python API's keyword (and ``interpret.Options`` field) when not ``name``
    config: bool = True  #: a ``[tool.acecost]`` key
    engine: bool = True  #: an ``interpret.Options`` field (``mode`` instead picks what is analysed)
    axis_sep: str | None = ","  #: a sweep axis whose ``--grid`` values split on this; None: not an axis
    #: a Python value (API keyword, sweep axis) -> the value; by default ``parse``, None meaning
    #: "not given" when the default is None
    python: Callable[[object, str], Any] | None = None
    #: what a new value of the option needs when a walk with another value exists (the sweep's
    #: reuse, docs/sweep.md): REPRICE (the walked records priced again, ``Report.reprice``),
    #: REWALK (the traced jaxpr walked again) or RETRACE (the model traced again). An option
    #: that does not say is traced again: never re-priced unless declared exact
    reuse: str = "retrace"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def api_name(self) -> str:
        return self.keyword or self.name

    @property
    def shown_default(self) -> str | None:
        """The default as ``--help`` shows it (None: no value unless given)."""
        return None if self.default is None or self.multiple else str(self.default)

    def check(self, value: object, where: str | None = None) -> Any:
        """A value given in Python (an API keyword, a sweep axis or fixed option)."""
        where = where or self.name
        if self.python is not None:
            return self.python(value, where)
        if value is None and self.default is None:
            return None
        return self.parse(value, where)

    def from_config(self, raw: object, label: str, where: str) -> Any:
        """A ``[tool.acecost]`` value of the model ``label`` (``where``: its place in the file)."""
        if not self.multiple:
            return self.parse(raw, f"{self.name} of {label}")
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list):
            raise ConfigError(f"{where}: '{self.name}' of {label} must be a list of '{self.metavar}' strings")
        for item in items:
            self.parse(item, f"{self.name} entry of {label}")
        return list(items)


#: Every analysis option. A new one is one entry here plus its use in the engine.
OPTIONS: tuple[Option, ...] = (
    Option("float_bits", parse_float_bits, 16, metavar="16|dtype", reuse=REPRICE,
           help="Width of float operands with no proven levels: 1 to 64, or 'dtype'."),
    Option("bits", parse_bits_override, (), metavar="REGEX=A,W", multiple=True, keyword="overrides",
           axis_sep=";", python=check_bits_overrides, reuse=REPRICE,
           help="Activation/weight bits for layers whose name contains a match of REGEX "
                "(searched, not anchored: use ^...$ for one layer; repeatable)."),
    Option("while_trips", parse_while_trips, None, metavar="N", reuse=REWALK,
           help="Trip count for while loops whose count is not static (default: unknown, "
                "the loop body is counted once and the totals are marked incomplete)."),
    Option("mode", parse_mode, "inference", choices=MODES, engine=False,
           help="train: forward + backward of a loss (Target.loss, default sum of squares)."),
    Option("cond", parse_cond, "max", choices=COND_MODES, reuse=REWALK,
           help="A cond with a run-time index: its costliest branch (max) or the one "
                "whose outputs carry the fewest bits, the quantizing side of a switch (quantized)."),
    Option("scales", parse_scales, "strict", choices=SCALES_MODES, reuse=REWALK,
           help="codes: price a quantized operand by its codes even where its scale varies along "
                "the contraction, the AQT/QKeras convention."),
    Option("levels", parse_levels, None, choices=LEVELS_MODES, reuse=REWALK,
           help="measured: price a weight operand at no more bits than its concrete values need "
                "(distinct values per output channel; needs arrays as parameters or --weights). "
                "Default: inferred."),
    Option("sparsity", parse_sparsity, None, choices=SPARSITY_MODES, reuse=REWALK,
           help="discount: count only multiplications by a nonzero weight (needs arrays as parameters "
                "or --weights). Default: dense."),
    Option("weights", parse_weights, None, metavar="FILE", engine=False, python=check_weights,
           reuse=REWALK,
           help="The parameters' values: a .npz, .safetensors or Flax .msgpack file or an Orbax "
                "checkpoint directory whose keys are the parameter paths (see README)."),
    # read when the report is built (roofline time), not by the walk: a re-price times the records
    Option("hardware", parse_hardware, None, metavar="NAME|FILE.toml", reuse=REPRICE,
           help="Roofline time per layer on a device: h100-sxm, a100-sxm, tpu-v5e, tpu-v4, jetson-agx-orin, "
                "or a TOML/JSON file of one device (memory_bandwidth, peak)."),
)
OPTION = {o.name: o for o in OPTIONS}


def by_reuse(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Option values by name -> ``{REPRICE: {...}, REWALK: {...}, RETRACE: {...}}`` by each option's
    :attr:`Option.reuse`; a name not in the table is traced again."""
    out: dict[str, dict[str, Any]] = {REPRICE: {}, REWALK: {}, RETRACE: {}}
    for name, value in values.items():
        out[OPTION[name].reuse if name in OPTION else RETRACE][name] = value
    return out

#: The options ``interpret.Options`` holds, under their API keywords.
ENGINE_OPTIONS = tuple(o for o in OPTIONS if o.engine)

#: A record's slot for each option as given: None (``[]`` when repeatable) is "not given".
#: ``budget.ModelSpec`` derives from it, so a new option needs no new field there.
GivenOptions = make_dataclass(
    "GivenOptions",
    [(o.name, Any, field(default_factory=list) if o.multiple else field(default=None)) for o in OPTIONS],
    kw_only=True)
GivenOptions.__module__ = __name__


def cache_defaults() -> dict[str, Any]:
    """The options a sweep point's cache key always names: those with a value when not given
    (one given changes the key; one absent by default is named only when given)."""
    return {o.name: o.default for o in OPTIONS if o.default is not None and not o.multiple}


def analysis_keywords(given: Mapping[str, Any]) -> dict[str, Any]:
    """Option values by name -> the API's keywords (``bits`` -> ``overrides``); absent ones at their default."""
    return {o.api_name: given[o.name] if given.get(o.name) not in (None, (), []) else o.default
            for o in OPTIONS}
