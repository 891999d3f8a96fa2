"""The click group ``acecost`` and its commands (the console script's ``acecost.cli:main``).

Imported after :mod:`acecost.cli.supervisor` has started (``acecost.cli``
gives ``main`` only when asked), and by the supervised child to run the
command; it never imports the supervisor itself. Each command's module is
imported when that command runs (or when help lists them all): a fully
cached sweep answers in a fraction of a second, and importing every other
command's figures and tables would double it.
"""
from __future__ import annotations

import importlib

import click

from acecost import __version__
from acecost.cli.contract import AcecostGroup

#: command name -> the module defining it as an attribute of the same name
COMMANDS = {"analyze": "acecost.cli.analyze", "check": "acecost.cli.check", "diff": "acecost.cli.diff",
            "plot": "acecost.cli.plot", "sweep": "acecost.cli.sweep", "zoo": "acecost.cli.zoo"}


class LazyGroup(AcecostGroup):
    """A group whose commands are imported on first use (click's documented lazy-loading pattern)."""

    def list_commands(self, ctx):
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(getattr(importlib.import_module(COMMANDS[cmd_name]), cmd_name))
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx, args):
        if args and args[0] not in COMMANDS:  # a misspelt command: click suggests from the commands it holds
            for name in COMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="acecost")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def main(ctx, debug):
    """What a quantized or binarized JAX model really costs in hardware.

    \b
    acecost analyze model.py            per-layer MACs, ACE, BOPs, CPU64, size
    acecost analyze zoo:pokebnn-1.0x    a bundled reference model
    acecost zoo list                    the bundled models and their costs
    acecost check                       fail a build when a model exceeds its budget
    acecost diff base.json new.json     what changed between two analyses
    acecost plot a.json b.json          accuracy-vs-cost Pareto plots
    acecost plot --breakdown a.json     where the cost goes: layer groups x bits
    acecost sweep model.py --grid w=1,2 every point of a design space, cached, in parallel
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
