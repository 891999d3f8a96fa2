"""``acecost check`` (fail a build on cost budgets) and ``acecost diff``.

Exit codes are the contract CI relies on: 0 every model within budget, 1 a
budget exceeded or a regression beyond ``--max-increase`` (or, with
``--strict``, an approximate report), 2 a usage, configuration or model
error, 3 a bug in acecost. ``--debug`` adds tracebacks, never changes the
exit code. ``diff`` only reports: 0, or 2 for unreadable files.
"""

from __future__ import annotations

import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import click

from acecost.cli.contract import AcecostCommand
from acecost import budget as B
from acecost.cli.common import debug_enabled, fail, target_options
from acecost.diff import load_report, model_mismatch, validate_report
from acecost.errors import AcecostError, ConfigError
from acecost.report import printable, to_json, xml_text
from acecost.units import format_count, format_size, parse_percent

FORMATS = ("table", "json", "junit", "github")
DIFF_FORMATS = ("table", "json", "markdown")
DEFAULT_TOP = 20  # layer rows shown by table/markdown diffs when --top is not given


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
        float_bits=spec.float_bits,
        bits=tuple(spec.bits),
        while_trips=spec.while_trips,
        mode=spec.mode,
        quiet=True,
        unmatched_bits="error",
    )
    return report.to_dict()


def count_fallbacks(report: dict[str, Any]) -> int:
    """Records with a float-width fallback operand, as ``Report.fallbacks`` defines them."""
    from acecost.report import Report

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
        result.rows = B.evaluate(result.totals, spec.budgets)
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
        if debug:
            traceback.print_exc()
        if isinstance(e, AcecostError):
            result.error = str(e)
        else:  # a bug in acecost: still one line, and exit 3 like the other commands
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            result.error = f"internal error: {type(e).__name__}: {first} (rerun with --debug for details)"
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
    else:
        matches = [s for s in specs if s.name == target]
        selected = matches[:1] or [B.ModelSpec(name=target, target=target)]
    if cli.get("baseline") is not None and len(selected) > 1:
        raise ConfigError(
            f"--baseline compares one model but {len(selected)} are configured in {source}; "
            "name one model as TARGET or set 'baseline' per model in the config"
        )
    selected = [B.override(s, **cli) for s in selected]
    if cli.get("max_increase") is not None and all(s.baseline is None for s in selected):
        raise ConfigError("--max-increase needs --baseline (or a 'baseline' in the config)")
    for s in selected:
        if s.max_increase is not None and s.baseline is None:
            raise ConfigError(f"model {s.name!r}: max_increase needs a baseline (a 'baseline' in the config "
                              "or --baseline)")
    for s in selected:
        if s.baseline is not None:
            load_report(s.baseline)  # an unreadable baseline is a usage error, before any analysis
    return selected


# ------------------------------------------------------------ text pieces


def fmt_value(metric: str, value: Any) -> str:
    return format_size(value) if B.METRICS[metric].is_size else format_count(value)


def fmt_pct(x: float | None, signed: bool = True) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.1f}%" if signed else f"{x:.1f}%"


def budget_message(r: B.BudgetRow) -> str:
    value, budget = fmt_value(r.metric, r.value), fmt_value(r.metric, r.budget)
    if r.passed:
        return f"{r.label} {value} within budget {budget} ({fmt_pct(r.headroom_pct, False)} headroom)"
    over = "budget is 0" if r.over_pct is None else fmt_pct(r.over_pct)
    return f"{r.label} {value} exceeds budget {budget} ({over})"


def regression_message(r: B.RegressionRow) -> str:
    value, base = fmt_value(r.metric, r.value), fmt_value(r.metric, r.baseline)
    change = "from 0" if r.change_pct is None else fmt_pct(r.change_pct)
    limit = f"max +{r.max_increase_pct:g}%"
    if r.passed:
        return f"{r.label} {value} vs baseline {base} ({change}, {limit})"
    return f"{r.label} {value} regressed from baseline {base} ({change}, {limit})"


def approximations(res: B.ModelResult) -> str:
    """Why a report is approximate: ``2 float fallbacks; totals incomplete``."""
    parts = []
    if res.fallbacks:
        parts.append(f"{res.fallbacks} float fallback{'s' * (res.fallbacks != 1)}")
    if res.unsupported:
        n = len(res.unsupported)
        names = ", ".join(str(u.get("primitive", "?")) for u in res.unsupported[:5])
        parts.append(f"{n} unsupported primitive{'s' * (n != 1)} ({names})")
    if not res.complete:
        parts.append("totals incomplete")
    return "; ".join(parts)


def strict_message(res: B.ModelResult) -> str:
    return f"approximate report under --strict: {approximations(res)}"


def problems(res: B.ModelResult) -> list[str]:
    """Why a model did not pass, one short phrase each."""
    if res.error is not None:
        return [res.error]
    out = [budget_message(r) for r in res.rows if not r.passed]
    out += [regression_message(r) for r in res.regressions if not r.passed]
    if res.strict_failed:
        out.append(strict_message(res))
    return out


def short_problems(res: B.ModelResult) -> str:
    """The verdict's terse form: which metrics, by how much."""
    over = [f"{r.label} {'over a 0 budget' if r.over_pct is None else fmt_pct(r.over_pct)}"
            for r in res.rows if not r.passed]
    parts = [", ".join(over)] if over else []
    regressed = [f"{r.label} {'from 0' if r.change_pct is None else fmt_pct(r.change_pct)}"
                 for r in res.regressions if not r.passed]
    if regressed:
        limit = res.regressions[0].max_increase_pct
        parts.append(f"regressed vs baseline (max +{limit:g}%): {', '.join(regressed)}")
    if res.strict_failed:
        parts.append(f"--strict: {approximations(res)}")
    return "; ".join(parts)


def verdict(results: list[B.ModelResult]) -> str:
    """One line that says whether the build should pass, and why not."""
    n = len(results)
    errors = [r for r in results if r.status == "error"]
    fails = [r for r in results if r.status == "fail"]
    models = f"{n} model{'s' * (n != 1)}"
    unbudgeted = [r.spec.name for r in results
                  if r.error is None and not r.rows and not r.regressions and not r.spec.strict]
    note = f" (no budgets set for: {', '.join(unbudgeted)})" if unbudgeted else ""
    if errors:
        names = ", ".join(r.spec.name for r in errors)
        return f"ERROR: {len(errors)} of {models} could not be checked: {names}"
    if fails:
        detail = ", ".join(f"{r.spec.name} ({short_problems(r)})" for r in fails)
        return f"FAIL: {len(fails)} of {models} over budget: {detail}"
    return f"PASS: {'all ' if n > 1 else ''}{models} within budget{note}"


def exit_code(results: list[B.ModelResult]) -> int:
    """3 a bug, 2 a user error, 1 over budget, 0 pass: the worst one wins."""
    if any(r.internal for r in results):
        return 3
    statuses = {r.status for r in results}
    return 2 if "error" in statuses else 1 if "fail" in statuses else 0


# ---------------------------------------------------------------- renderers


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def render_json(results: list[B.ModelResult], timings: bool = False) -> str:
    """The verdict as JSON: byte-identical between runs unless ``timings``."""
    models = []
    for res in results:
        models.append({
            "name": res.spec.name,
            "target": res.spec.target,
            "status": res.status,
            "error": res.error,
            **({"seconds": round(res.seconds, 3)} if timings else {}),
            "budgets": [
                {"metric": r.metric, "label": r.label, "value": r.value, "budget": r.budget,
                 "headroom_pct": _round(r.headroom_pct), "passed": r.passed}
                for r in res.rows
            ],
            "regressions": [
                {"metric": r.metric, "label": r.label, "value": r.value, "baseline": r.baseline,
                 "change_pct": _round(r.change_pct), "max_increase_pct": r.max_increase_pct,
                 "passed": r.passed}
                for r in res.regressions
            ],
            "baseline": str(res.spec.baseline) if res.spec.baseline else None,
            "strict": res.spec.strict,
            "strict_failed": res.strict_failed,
            "fallbacks": res.fallbacks,
            "approximate": res.approximate if res.error is None else None,
            "notes": res.notes,
            "warnings": res.warnings,
            "unsupported": res.unsupported,
            "totals": res.totals,
        })
    code = exit_code(results)
    doc = {"schema_version": 1, "passed": code == 0, "exit_code": code,
           "verdict": verdict(results), "models": models}
    return to_json(doc).rstrip("\n")


def render_junit(results: list[B.ModelResult], timings: bool = False) -> str:
    """JUnit XML: one testcase per model and budgeted metric, failures for excesses.

    An approximate report (float fallbacks, unsupported primitives, unknown
    loop counts) is a skipped ``exact`` testcase, visible without failing the
    build; under --strict it is the ``strict`` failure. Text is stripped of
    ANSI codes and characters XML cannot hold; times only with ``timings``.
    """
    suite = ET.Element("testsuite", name="acecost check")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def case(res: B.ModelResult, name: str) -> ET.Element:
        counts["tests"] += 1
        attrs = {"classname": xml_text(f"acecost.{res.spec.name}"), "name": xml_text(name)}
        if timings:
            attrs["time"] = f"{res.seconds:.3f}"
        return ET.SubElement(suite, "testcase", attrs)

    def failure(el: ET.Element, kind: str, message: str, text: str = "") -> None:
        counts["failures"] += 1
        ET.SubElement(el, "failure", type=kind, message=xml_text(message)).text = xml_text(text or message)

    for res in results:
        if res.error is not None:
            el = case(res, "analysis")
            counts["errors"] += 1
            ET.SubElement(el, "error", type="acecost error", message=xml_text(res.error)).text = xml_text(res.error)
            continue
        for r in res.rows:
            el = case(res, f"budget {r.label}")
            if not r.passed:
                failure(el, "budget", budget_message(r),
                        f"{r.label}: value {r.value}, budget {r.budget}")
        for r in res.regressions:
            el = case(res, f"regression {r.label}")
            if not r.passed:
                failure(el, "regression", regression_message(r),
                        f"{r.label}: value {r.value}, baseline {r.baseline}")
        if res.spec.strict:
            el = case(res, "strict")
            if res.strict_failed:
                failure(el, "strict", strict_message(res), "\n".join(res.warnings) or None)
        elif res.approximate:
            el = case(res, "exact")
            counts["skipped"] += 1
            ET.SubElement(el, "skipped", message=xml_text(f"approximate report: {approximations(res)}"))
        if not res.rows and not res.regressions and not res.spec.strict and not res.approximate:
            case(res, "analysis")
        if res.notes:
            ET.SubElement(suite[-1], "system-err").text = xml_text("\n".join(res.notes))
    for key in ("tests", "failures", "errors", "skipped"):
        suite.set(key, str(counts[key]))
    if timings:
        suite.set("time", f"{sum(r.seconds for r in results):.3f}")
    root = ET.Element("testsuites", name="acecost", tests=suite.get("tests"),
                      failures=suite.get("failures"), errors=suite.get("errors"))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def gh_escape(text: str) -> str:
    """GitHub workflow-command data escaping (as @actions/core does)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def gh_escape_property(text: str) -> str:
    """Property values (``title=``) also escape the separators ``:`` and ``,``."""
    return gh_escape(text).replace(":", "%3A").replace(",", "%2C")


def render_github(results: list[B.ModelResult]) -> str:
    """``::error``/``::notice``/``::warning`` annotations, one per check."""
    lines = []

    def emit(level: str, title: str, res: B.ModelResult, message: str) -> None:
        text = gh_escape(f"model {res.spec.name}: {message}")
        lines.append(f"::{level} title={gh_escape_property(title)}::{text}")

    for res in results:
        if res.error is not None:
            emit("error", "acecost error", res, res.error)
            continue
        for r in res.rows:
            emit("notice" if r.passed else "error", "acecost budget", res, budget_message(r))
        for r in res.regressions:
            emit("notice" if r.passed else "error", "acecost regression", res, regression_message(r))
        if res.strict_failed:
            emit("error", "acecost strict", res, strict_message(res))
        elif res.approximate:
            emit("warning", "acecost analysis", res, f"approximate report: {approximations(res)}")
        for note in res.notes:
            emit("warning", "acecost baseline", res, note)
    lines.append(verdict(results))
    return "\n".join(lines)


def show_target(target: str) -> str:
    """Paths under the cwd are shown relative to it, as the user wrote them."""
    try:
        return str(Path(target).relative_to(Path.cwd()))
    except ValueError:
        return target


def render_table(results: list[B.ModelResult]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    def esc(text: object) -> str:
        return escape(printable(text))

    console = Console(highlight=False, soft_wrap=False)
    for res in results:
        if res.error is not None:
            console.print(f"[bold]{esc(res.spec.name)}[/] ({esc(show_target(res.spec.target))}): "
                          f"[red]ERROR[/] {esc(res.error)}", soft_wrap=True)
            continue
        status = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]"}[res.status]
        console.print(f"[bold]{esc(res.spec.name)}[/] ({esc(show_target(res.spec.target))}): {status}",
                      soft_wrap=True)
        table = Table()
        for col in ("metric", "value", "budget", "headroom"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        table.add_column("")
        budgeted = {r.metric: r for r in res.rows}
        for name, metric in B.METRICS.items():
            if metric.total not in (res.totals or {}):
                continue
            r = budgeted.get(name)
            value = fmt_value(name, res.totals[metric.total])
            if r is None:
                table.add_row(metric.label, value, "-", "-", "")
            else:
                mark = "[green]ok[/]" if r.passed else "[red]OVER[/]"
                table.add_row(metric.label, value, fmt_value(name, r.budget),
                              fmt_pct(r.headroom_pct, False), mark)
        console.print(table)
        if res.regressions:
            console.print(f"{esc(res.spec.name)} vs baseline {esc(show_target(str(res.spec.baseline)))}:",
                          soft_wrap=True)
            reg = Table()
            for col in ("metric", "baseline", "value", "change", "allowed"):
                reg.add_column(col, justify="left" if col == "metric" else "right")
            reg.add_column("")
            for r in res.regressions:
                mark = "[green]ok[/]" if r.passed else "[red]REGRESSED[/]"
                reg.add_row(r.label, fmt_value(r.metric, r.baseline), fmt_value(r.metric, r.value),
                            fmt_pct(r.change_pct), f"+{r.max_increase_pct:g}%", mark)
            console.print(reg)
        if res.approximate:
            note = approximations(res)
            style = "red" if res.strict_failed else "yellow"
            console.print(f"[{style}]note:[/] approximate report ({esc(note)}); "
                          "see 'acecost analyze' for details", soft_wrap=True)
    code = exit_code(results)
    style = "green" if code == 0 else "red"
    console.print(f"[bold {style}]{esc(verdict(results))}[/]", soft_wrap=True)


# ----------------------------------------------------------------- commands


def _budget_option(metric: str, example: str) -> Any:
    return click.option(f"--max-{metric}", f"max_{metric}", metavar="N",
                        help=f"Budget for {B.METRICS[metric].label} (e.g. {example}).")


@click.command("check", cls=AcecostCommand)
@click.argument("target", required=False)
@_budget_option("ace", "5e9, 4.2G")
@_budget_option("cpu64", "1.2e8, 900M")
@_budget_option("size", "4MB, 32Mbit, 1.5GiB; bare numbers are bits")
@_budget_option("macs", "600M")
@_budget_option("bops", "5G")
@_budget_option("elementwise", "20M")
@click.option("--baseline", type=click.Path(dir_okay=False), metavar="BASE.json",
              help="Report from 'acecost analyze --format json' to compare against.")
@click.option("--max-increase", metavar="PCT",
              help="Largest allowed increase over --baseline per metric (e.g. 2%); default 0%.")
@click.option("--config", "config", type=click.Path(dir_okay=False), metavar="FILE",
              help="pyproject.toml or acecost.toml to read (default: the one in the cwd).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--junit-xml", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write JUnit XML to FILE, whatever --format is.")
@target_options
@click.option("--strict", is_flag=True,
              help="Fail (exit 1) when a report is approximate: float fallbacks, unsupported "
                   "primitives or unknown loop counts.")
@click.option("--timings", is_flag=True,
              help="Put analysis times in --format json|junit (without it, both are byte-identical between runs).")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def check(ctx: click.Context, target: str | None, fmt: str, junit_xml: str | None,
          config: str | None, timings: bool, **opts: Any) -> None:
    """Fail (exit 1) when a model's cost exceeds its budget.

    TARGET is a model file, module:attr, zoo:NAME or the name of a model in
    the config. Without TARGET every model in [tool.acecost] of
    pyproject.toml (or acecost.toml) is checked. Exit codes: 0 within budget,
    1 over budget or regressed, 2 usage, configuration or model error.
    """
    debug = debug_enabled(ctx)
    try:
        cli = _cli_overrides(opts)
        specs = select_models(target, Path(config) if config else None, cli)
    except AcecostError as e:
        if debug:
            traceback.print_exc()
        fail(e)
    results = [run_model(spec, debug) for spec in specs]
    for res in results:
        if res.error is not None:
            click.echo(f"acecost: error: model {res.spec.name}: {res.error}", err=True)
        for note in res.notes:
            click.echo(f"acecost: warning: model {res.spec.name}: {note}", err=True)
    if fmt == "table":
        render_table(results)
    elif fmt == "json":
        click.echo(render_json(results, timings))
    elif fmt == "junit":
        click.echo(render_junit(results, timings))
    else:
        click.echo(render_github(results))
    if junit_xml:
        try:
            Path(junit_xml).write_text(render_junit(results, timings) + "\n", encoding="utf-8")
        except OSError as e:
            fail(f"cannot write {junit_xml}: {e.strerror or e}")
    ctx.exit(exit_code(results))


def _cli_overrides(opts: dict[str, Any]) -> dict[str, Any]:
    """Command-line values (shared options arrive parsed); every bad value names its option."""
    budgets = {}
    for metric in B.METRICS:
        raw = opts.get(f"max_{metric}")
        if raw is not None:
            budgets[metric] = B.METRICS[metric].parse(raw, f"--max-{metric}")
    out: dict[str, Any] = {"budgets": budgets}
    for key in ("input_shape", "float_bits", "while_trips", "resolution", "batch", "mode", "dtype", "entry"):
        out[key] = opts.get(key)
    if opts.get("bits"):
        out["bits"] = list(opts["bits"])
    if opts.get("max_increase") is not None:
        out["max_increase"] = parse_percent(opts["max_increase"], "--max-increase")
    if opts.get("baseline") is not None:
        out["baseline"] = Path(opts["baseline"])
    out["strict"] = True if opts.get("strict") else None
    return out
