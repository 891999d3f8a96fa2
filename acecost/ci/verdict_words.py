"""What ``acecost check`` concluded, in words: each budget, regression and model as a
phrase, the one verdict line, and the exit status it implies.

Every format of :mod:`acecost.ci.verdict` (table, JSON, JUnit, GitHub,
markdown) says the same things, so they share these phrases; ``acecost diff`` writes
its changes with the same percentages (``fmt_pct``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acecost.ci import budget as B
from acecost.metrics import format_value


def fmt_value(metric: str, value: Any) -> str:
    """A value of a budgetable metric (``ace``, ``size`` ...) as the table of metrics writes it."""
    return format_value(metric, value)


def fmt_against(metric: str, value: Any, other: Any) -> str:
    """``value`` as :func:`fmt_value` writes it, or in full when that would read the same as a
    different ``other`` (a value one over its budget: ``262400`` against ``262399``, not ``262k``)."""
    text = fmt_value(metric, value)
    if value == other or text != fmt_value(metric, other) or not float(value).is_integer():
        return text
    return f"{int(value)}bit" if B.METRICS[metric].kind == "size" else str(int(value))


def fmt_budget(r: B.BudgetRow) -> str:
    """A budget as the user wrote it (``1.5G``), else as its metric is written."""
    return r.budget_text if r.budget_text is not None else fmt_value(r.metric, r.budget)


def fmt_pct(x: float | None, signed: bool = True) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.1f}%" if signed else f"{x:.1f}%"


def budget_message(r: B.BudgetRow) -> str:
    value, budget = fmt_against(r.metric, r.value, r.budget), fmt_budget(r)
    if r.passed:
        return f"{r.label} {value} within budget {budget} ({fmt_pct(r.headroom_pct, False)} headroom)"
    over = "budget is 0" if r.over_pct is None else fmt_pct(r.over_pct)
    return f"{r.label} {value} exceeds budget {budget} ({over})"


def regression_message(r: B.RegressionRow) -> str:
    value, base = fmt_against(r.metric, r.value, r.baseline), fmt_against(r.metric, r.baseline, r.value)
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
    if errors:
        names = ", ".join(r.spec.name for r in errors)
        return f"ERROR: {len(errors)} of {models} could not be checked: {names}"
    if fails:
        detail = ", ".join(f"{r.spec.name} ({short_problems(r)})" for r in fails)
        return f"FAIL: {len(fails)} of {models} over budget: {detail}"
    return f"PASS: {'all ' if n > 1 else ''}{models} within budget"


def exit_code(results: list[B.ModelResult]) -> int:
    """3 a bug, 2 a user error, 1 over budget, 0 pass: the worst one wins."""
    if any(r.internal for r in results):
        return 3
    statuses = {r.status for r in results}
    return 2 if "error" in statuses else 1 if "fail" in statuses else 0


def show_target(target: str) -> str:
    """Paths under the cwd are shown relative to it, as the user wrote them."""
    try:
        return str(Path(target).relative_to(Path.cwd()))
    except ValueError:
        return target
