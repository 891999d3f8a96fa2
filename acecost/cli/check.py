"""``acecost check``: fail a build on cost budgets.

Exit codes are the contract CI relies on: 0 every model within budget, 1 a
budget exceeded or a regression beyond ``--max-increase`` (or, with
``--strict``, an approximate report), 2 a usage, configuration or model
error, 3 a bug in acecost. ``--debug`` adds tracebacks, never changes the
exit code. The verdict's formats are in :mod:`acecost.ci.verdict`.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

import click

from acecost.cli.contract import AcecostCommand, internal_error, interrupt_seen
from acecost import options as O
from acecost.ci import budget as B
from acecost.cli.common import DefaultShown, check_writable, debug_enabled, fail, param_option, target_options
from acecost.ci.verdict import (
    exit_code, render_github, render_json, render_junit, render_markdown, render_table, show_target,
)
from acecost.ci.diff import load_report, model_mismatch, validate_report
from acecost.errors import AcecostError, ConfigError
from acecost.load.locate import one_line
from acecost.report.safe_text import unsurrogate
from acecost.units import parse_percent

FORMATS = ("table", "json", "junit", "github", "markdown")


# ---------------------------------------------------------------- analysis


def analyze_spec(spec: B.ModelSpec) -> dict[str, Any]:
    """Build the model a spec names and return its report as a dict."""
    from acecost.cli.common import analyse

    _, report = analyse(
        spec.target,
        entry=spec.entry,
        input_shape=spec.input_shape,
        dtype=spec.dtype,
        resolution=spec.resolution,
        batch=spec.batch,
        quiet=True,
        unmatched_bits="error",
        params=spec.params,
        **{o.name: getattr(spec, o.name) for o in O.OPTIONS},
    )
    return report.to_dict()


def count_fallbacks(report: dict[str, Any]) -> int:
    """Records with a float-width fallback operand, as ``Report.fallbacks`` defines them."""
    from acecost.report.model import Report

    return len(Report.from_dict(report).fallbacks)


def run_model(spec: B.ModelSpec, debug: bool) -> B.ModelResult:
    """Analyze one model and judge it; a broken model is an error result."""
    result = B.ModelResult(spec)
    start = time.perf_counter()
    try:
        report = validate_report(analyze_spec(spec), f"report of {spec.name}")
        result.totals = dict(report["totals"])
        result.warnings = [str(w) for w in report.get("warnings", [])]
        result.unsupported = list(report.get("unsupported", []))
        result.fallbacks = count_fallbacks(report)
        result.rows = B.evaluate(result.totals, spec.budgets, spec.budget_text)
        if spec.baseline is not None:
            base = load_report(spec.baseline)
            mismatch = model_mismatch(base, report)
            if mismatch is not None and mismatch[0]:
                raise ConfigError(f"baseline {spec.baseline} {mismatch[1]}")
            if mismatch is not None:
                result.notes.append(f"baseline {spec.baseline} {mismatch[1]}")
            pct = spec.max_increase if spec.max_increase is not None else 0.0
            result.regressions = B.check_regression(result.totals, base["totals"], pct)
    except Exception as e:  # one bad model must not hide the verdict on the others
        if interrupt_seen():  # Ctrl-C, wrapped by the code it landed in: it ends the check
            raise KeyboardInterrupt from e
        if debug:
            traceback.print_exc()
        if isinstance(e, AcecostError):
            result.error = one_line(e)
        else:  # a bug in acecost: still one line, and exit 3 like the other commands
            result.error = internal_error(e)
            result.internal = True
    result.seconds = time.perf_counter() - start
    return result


# ---------------------------------------------------------------- selection


def select_models(
    target: str | None, config: Path | None, cli: dict[str, Any]
) -> list[B.ModelSpec]:
    """The models to check: TARGET (a configured model's name, else a target) or all configured."""
    specs: list[B.ModelSpec] = []
    source = None
    if config is not None:
        specs, source = B.load_models(B.read_config_file(config), config), config
    else:  # a TARGET may name a configured model, so the cwd config is read too
        found = B.find_config(Path.cwd())
        if found is not None:
            source = found[0]
            specs = B.load_models(found[1], found[0])
    if target is None:
        if not specs:
            raise ConfigError(
                "no TARGET given and no models configured in [tool.acecost] of "
                "pyproject.toml or in acecost.toml"
            )
        selected = specs
    else:  # a configured model by its name, else by its target however it is spelled
        selected = [s for s in specs if s.name == target][:1] or \
            [s for s in specs if B.names_same_model(s, target, cli.get("entry"))] or \
            [B.ModelSpec(name=unsurrogate(target), target=target)]
    budget_flags = [m.budget_flag for k, m in B.METRICS.items() if k in (cli.get("budgets") or {})]
    if cli.get("max_increase") is not None:  # a regression limit loosens as readily as a budget
        budget_flags.append("--max-increase")
    which = "without a TARGET" if target is None else f"with TARGET {target!r}"
    if budget_flags and len(selected) > 1:
        raise ConfigError(
            f"{', '.join(budget_flags)} {which} would replace the budgets of all "
            f"{len(selected)} models configured in {show_target(str(source))}"
            f"{'' if target is None else ' for it'}; name one model "
            f"('acecost check {selected[0].name} {budget_flags[0]} ...') or change the config"
        )
    if cli.get("baseline") is not None and len(selected) > 1:
        raise ConfigError(
            f"--baseline compares one model but {len(selected)} are configured in {show_target(str(source))}"
            f"{'' if target is None else f' for {target!r}'}; "
            "name one model as TARGET or set 'baseline' per model in the config"
        )
    selected = [B.override(s, **cli) for s in selected]
    if cli.get("max_increase") is not None and all(s.baseline is None for s in selected):
        raise ConfigError("--max-increase needs --baseline (or a 'baseline' in the config)")
    for s in selected:
        if s.max_increase is not None and s.baseline is None:
            raise ConfigError(f"model {s.name!r}: max_increase needs a baseline (a 'baseline' in the config "
                              "or --baseline)")
    empty = [s.name for s in selected if B.nothing_to_check(s)]
    if empty:
        which = f"model {empty[0]!r} has" if len(empty) == 1 else \
            f"{len(empty)} models have" if len(empty) > 3 else f"models {', '.join(map(repr, empty))} have"
        raise ConfigError(f"nothing to check: {which} no budget; {B.HOW_TO_BUDGET}")
    for s in selected:
        if s.baseline is not None:
            load_report(s.baseline)  # an unreadable baseline is a usage error, before any analysis
    return selected


# ----------------------------------------------------------------- commands


def _budget_options(f: Any) -> Any:
    """A ``--max-KEY`` option per budgetable metric of the table, in its order."""
    for metric in reversed(B.METRICS.values()):
        f = click.option(metric.budget_flag, f"max_{metric.key}", metavar="N",
                         help=f"Budget for {metric.label} (e.g. {metric.budget_example}), "
                              "replacing the configured one.")(f)
    return f


@click.command("check", cls=AcecostCommand)
@click.argument("target", required=False)
@_budget_options
@click.option("--baseline", type=click.Path(dir_okay=False), metavar="BASE.json",
              help="Report from 'acecost analyze --format json' to compare against.")
@click.option("--max-increase", metavar="PCT", cls=DefaultShown, show_default="0%",
              help="Largest allowed increase over --baseline per metric (e.g. 2%).")
@click.option("--config", "config", type=click.Path(dir_okay=False), metavar="FILE", cls=DefaultShown,
              show_default="./pyproject.toml or ./acecost.toml",
              help="pyproject.toml or acecost.toml to read.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Verdict on stdout: a table, JSON, JUnit XML, GitHub annotations (failures and "
                   "warnings only, at their line in the config) or markdown.")
@click.option("--junit-xml", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write JUnit XML to FILE, whatever --format is.")
@click.option("--summary", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also append the markdown verdict to FILE (e.g. \"$GITHUB_STEP_SUMMARY\"), "
                   "whatever --format is.")
@target_options
@param_option
@click.option("--strict", is_flag=True,
              help="Fail (exit 1) when a report is approximate: float fallbacks, unsupported "
                   "primitives or unknown loop counts.")
@click.option("--timings", is_flag=True,
              help="Put analysis times in --format json|junit (without it, both are byte-identical between runs).")
@click.option("--quiet", "-q", is_flag=True,
              help="No warnings on stderr (errors and the verdict are written as always).")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def check(ctx: click.Context, target: str | None, fmt: str, junit_xml: str | None, summary: str | None,
          config: str | None, timings: bool, quiet: bool, **opts: Any) -> None:
    """Fail (exit 1) when a model's cost exceeds its budget.

    TARGET is a model file, module:attr, zoo:NAME or the name of a model in
    the config; a TARGET that is a configured model's target (a path compared
    resolved) checks that model with its budgets. Without TARGET every model in
    [tool.acecost] of pyproject.toml (or acecost.toml) is checked. A model with
    no budget, baseline or --strict is an error. A --max-* option (and
    --max-increase) replaces the configured value; with several configured
    models and no TARGET it is refused (it would replace every model's). Exit codes: 0 within budget,
    1 over budget or regressed, 2 usage, configuration or model error.
    """
    debug = debug_enabled(ctx)
    try:
        cli = _cli_overrides(opts)
        specs = select_models(target, Path(config) if config else None, cli)
        for path in (junit_xml, summary):
            if path:
                check_writable(path)
    except AcecostError as e:
        if debug:
            traceback.print_exc()
        fail(e)
    results = [run_model(spec, debug) for spec in specs]
    for res in results:
        if res.error is not None:
            click.echo(f"acecost: error: model {one_line(res.spec.name)}: {one_line(res.error)}", err=True)
        for note in res.notes if not quiet else ():
            click.echo(f"acecost: warning: model {one_line(res.spec.name)}: {one_line(note)}", err=True)
    if fmt == "table":
        render_table(results)
    elif fmt == "json":
        click.echo(render_json(results, timings))
    elif fmt == "junit":
        click.echo(render_junit(results, timings))
    elif fmt == "markdown":
        click.echo(render_markdown(results), nl=False)
    else:
        click.echo(unsurrogate(render_github(results)))
    if junit_xml:
        try:
            Path(junit_xml).write_text(render_junit(results, timings) + "\n", encoding="utf-8")
        except OSError as e:
            fail(f"cannot write {junit_xml}: {e.strerror or e}")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as f:
                f.write(render_markdown(results))
        except OSError as e:
            fail(f"cannot write {summary}: {e.strerror or e}")
    ctx.exit(exit_code(results))


def _cli_overrides(opts: dict[str, Any]) -> dict[str, Any]:
    """Command-line values (shared options arrive parsed); every bad value names its option."""
    budgets, texts = {}, {}
    for metric in B.METRICS:
        raw = opts.get(f"max_{metric}")
        if raw is not None:
            budgets[metric] = B.METRICS[metric].parse(raw, B.METRICS[metric].budget_flag)
            texts[metric] = B.echo_budget(raw, B.METRICS[metric])
    out: dict[str, Any] = {"budgets": budgets, "budget_text": texts}
    for key in ("input_shape", "resolution", "batch", "dtype", "entry", "params"):
        out[key] = opts.get(key)
    for option in O.OPTIONS:  # a repeatable option is a list, like its config value ([]: not given)
        value = opts.get(option.name)
        out[option.name] = list(value or ()) if option.multiple else value
    if opts.get("max_increase") is not None:
        out["max_increase"] = parse_percent(opts["max_increase"], "--max-increase")
    if opts.get("baseline") is not None:
        out["baseline"] = Path(opts["baseline"])
    out["strict"] = True if opts.get("strict") else None
    return out
