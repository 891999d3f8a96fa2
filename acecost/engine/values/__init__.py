"""The value model: what the walker knows about each variable.

Takes dtypes, constants and literals; gives :class:`Value` (``value``)
carrying a level set (``levels``), how shape primitives move its axes
(``axes``), its group bounds (``groups``) and constant folding
(``folding``). Pure data and lattice operations: no rule lives here.
"""
