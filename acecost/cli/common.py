"""What every command shares: error handling, target options, progress.

The options ``analyze`` and ``check`` share are defined once, in
:data:`SHARED`: each value is checked by the parser the config file uses
(:mod:`acecost.options`), so the command line and ``[tool.acecost]`` accept
and reject the same values. An option not given is ``None`` (or ``()``), so
``check`` can tell a command-line value from a config value and a target can
refuse an option it would ignore. Adding a shared option is one line.
"""
from __future__ import annotations

import contextlib
import sys
import traceback
from typing import Any, Callable, NoReturn

import click
from rich.console import Console

from acecost import options as O
from acecost.cli.contract import internal_error, interrupt_seen, interrupted
from acecost.cli.child import phase
from acecost.errors import AcecostError, ConfigError
from acecost.engine.gcpause import paused
from acecost.load.locate import one_line

stderr = Console(stderr=True, highlight=False)


def fail(message: object, code: int = 2) -> NoReturn:
    """One line on stderr and a non-zero exit: the contract for user errors.

    After a Ctrl-C the error is the interrupt as the code it landed in wrapped it
    (a model's ``except KeyboardInterrupt: raise ValueError``, jax's pytree checks).
    """
    if interrupt_seen():
        interrupted()
        raise click.exceptions.Exit(130)
    click.echo(f"acecost: error: {one_line(message)}", err=True)
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
        interrupted()
        raise click.exceptions.Exit(130) from None
    except Exception as exc:  # a bug in acecost: still one line without --debug
        if debug_enabled():
            traceback.print_exc()
        fail(internal_error(exc), 3)


def _validated(flag: str, parse: Callable[[object, str], Any]):
    """A click callback running ``parse``; a bad value is one usage-error line."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or value == ():
            return value
        try:
            if param.multiple:
                for item in value:
                    parse(item, flag)
                return tuple(value)
            return parse(value, flag)
        except ConfigError as exc:
            raise click.UsageError(str(exc), ctx) from None

    return callback


class DefaultShown(click.Option):
    """An option whose default is ``None`` in code but has a value to show.

    Shared options default to ``None`` so ``check`` can tell a command-line
    value from a config value; ``show_default="224"`` still prints
    ``[default: 224]`` like every other option (click would print ``(224)``).
    """

    def get_help_extra(self, ctx: click.Context):
        extra = super().get_help_extra(ctx)
        if isinstance(self.show_default, str):
            extra["default"] = self.show_default
        return extra


def _option(flag: str, parse: Callable[[object, str], Any] | None = None, **kw: Any):
    if parse is not None:
        kw["callback"] = _validated(flag, parse)
    return click.option(flag, cls=DefaultShown, **kw)


class _TableChoice(click.Choice):
    """A closed option's ``[a|b]`` choices, refused with its table parser's message
    (the one the Python API and ``[tool.acecost]`` give), not click's."""

    def __init__(self, option: O.Option):
        super().__init__(option.choices)
        self.option = option

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            self.option.parse(value, self.option.flag)
        except ConfigError as exc:
            raise click.UsageError(str(exc), ctx) from None
        return super().convert(value, param, ctx)


def _table_option(option: O.Option):
    """The command-line option of an analysis option of :data:`acecost.options.OPTIONS`."""
    kw: dict[str, Any] = {"help": option.help, "metavar": option.metavar, "multiple": option.multiple,
                          "show_default": option.shown_default}
    if option.choices:
        return _option(option.flag, type=_TableChoice(option), default=None, **kw)
    return _option(option.flag, option.parse, **kw)


#: (flag, parser, click keywords) for every option analyze, check and sweep share; the
#: analysis options come from their table, :data:`acecost.options.OPTIONS`.
SHARED = [
    _option("--entry", O.parse_entry, metavar="NAME",
            show_default="acecost_model", help="Function or Module in the file to analyse."),
    _option("--input-shape", O.parse_input_shape, metavar="1,224,224,3",
            help="Input shape for a Flax Module."),
    _option("--dtype", O.parse_dtype, metavar="float32", show_default="float32",
            help="Input dtype for a Flax Module."),
    _option("--resolution", O.parse_resolution, metavar="N",
            show_default="224", help="Zoo models: input height and width."),
    _option("--batch", O.parse_batch, metavar="N", show_default="1", help="Zoo models: batch size."),
    *(_table_option(o) for o in O.OPTIONS),
]


def _parse_params(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict | None:
    """``--param NAME=VALUE`` items -> ``{name: value}``; each value read as a sweep's ``--grid`` value
    (:func:`acecost.sweeps.space.parse_value`), so ``2`` is an int, ``0.5`` a float, ``relu`` a string."""
    if not value:
        return None
    from acecost.sweeps.space import parse_value

    out: dict[str, Any] = {}
    for item in value:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not text.strip():
            raise click.UsageError(f"invalid --param {item!r}: expected NAME=VALUE like width=0.5", ctx)
        if name in out:
            raise click.UsageError(f"--param {name} is given twice", ctx)
        try:
            out[name] = parse_value(text)
        except AcecostError as exc:
            raise click.UsageError(f"invalid --param {item!r}: {exc}", ctx) from None
    return out


#: ``--param NAME=VALUE``: a keyword argument of the model's entry (analyze and check; a sweep
#: varies the same keywords with --grid)
param_option = click.option(
    "--param", "params", multiple=True, metavar="NAME=VALUE", callback=_parse_params,
    help="Pass NAME=VALUE to the model's acecost_model() (or a Flax Module class's field), read as a "
         "sweep's --grid value: 2 an int, 0.5 a float, true/false, none, else a string (repeatable).")


def target_options(fn):
    """Decorate a command with every shared option (in the order of :data:`SHARED`)."""
    for option in reversed(SHARED):
        fn = option(fn)
    return fn


class _Pattern:
    """A ``--bits`` regex that remembers whether it matched a layer."""

    def __init__(self, pattern: str):
        import re

        self._regex = re.compile(pattern)
        self.pattern = pattern
        self.hit = False

    def search(self, text: str):
        found = self._regex.search(text)
        self.hit = self.hit or found is not None
        return found

    def match(self, text: str):
        found = self._regex.match(text)
        self.hit = self.hit or found is not None
        return found

    def fullmatch(self, text: str):
        found = self._regex.fullmatch(text)
        self.hit = self.hit or found is not None
        return found

    def __getattr__(self, name: str):  # flags, groups ...: as the compiled pattern has them
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._regex, name)


@contextlib.contextmanager
def stdout_to_stderr():
    """What a model prints (at import, build or trace time) goes to stderr.

    Redirected at the file-descriptor level too, so output written by C code
    cannot land in ``--format json|csv|junit`` on stdout.
    """
    import os

    sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except (OSError, ValueError):
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def check_writable(path: str) -> None:
    """A file the command will write, tried before any work: a bad path is one error line
    before minutes of analysis, not after. A file that did not exist is not left behind."""
    import os
    from pathlib import Path

    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"cannot write {path}: directory {str(parent)!r} does not exist")
    if p.is_dir():
        raise ConfigError(f"cannot write {path}: it is a directory")
    existed = os.path.lexists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
    if not existed:  # as it was: the file is written once there is something to write
        try:
            os.unlink(path)
        except OSError:
            pass


def quiet_enabled(ctx: click.Context | None = None) -> bool:
    """Whether the command was given ``-q/--quiet``: its warnings and notes are not written."""
    ctx = ctx or click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("quiet"):
            return True
        ctx = ctx.parent
    return False


def warn(message: str) -> None:
    """A warning line on stderr, unless ``--quiet``."""
    if not quiet_enabled():
        click.echo(f"acecost: warning: {message}", err=True)


def analyse(spec: str, *, entry=None, input_shape=None, dtype=None, resolution=None, batch=None,
            quiet=False, unmatched_bits="warn", params=None, **options):
    """Resolve ``spec`` and analyse it, with a spinner on stderr.

    ``options`` are the analysis options of :data:`acecost.options.OPTIONS`
    by name, as the command line gives them (None or ``()``: not given).
    A ``--bits`` pattern that matches no layer is a warning (``unmatched_bits
    = "warn"``, also added to the report's warnings) or an error (``"error"``,
    for ``check``: a typo must not turn a failing budget into a pass).
    ``params`` are keyword arguments of the model's entry (``--param``).
    """
    from acecost.errors import TargetError
    from acecost.load.resolve import resolve
    from acecost.load.target import validate

    unknown = set(options) - set(O.OPTION)
    if unknown:
        raise TypeError(f"analyse() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    patterns = []
    for b in options.get("bits") or ():
        pattern, a, w = O.parse_bits_override(b, "--bits")
        patterns.append((_Pattern(pattern), a, w))
    keywords = O.analysis_keywords(options)
    keywords[O.OPTION["bits"].api_name] = patterns
    from rich.markup import escape

    status = stderr.status(f"Tracing {escape(spec)} ...") if not quiet and sys.stderr.isatty() \
        else contextlib.nullcontext()
    phase(f"analysing {spec}")  # the supervisor's error, should the model end the process
    with status, stdout_to_stderr(), paused():  # no cycle search through the trace: see acecost.engine.gcpause
        try:
            target = resolve(spec, entry=entry, input_shape=input_shape, dtype=dtype,
                             resolution=resolution, batch=batch, params=params)
            validate(target)
            from acecost.api import analyze_target

            report = analyze_target(target, **keywords)
        except SystemExit as exc:  # model code calling sys.exit() is a model error, never a verdict
            raise TargetError(f"{spec}: the model called sys.exit({exc.code!r})") from None
        except (Exception, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: B036 - a model raising its own BaseException subclass
            raise TargetError(f"{spec}: the model raised {type(exc).__name__}: {exc}") from None
    report.meta["target"] = spec
    for pattern, _, _ in patterns:
        if not pattern.hit:
            message = f"--bits {pattern.pattern!r} matches no layer of {spec}"
            if unmatched_bits == "error":
                raise ConfigError(message + " (layer names are in 'acecost analyze'; a typo would silently "
                                  "drop the override)")
            report.warnings.append(message)
            if not quiet:
                warn(message)
    return target, report
