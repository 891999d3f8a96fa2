"""Stages 2-3, the engine: a closed jaxpr becomes a tally of priced work.

Takes a closed jaxpr, its arguments' names and the analysis options. One
walker (``walker``) visits every live equation (``liveness``) in program
order, keeps an abstract value per variable (``values/``, ``bindings``),
asks the rule tables (``rules/``, one module per primitive family) for each
output's levels and each equation's cost, and prices every contraction
(``contraction``, ``scales``, ``names``). Gives a
:class:`~acecost.engine.tally.Tally`: contraction records, elementwise
counts, weight preparation and the gaps it could not price.
"""
