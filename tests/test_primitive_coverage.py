"""Every primitive jax registers is classified: it has a bit rule, a cost rule,
or is in the documented list of primitives reported as unsupported.

A primitive new in a jax release is in none of these, and this test names it,
instead of the walk silently giving its output no level structure.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import acecost.engine.walker  # noqa: F401  (registers every bit rule)
from acecost.engine.rules.registry import BIT_RULES
from acecost.engine.rules.counts import COUNTED_PRIMITIVES, FREE
from acecost.engine.rules.contractions import MAC_RULES
from acecost.engine.rules.registry import HIGHER_ORDER
from acecost.engine.unsupported import unsupported_by_design

#: Imports every module of jax._src (one that fails to import registers nothing
#: on this machine) and lists the names of all Primitive objects then alive.
#: Kernel languages' own modules (Pallas, Mosaic, Triton) are left out: their
#: primitives only occur inside a ``pallas_call`` / ``core_map`` body, where
#: one without a rule (acecost/engine/rules/kernels.py) is reported unsupported where met.
_ENUMERATE = """
import gc, importlib, json, pkgutil, warnings
warnings.simplefilter("ignore")
import jax, jax._src
from jax._src import core
for info in pkgutil.walk_packages(jax._src.__path__, "jax._src.", onerror=lambda name: None):
    if any(k in info.name for k in ("pallas", "mosaic", "triton")):
        continue
    try:
        importlib.import_module(info.name)
    except Exception:
        pass
print(json.dumps(sorted({o.name for o in gc.get_objects() if isinstance(o, core.Primitive)})))
"""


@pytest.fixture(scope="module")
def jax_primitives() -> list[str]:
    out = subprocess.run([sys.executable, "-c", _ENUMERATE], capture_output=True, text=True, check=True)
    names = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(names) > 250  # the walk found jax's primitives (0.10.2 registers about 330)
    return names


def _ruled() -> set[str]:
    return set(BIT_RULES) | set(COUNTED_PRIMITIVES) | set(MAC_RULES) | set(HIGHER_ORDER)


def test_every_jax_primitive_is_classified(jax_primitives):
    unsupported = unsupported_by_design()
    missing = [p for p in jax_primitives if p not in _ruled() and p not in unsupported]
    assert not missing, f"primitives with no bit rule, no cost rule and no documented reason: {missing}"


def test_unsupported_list_names_only_jax_primitives_without_rules(jax_primitives):
    unsupported = unsupported_by_design()
    assert not (set(unsupported) & _ruled()), "a primitive with a rule is still listed as unsupported"
    assert not (set(unsupported) - set(jax_primitives)), "the list names a primitive jax does not define"


def test_data_movement_keeps_levels(jax_primitives):
    """Every free (data-movement) primitive has a bit rule, so a quantized value keeps its levels
    through it; the exceptions make values of their own (a device index)."""
    makes_its_own = {"axis_index"}
    no_value = {"debug_callback", "debug_print"}  # an effect on the host: nothing flows on
    lacking = sorted(p for p in FREE if p in jax_primitives and p not in BIT_RULES
                     and p not in makes_its_own | no_value)
    assert not lacking, lacking
