"""What ``acecost check`` concluded, in its five formats (the words are :mod:`acecost.ci.verdict_words`).

Table (rich), JSON and JUnit XML say the same things: each budget and
regression, approximate reports, baseline notes and one verdict line; GitHub
annotations say only what failed or is doubtful, at its line in the config. JSON and JUnit are byte-identical between runs unless timings
are asked for; user text is never read as markup and never breaks the XML.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from acecost.ci import budget as B
from acecost.ci.verdict_words import (
    approximations, budget_message, exit_code, fmt_against, fmt_budget, fmt_pct, fmt_value, regression_message,
    show_target, strict_message, verdict,
)
from acecost.report.safe_text import printable, to_json, xml_text


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


def gh_line(text: str) -> str:
    """A plain log line that cannot be a workflow command: line breaks are escaped as in command
    data (``%`` is left as it is: GitHub unescapes only commands, and a plain ``+2.0%`` reads
    better), and the runner's legacy ``##[command]`` form, recognised anywhere in a line, is
    broken up. The verdict starts with PASS, FAIL or ERROR, never with ``::``."""
    return text.replace("\r", "%0D").replace("\n", "%0A").replace("##[", "##%5B")


def gh_escape_property(text: str) -> str:
    """Property values (``title=``) also escape the separators ``:`` and ``,``."""
    return gh_escape(text).replace(":", "%3A").replace(",", "%2C")


def gh_location(res: B.ModelResult, *keys: str) -> str:
    """``file=...,line=N,`` for the first of ``keys`` at a line of the model's config file, else nothing.

    A budget given on the command line is at no line: pointing at the
    config would blame a value that is not the one checked.
    """
    for key in keys:
        if res.spec.config is not None and key in res.spec.lines:
            return f"file={gh_escape_property(gh_path(res.spec.config))},line={res.spec.lines[key]},"
    return ""


def gh_path(path: Path) -> str:
    """GitHub resolves ``file=`` against the repository root (``$GITHUB_WORKSPACE``), not the cwd."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        try:
            return Path(path).resolve().relative_to(Path(workspace).resolve()).as_posix()
        except (ValueError, OSError):
            pass
    return show_target(str(path))


def render_github(results: list[B.ModelResult]) -> str:
    """``::error``/``::warning`` annotations for what failed or is doubtful, then the verdict.

    A passing check is silent: GitHub shows only the first ten annotations of
    a kind per step, so a notice per passing budget would hide the failures.
    Each annotation points at the key in the config file it is about.
    """
    lines = []

    def emit(level: str, title: str, res: B.ModelResult, message: str, *keys: str) -> None:
        text = gh_escape(f"model {res.spec.name}: {message}")
        lines.append(f"::{level} {gh_location(res, *keys)}title={gh_escape_property(title)}::{text}")

    for res in results:
        if res.error is not None:
            emit("error", "acecost error", res, res.error, "target", "")
            continue
        for r in res.rows:
            if not r.passed:
                emit("error", "acecost budget", res, budget_message(r), f"max_{r.metric}")
        for r in res.regressions:
            if not r.passed:
                emit("error", "acecost regression", res, regression_message(r), "max_increase", "baseline")
        if res.strict_failed:
            emit("error", "acecost strict", res, strict_message(res), "strict", "target", "")
        elif res.approximate:
            emit("warning", "acecost analysis", res, f"approximate report: {approximations(res)}", "target", "")
        for note in res.notes:
            emit("warning", "acecost baseline", res, note, "baseline")
    lines.append(gh_line(verdict(results)))
    return "\n".join(lines)


def _md(text: object) -> str:
    return printable(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(results: list[B.ModelResult]) -> str:
    """The verdict as GitHub-flavoured markdown, for a job's step summary or a PR comment."""
    lines = [f"### acecost check: {_md(verdict(results))}", ""]
    rows = [(res, r) for res in results for r in res.rows]
    if rows:
        lines += ["| model | metric | value | budget | headroom | |", "|---|---|---:|---:|---:|---|"]
        lines += [f"| {_md(res.spec.name)} | {r.label} | {fmt_against(r.metric, r.value, r.budget)} "
                  f"| {fmt_budget(r)} | {fmt_pct(r.headroom_pct, False)} "
                  f"| {'ok' if r.passed else '**OVER**'} |" for res, r in rows]
        lines.append("")
    regs = [(res, r) for res in results for r in res.regressions]
    if regs:
        lines += ["| model | metric | baseline | value | change | allowed | |",
                  "|---|---|---:|---:|---:|---:|---|"]
        lines += [f"| {_md(res.spec.name)} | {r.label} | {fmt_against(r.metric, r.baseline, r.value)} "
                  f"| {fmt_against(r.metric, r.value, r.baseline)} | {fmt_pct(r.change_pct)} | +{r.max_increase_pct:g}% "
                  f"| {'ok' if r.passed else '**REGRESSED**'} |" for res, r in regs]
        lines.append("")
    for res in results:
        if res.error is not None:
            lines.append(f"- **{_md(res.spec.name)}**: error: {_md(res.error)}")
        elif res.strict_failed:
            lines.append(f"- **{_md(res.spec.name)}**: {_md(strict_message(res))}")
        elif res.approximate:
            lines.append(f"- **{_md(res.spec.name)}**: approximate report: {_md(approximations(res))}")
        lines += [f"- **{_md(res.spec.name)}**: {_md(note)}" for note in res.notes]
    return "\n".join(lines).rstrip("\n") + "\n"


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
            if (res.totals or {}).get(metric.totals_key) is None:
                continue
            r = budgeted.get(name)
            value = fmt_value(name, res.totals[metric.totals_key])
            if r is None:
                table.add_row(metric.label, value, "-", "-", "")
            else:
                mark = "[green]ok[/]" if r.passed else "[red]OVER[/]"
                table.add_row(metric.label, fmt_against(name, r.value, r.budget), fmt_budget(r),
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
                reg.add_row(r.label, fmt_against(r.metric, r.baseline, r.value), fmt_against(r.metric, r.value, r.baseline),
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
