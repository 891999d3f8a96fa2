"""``acecost check`` (fail a build on cost budgets) and ``acecost diff``.

Exit codes are the contract CI relies on: 0 every model within budget, 1 a
budget exceeded or a regression beyond ``--max-increase`` (or, with
``--strict``, an approximate report), 2 a usage, configuration or model
error, 3 a bug in acecost. ``--debug`` adds tracebacks, never changes the
exit code. ``diff`` only reports: 0, or 2 for unreadable files.
"""

from __future__ import annotations

import json
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import click

from acecost import budget as B
from acecost.cli.common import debug_enabled, fail
from acecost.diff import LayerDelta, ReportDiff, diff_reports, load_report, validate_report
from acecost.errors import AcecostError, ConfigError
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
        dtype=spec.dtype or "float32",
        resolution=spec.resolution,
        batch=spec.batch,
        float_bits=spec.float_bits if spec.float_bits is not None else 16,
        bits=tuple(spec.bits),
        while_trips=spec.while_trips,
        mode=spec.mode or "inference",
        cond=spec.cond or "max",
        scales=spec.scales or "strict",
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


def render_json(results: list[B.ModelResult]) -> str:
    models = []
    for res in results:
        models.append({
            "name": res.spec.name,
            "target": res.spec.target,
            "status": res.status,
            "error": res.error,
            "seconds": round(res.seconds, 3),
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
            "warnings": res.warnings,
            "unsupported": res.unsupported,
            "totals": res.totals,
        })
    code = exit_code(results)
    doc = {"schema_version": 1, "passed": code == 0, "exit_code": code,
           "verdict": verdict(results), "models": models}
    return json.dumps(doc, indent=2)


def render_junit(results: list[B.ModelResult]) -> str:
    """JUnit XML: one testcase per model and budgeted metric, failures for excesses."""
    suite = ET.Element("testsuite", name="acecost check")
    counts = {"tests": 0, "failures": 0, "errors": 0}

    def case(res: B.ModelResult, name: str) -> ET.Element:
        counts["tests"] += 1
        return ET.SubElement(suite, "testcase", classname=f"acecost.{res.spec.name}",
                             name=name, time=f"{res.seconds:.3f}")

    def failure(el: ET.Element, kind: str, message: str, text: str = "") -> None:
        counts["failures"] += 1
        ET.SubElement(el, "failure", type=kind, message=message).text = text or message

    for res in results:
        if res.error is not None:
            el = case(res, "analysis")
            counts["errors"] += 1
            ET.SubElement(el, "error", type="acecost error", message=res.error).text = res.error
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
        if not res.rows and not res.regressions and not res.spec.strict:
            case(res, "analysis")
    suite.set("tests", str(counts["tests"]))
    suite.set("failures", str(counts["failures"]))
    suite.set("errors", str(counts["errors"]))
    suite.set("skipped", "0")
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
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=False)
    for res in results:
        if res.error is not None:
            console.print(f"[bold]{res.spec.name}[/] ({show_target(res.spec.target)}): "
                          f"[red]ERROR[/] {res.error}", soft_wrap=True)
            continue
        status = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]"}[res.status]
        console.print(f"[bold]{res.spec.name}[/] ({show_target(res.spec.target)}): {status}",
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
            console.print(f"{res.spec.name} vs baseline {show_target(str(res.spec.baseline))}:",
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
            console.print(f"[{style}]note:[/] approximate report ({note}); "
                          "see 'acecost analyze' for details", soft_wrap=True)
    code = exit_code(results)
    style = "green" if code == 0 else "red"
    console.print(f"[bold {style}]{verdict(results)}[/]", soft_wrap=True)


# ----------------------------------------------------------------- commands


def _budget_option(metric: str, example: str) -> Any:
    return click.option(f"--max-{metric}", f"max_{metric}", metavar="N",
                        help=f"Budget for {B.METRICS[metric].label} (e.g. {example}).")


@click.command("check")
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
@click.option("--input-shape", metavar="1,224,224,3", help="Input shape for the model.")
@click.option("--dtype", help="Input dtype (default float32).")
@click.option("--float-bits", metavar="16|dtype",
              help="Bits of an unquantized float operand: an integer, or 'dtype' for its storage width.")
@click.option("--bits", multiple=True, metavar="REGEX=A,W",
              help="Force activation,weight bits on layers whose name matches REGEX (repeatable).")
@click.option("--while-trips", metavar="N", help="Trip count for while loops whose count is unknown.")
@click.option("--entry", help="Function to call in a model file instead of acecost_model.")
@click.option("--resolution", metavar="N", help="Zoo models: input height and width (default 224).")
@click.option("--batch", metavar="N", help="Zoo models: batch size (default 1).")
@click.option("--mode", type=click.Choice(B.MODES), default=None,
              help="train: forward + backward of a loss (default inference).")
@click.option("--cond", "cond", type=click.Choice(B.COND_MODES), default=None,
              help="cond with a run-time index: its costliest branch (max, the default) or the one "
                   "whose outputs carry the fewest bits (quantized).")
@click.option("--scales", type=click.Choice(B.SCALES_MODES), default=None,
              help="codes: price a quantized operand by its codes even where its scale varies along "
                   "the contraction (default strict).")
@click.option("--strict", is_flag=True,
              help="Fail (exit 1) when a report is approximate: float fallbacks, unsupported "
                   "primitives or unknown loop counts.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def check(ctx: click.Context, target: str | None, fmt: str, junit_xml: str | None,
          config: str | None, **opts: Any) -> None:
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
    if fmt == "table":
        render_table(results)
    elif fmt == "json":
        click.echo(render_json(results))
    elif fmt == "junit":
        click.echo(render_junit(results))
    else:
        click.echo(render_github(results))
    if junit_xml:
        try:
            Path(junit_xml).write_text(render_junit(results) + "\n", encoding="utf-8")
        except OSError as e:
            fail(f"cannot write {junit_xml}: {e.strerror or e}")
    ctx.exit(exit_code(results))


def _cli_overrides(opts: dict[str, Any]) -> dict[str, Any]:
    """Parse command-line values; every bad value is a ConfigError naming its option."""
    budgets = {}
    for metric in B.METRICS:
        raw = opts.get(f"max_{metric}")
        if raw is not None:
            budgets[metric] = B.METRICS[metric].parse(raw, f"--max-{metric}")
    out: dict[str, Any] = {"budgets": budgets}
    if opts.get("input_shape") is not None:
        out["input_shape"] = B.parse_input_shape(opts["input_shape"], "--input-shape")
    if opts.get("float_bits") is not None:
        out["float_bits"] = B.parse_float_bits(opts["float_bits"], "--float-bits")
    if opts.get("while_trips") is not None:
        out["while_trips"] = B.parse_while_trips(opts["while_trips"], "--while-trips")
    if opts.get("resolution") is not None:
        out["resolution"] = B.parse_int(opts["resolution"], "--resolution", 8)
    if opts.get("batch") is not None:
        out["batch"] = B.parse_int(opts["batch"], "--batch", 1)
    out["mode"] = opts.get("mode")
    out["cond"] = opts.get("cond")
    out["scales"] = opts.get("scales")
    if opts.get("bits"):
        for b in opts["bits"]:
            B.parse_bits_override(b, "--bits")
        out["bits"] = list(opts["bits"])
    if opts.get("max_increase") is not None:
        out["max_increase"] = parse_percent(opts["max_increase"], "--max-increase")
    if opts.get("baseline") is not None:
        out["baseline"] = Path(opts["baseline"])
    out["dtype"] = opts.get("dtype")
    out["entry"] = opts.get("entry")
    out["strict"] = True if opts.get("strict") else None
    return out


# --------------------------------------------------------------------- diff


def _delta(key: str, value: Any) -> str:
    if key == "size_bits":
        text = format_size(value)
        return text if text.startswith("-") or value == 0 else "+" + text
    text = format_count(value)
    return text if text.startswith("-") or value == 0 else "+" + text


def _total(key: str, value: Any) -> str:
    return format_size(value) if key == "size_bits" else format_count(value)


def _diff_rows(d: ReportDiff, top: int) -> list[tuple[str, list[LayerDelta], int]]:
    """(section, rows shown, rows in total) for the three layer sections."""
    return [(title, rows[:top], len(rows))
            for title, rows in (("changed", d.changed), ("added", d.added), ("removed", d.removed))]


def render_diff_table(d: ReportDiff, base: str, new: str, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=False)
    totals = Table(title=f"totals: {base} -> {new}", title_justify="left")
    for col in ("metric", "base", "new", "delta", "change"):
        totals.add_column(col, justify="left" if col == "metric" else "right")
    for t in d.totals:
        totals.add_row(t.label, _total(t.key, t.base), _total(t.key, t.new),
                       _delta(t.key, t.delta), fmt_pct(t.pct))
    console.print(totals)
    for title, rows, total in _diff_rows(d, top):
        if not total:
            continue
        shown = f" (top {len(rows)} of {total})" if total > len(rows) else ""
        table = Table(title=f"{title} layers{shown}", title_justify="left")
        for col in ("layer", "bits", "MACs delta", "base ACE", "new ACE", "ACE delta", "change"):
            table.add_column(col, justify="left" if col in ("layer", "bits") else "right")
        for r in rows:
            bits = r.new_bits if r.base_bits == r.new_bits else f"{r.base_bits} -> {r.new_bits}"
            table.add_row(r.name, bits, _delta("macs", r.delta_macs), format_count(r.base_ace),
                          format_count(r.new_ace), _delta("ace", r.delta_ace), fmt_pct(r.pct_ace))
        console.print(table)
    console.print(f"{len(d.changed)} changed, {len(d.added)} added, {len(d.removed)} removed, "
                  f"{d.unchanged} unchanged layers")


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_diff_markdown(d: ReportDiff, base: str, new: str, top: int) -> str:
    lines = [f"### acecost diff: `{_md(base)}` → `{_md(new)}`", "",
             "| metric | base | new | delta | change |", "|---|---:|---:|---:|---:|"]
    for t in d.totals:
        lines.append(f"| {t.label} | {_total(t.key, t.base)} | {_total(t.key, t.new)} "
                     f"| {_delta(t.key, t.delta)} | {fmt_pct(t.pct)} |")
    for title, rows, total in _diff_rows(d, top):
        if not total:
            continue
        shown = f" (top {len(rows)} of {total})" if total > len(rows) else ""
        lines += ["", f"**{title} layers{shown}**", "",
                  "| layer | bits | base ACE | new ACE | ACE delta | change |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in rows:
            bits = r.new_bits if r.base_bits == r.new_bits else f"{r.base_bits} → {r.new_bits}"
            lines.append(f"| `{_md(r.name)}` | {bits} | {format_count(r.base_ace)} "
                         f"| {format_count(r.new_ace)} | {_delta('ace', r.delta_ace)} "
                         f"| {fmt_pct(r.pct_ace)} |")
    lines += ["", f"{len(d.changed)} changed, {len(d.added)} added, {len(d.removed)} removed, "
              f"{d.unchanged} unchanged layers"]
    return "\n".join(lines)


@click.command("diff")
@click.argument("base", metavar="BASE.json")
@click.argument("new", metavar="NEW.json")
@click.option("--format", "fmt", type=click.Choice(DIFF_FORMATS), default="table", show_default=True)
@click.option("--top", type=click.IntRange(min=0), default=None,
              help=f"Layer rows per section (default: {DEFAULT_TOP} for table/markdown, all for json).")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def diff(ctx: click.Context, base: str, new: str, fmt: str, top: int | None, debug: bool) -> None:
    """Compare two JSON reports: totals, per-layer deltas, added and removed layers.

    Reports come from 'acecost analyze --format json'. Layers are sorted by
    the size of their ACE change. Always exits 0 (it reports, it does not
    judge) unless a file cannot be read (2).
    """
    try:
        d = diff_reports(load_report(base), load_report(new))
    except AcecostError as e:
        if debug_enabled(ctx):
            traceback.print_exc()
        fail(e)
    if fmt == "json":
        click.echo(json.dumps(d.to_dict(top), indent=2))
    elif fmt == "markdown":
        click.echo(render_diff_markdown(d, base, new, DEFAULT_TOP if top is None else top))
    else:
        render_diff_table(d, base, new, DEFAULT_TOP if top is None else top)
