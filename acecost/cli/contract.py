"""How every ``acecost`` command ends.

The exit-code contract lives here, around every command: 0 success, 1 a
failed budget or ``--strict``, 2 a usage, target or model error (one
``acecost: error:`` line), 3 a bug in acecost (one line; ``--debug`` shows
the traceback), 130 an interrupt (one line), wherever it lands.
"""
from __future__ import annotations

import _thread
import signal
import threading
import sys
import traceback

import click

from acecost.cli.child import signals_handled
from acecost.engine.gcpause import freeze_at_exit
from acecost.report.safe_text import unsurrogate

_interrupt = {"seen": False, "said": False}
#: re-deliveries of an interrupt not yet made (:func:`_unraisable`): cancelled when the command
#: ends, which reports the interrupt itself, so none lands later in whoever called it (a test runner)
_redeliveries: list[threading.Timer] = []


def interrupted() -> None:
    """Say 'interrupted' once, however many handlers see the interrupt."""
    _interrupt["seen"] = True
    if not _interrupt["said"]:
        _interrupt["said"] = True
        click.echo("acecost: error: interrupted", err=True)


def interrupt_seen() -> bool:
    """Whether Ctrl-C arrived: an error raised since may be the interrupt, wrapped by the code it hit."""
    return _interrupt["seen"]


def internal_error(exc: BaseException) -> str:
    """The one line for a bug in acecost."""
    first = unsurrogate(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"internal error: {type(exc).__name__}: {first} (rerun with --debug for details)"


def _on_sigint(signum, frame):
    _interrupt["seen"] = True
    raise KeyboardInterrupt


def _unraisable(hook):
    """An interrupt that landed where Python cannot raise it (a gc callback) is delivered again.

    Python would print it as 'Exception ignored in ...' with a traceback and
    carry on; re-raising the signal lets it end the command at the next
    instruction instead, as one line.
    """

    def handle(info):
        if issubclass(info.exc_type, KeyboardInterrupt):
            _interrupt["seen"] = True
            timer = threading.Timer(0.01, _thread.interrupt_main)  # delivered after the callback returns
            timer.daemon = True
            _redeliveries.append(timer)
            timer.start()
            return
        hook(info)

    return handle


def _one_line(text: object) -> str:
    return " ".join(unsurrogate(text).split())


class Contract:
    """Every way out of a command is one line and the documented code.

    Mixed into the group and into each command, so a command invoked on its
    own (``CliRunner().invoke(check, ...)``) keeps the contract too.
    """

    def main(self, args=None, prog_name=None, **extra):  # noqa: D102
        argv = list(sys.argv[1:] if args is None else args)
        freeze_at_exit()
        extra.pop("standalone_mode", None)  # always standalone: the contract ends the process
        previous = None
        if not signals_handled():  # the console script's supervisor owns SIGINT (acecost.cli.supervisor)
            try:
                previous = signal.signal(signal.SIGINT, _on_sigint)
            except ValueError:  # not the main thread (an embedding application)
                previous = None
        _interrupt.update(seen=False, said=False)
        hook, sys.unraisablehook = sys.unraisablehook, _unraisable(sys.unraisablehook)
        try:
            code = self._run(argv, prog_name, extra)
        finally:
            sys.unraisablehook = hook
            while _redeliveries:  # the interrupt is reported below (seen); one delivered later would not be
                _redeliveries.pop().cancel()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if _interrupt["seen"]:  # an interrupt someone swallowed is still an interrupt
            interrupted()
            code = 130
        sys.exit(code)

    def _run(self, argv, prog_name, extra) -> int:
        try:
            rv = super().main(args=argv, prog_name=prog_name or "acecost", standalone_mode=False, **extra)
            return rv if isinstance(rv, int) else 0
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `acecost` or `acecost zoo`: the help
            click.echo(exc.ctx.get_help())
            return 0
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"acecost: error: {_one_line(exc.format_message())}{hint}", err=True)
            return 2
        except click.ClickException as exc:
            if interrupt_seen():  # the interrupt, wrapped by the code it landed in
                interrupted()
                return 130
            click.echo(f"acecost: error: {_one_line(exc.format_message())}", err=True)
            return exc.exit_code
        except (KeyboardInterrupt, click.Abort):
            interrupted()
            return 130
        except SystemExit as exc:  # click's own (a closed stdout); model code's is a TargetError earlier
            if exc.code is None or isinstance(exc.code, int):
                return exc.code or 0
            click.echo(f"acecost: error: {_one_line(exc.code)}", err=True)
            return 2
        except Exception as exc:  # a bug in acecost: still one line without --debug
            if interrupt_seen():  # the interrupt, wrapped by a library it landed in (jax's pytree checks)
                interrupted()
                return 130
            if "--debug" in argv:
                traceback.print_exc()
            click.echo(f"acecost: error: {internal_error(exc)}", err=True)
            return 3

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # before click turns it into Abort and prints a blank line
            interrupted()
            raise click.exceptions.Exit(130) from None


class AcecostGroup(Contract, click.Group):
    """The ``acecost`` group."""


class AcecostCommand(Contract, click.Command):
    """An ``acecost`` command."""
