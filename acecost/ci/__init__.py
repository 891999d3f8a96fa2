"""Stage 5a, CI: reports checked against budgets and against each other.

Takes Reports (fresh or from JSON) and the ``[tool.acecost]`` budgets; gives
the budget file read into one spec per model (``budget_file``), budgets
and regressions checked (``budget``), per-layer differences (``diff``), the TOML line of
each key for annotations (``tomllines``) and the verdict in words
(``verdict_words``) and in machine formats (``verdict``).
"""
