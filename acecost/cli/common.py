"""What every command shares: error handling, target options, progress."""
from __future__ import annotations

import contextlib
import sys
import traceback
from typing import NoReturn

import click
from rich.console import Console

from acecost.errors import AcecostError
from acecost.interpret import COND_MODES, SCALES_MODES

stderr = Console(stderr=True, highlight=False)


def fail(message: object, code: int = 2) -> NoReturn:
    """One line on stderr and a non-zero exit: the contract for user errors."""
    click.echo(f"acecost: error: {message}", err=True)
    raise click.exceptions.Exit(code)


def debug_enabled(ctx: click.Context | None = None) -> bool:
    ctx = ctx or click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and ctx.obj.get("debug"):
            return True
        if ctx.params.get("debug"):
            return True
        ctx = ctx.parent
    return False


@contextlib.contextmanager
def user_errors():
    """Turn :class:`AcecostError` (and surprises) into one line, unless --debug."""
    try:
        yield
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except AcecostError as exc:
        if debug_enabled():
            traceback.print_exc()
        fail(exc)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as exc:  # a bug in acecost: still one line without --debug
        if debug_enabled():
            traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        fail(f"internal error: {type(exc).__name__}: {first} (rerun with --debug for details)", 3)


def target_options(fn):
    """Options that say how to load and analyse a target."""
    options = [
        click.option("--entry", metavar="NAME", help="Function or Module in the file to analyse."),
        click.option("--input-shape", metavar="1,224,224,3", help="Input shape for a Flax Module."),
        click.option("--dtype", default="float32", show_default=True, help="Input dtype for a Flax Module."),
        click.option("--resolution", type=click.IntRange(8), help="Zoo models: input height and width (default 224)."),
        click.option("--batch", type=click.IntRange(1), help="Zoo models: batch size (default 1)."),
        click.option("--float-bits", default="16", show_default=True, metavar="16|dtype",
                     callback=_float_bits, help="Width of float operands with no proven levels."),
        click.option("--bits", "bits", multiple=True, metavar="REGEX=A,W",
                     help="Activation/weight bits for layers whose name matches REGEX (repeatable)."),
        click.option("--while-trips", type=click.IntRange(0), metavar="N",
                     help="Trip count for while loops whose count is not static."),
        click.option("--mode", type=click.Choice(["inference", "train"]), default="inference", show_default=True,
                     help="train: forward + backward of a loss (Target.loss, default sum of squares)."),
        click.option("--cond", "cond", type=click.Choice(COND_MODES), default="max", show_default=True,
                     help="cond with a run-time index: its costliest branch, or the one whose outputs "
                          "carry the fewest bits (the quantizing side of a switch)."),
        click.option("--scales", type=click.Choice(SCALES_MODES), default="strict", show_default=True,
                     help="codes: price a quantized operand by its codes even where its scale varies "
                          "along the contraction (AQT/QKeras convention)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _float_bits(ctx, param, value):
    if value == "dtype":
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise click.BadParameter(f"{value!r} is not a positive integer or 'dtype'")


def analyse(spec: str, *, entry=None, input_shape=None, dtype="float32", resolution=None, batch=None,
            float_bits=16, bits=(), while_trips=None, mode="inference", quiet=False, cond="max",
            scales="strict"):
    """Resolve ``spec`` and analyse it, with a spinner on stderr."""
    from acecost.api import analyze_target, parse_override
    from acecost.target import resolve

    overrides = [parse_override(b) for b in bits]
    status = stderr.status(f"Tracing {spec} ...") if not quiet and sys.stderr.isatty() else contextlib.nullcontext()
    with status:
        target = resolve(spec, entry=entry, input_shape=input_shape, dtype=dtype,
                         resolution=resolution, batch=batch)
        report = analyze_target(target, float_bits=float_bits, overrides=overrides, while_trips=while_trips,
                                mode=mode, cond=cond, scales=scales)
    report.meta["target"] = spec
    return target, report
