"""Stage 4, report: a tally becomes a Report, and a Report becomes text.

Takes the engine's tally and the parameters' names; gives the
:class:`~acecost.report.model.Report` (``model``: records, totals, JSON),
built by ``build``, written as a rich table, CSV, markdown or JSON
(``render``), and its energy estimate (``energy``, ``energy_text``);
``safe_text`` makes user text safe for JSON, XML and the terminal.
"""
