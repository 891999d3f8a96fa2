"""The click group ``acecost`` and its commands (the console script's ``acecost.cli:main``).

Imported after :mod:`acecost.cli.supervisor` has started (``acecost.cli``
gives ``main`` only when asked), and by the supervised child to run the
command; it never imports the supervisor itself.
"""
from __future__ import annotations

import click

from acecost import __version__
from acecost.cli.contract import AcecostGroup


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
