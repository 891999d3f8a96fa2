"""Rules keyed by primitive, one module per primitive family.

Takes a jaxpr equation and the abstract values of its inputs; gives the
output's levels (bit rules), the equation's cost (MACs of a contraction,
elementwise operations by category), which inputs it reads (liveness) and,
for equations that carry sub-jaxprs, how their bodies are walked. Every
table is in ``registry``; each family module fills its own entries:

- ``elementwise``: arithmetic, comparisons, casts (bit rules) and
  ``counts`` (the elementwise cost of every family);
- ``bitwise``: shifts, and/or/xor, population counts;
- ``reductions``: reductions and contractions' bit rules;
- ``movement``: reshapes, slices, gathers, concatenation;
- ``contractions``: MAC counts of dot/conv;
- control flow: ``calls`` (jit, custom derivatives, shard_map),
  ``loops`` (scan, while), ``branches`` (cond), ``kernels`` (Pallas; its
  grid and blocks in ``pallas_blocks``).

Importing this package (as the walker does) fills every table.
"""
# the first-order families, then control flow, which reads the complete tables
from acecost.engine.rules import counts, elementwise, bitwise, movement, reductions, contractions  # noqa: F401, I001
from acecost.engine.rules import calls, loops, branches, kernels  # noqa: F401
