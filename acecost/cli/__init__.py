"""The ``acecost`` command: a thin click group over the library.

The exit-code contract is kept by :mod:`acecost.cli.contract`; run as the
console script, the commands that import models run in a child process
watched by :mod:`acecost.cli.supervisor`, which starts before anything else
is imported.
"""
from __future__ import annotations

from acecost.cli import supervisor as _supervisor

_supervisor.start()  # the console script: signals first, then maybe the command in a child process

import click  # noqa: E402

from acecost import __version__  # noqa: E402
from acecost.cli.contract import AcecostGroup  # noqa: E402


@click.group(cls=AcecostGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


def _register():
    from acecost.cli.analyze import analyze
    from acecost.cli.sweep import sweep
    from acecost.cli.zoo import zoo

    main.add_command(analyze)
    main.add_command(sweep)
    main.add_command(zoo)
    try:
        from acecost.cli.check import check
        from acecost.cli.diff import diff

        main.add_command(check)
        main.add_command(diff)
    except ImportError:  # pragma: no cover - during development only
        pass
    try:
        from acecost.cli.plot import plot

        main.add_command(plot)
    except ImportError:  # pragma: no cover
        pass


_register()
