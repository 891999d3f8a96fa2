"""The error contract, through the real console script, for every command.

Each case runs ``.venv/bin/acecost`` in a subprocess and checks: the exit code
(0 success, 1 a failed budget or --strict, 2 a usage, config, target or model
error, 130 an interrupt), that stderr is the expected number of lines (one
``acecost: error:`` line for an error), that no traceback appears, and that
stdout parses in the format asked for (JSON without NaN/Infinity, well-formed
JUnit XML, rectangular CSV). Cases that fail on their options never import
jax, so most of the table costs a fraction of a second.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ACECOST = str(Path(sys.executable).with_name("acecost"))
TIMEOUT = 180

# ------------------------------------------------------------------ models

_SDS = "jax.ShapeDtypeStruct"
_MLP_BODY = f"""
def f(p, x):
    return (x @ p["fc1"]["kernel"]) @ p["fc2"]["kernel"]

def acecost_model():
    p = {{"fc1": {{"kernel": {_SDS}((8, 4), jnp.float32)}},
         "fc2": {{"kernel": {_SDS}((4, 2), jnp.float32)}}}}
    return f, (p, {_SDS}((1, 8), jnp.float32))
"""
MLP = "import jax, jax.numpy as jnp\n" + _MLP_BODY
PAIR = f"(lambda w, x: x @ w), ({_SDS}((4, 3), jnp.float32), {_SDS}((2, 4), jnp.float32))"
SLEEP = 'import sys, time\nprint("acecost-test: sleeping", file=sys.stderr, flush=True)\n'

MODELS: dict[str, str | bytes] = {
    "mlp.py": MLP,
    "mlp[v2].py": MLP,
    # every operand tagged: an exact report (no float fallback)
    "exact.py": "import jax, jax.numpy as jnp, acecost\n"
                "def f(w, x):\n    return acecost.tag(x, bits=8) @ acecost.tag(w, bits=4)\n"
                f"def acecost_model():\n    return f, ({_SDS}((4, 3), jnp.float32), {_SDS}((2, 4), jnp.float32))\n",
    "exit0_import.py": "import sys\nsys.exit(0)\n",
    "exitmsg_import.py": "import sys\nsys.exit('bye from the model')\n",
    "exit0_build.py": "import sys\ndef acecost_model():\n    sys.exit(0)\n",
    "exit1_build.py": "import sys\ndef acecost_model():\n    sys.exit(1)\n",
    "exit_trace.py": "import sys, jax, jax.numpy as jnp\n"
                     "def f(w, x):\n    sys.exit(0)\n"
                     f"def acecost_model():\n    return f, ({_SDS}((4, 3), jnp.float32), {_SDS}((2, 4), jnp.float32))\n",
    "exit_entry.py": MLP + "\ndef other():\n    raise SystemExit(3)\n",
    "kbint_import.py": "raise KeyboardInterrupt\n",
    "baseexc_import.py": "class Stop(BaseException):\n    pass\nraise Stop('odd exit')\n",
    "baseexc_trace.py": "import jax, jax.numpy as jnp\nclass Stop(BaseException):\n    pass\n"
                        "def f(w, x):\n    raise Stop('odd exit while tracing')\n"
                        f"def acecost_model():\n    return f, ({_SDS}((4, 3), jnp.float32), {_SDS}((2, 4), jnp.float32))\n",
    "prints.py": "import os, sys, jax, jax.numpy as jnp\n"
                 "print('printed at import')\nos.write(1, b'written to fd 1\\n')\n"
                 "def f(w, x):\n    print('printed while tracing')\n    return x @ w\n"
                 "def acecost_model():\n    sys.stdout.write('printed while building\\n')\n"
                 f"    return f, ({_SDS}((4, 3), jnp.float32), {_SDS}((2, 4), jnp.float32))\n",
    "debug.py": "import jax, jax.numpy as jnp\n"
                "def f(w, x):\n    jax.debug.print('x={x}', x=x)\n    jax.debug.callback(lambda v: None, x)\n"
                "    return x @ w\n"
                f"def acecost_model():\n    return f, ({_SDS}((4, 3), jnp.float32), {_SDS}((2, 4), jnp.float32))\n",
    "triple.py": f"import jax, jax.numpy as jnp\ndef acecost_model():\n    return ({PAIR}) + (1,)\n",
    "noncallable.py": "acecost_model = 5\n",
    "returns_int.py": "def acecost_model():\n    return 5\n",
    "pair_noncallable.py": f"import jax, jax.numpy as jnp\ndef acecost_model():\n    return 5, ({_SDS}((2,), jnp.float32),)\n",
    "takes_args.py": "def acecost_model(x):\n    return x\n",
    "empty.py": "x = 1\n",
    "raises_import.py": "raise ValueError('broken at import')\n",
    "raises_build.py": "def acecost_model():\n    raise RuntimeError('broken while building')\n",
    "missing_import.py": "import no_such_module_anywhere\n",
    "syntax.py": "def acecost_model(:\n",
    "binary.py": b"\x7fELF\x00\x01\x02\x00\xff\xfe",
    "latin1.py": b"# caf\xe9\ndef acecost_model():\n    return 1\n",
    "sym.py": "import jax, jax.numpy as jnp\nfrom jax import export\n"
              "def acecost_model():\n    b, = export.symbolic_shape('b')\n"
              f"    return (lambda w, x: x @ w), ({_SDS}((4, 3), jnp.float32), {_SDS}((b, 4), jnp.float32))\n",
    "negdim.py": "import jax, jax.numpy as jnp\n"
                 f"def acecost_model():\n    return (lambda w, x: x @ w), ({_SDS}((32, -1), jnp.float32), "
                 f"{_SDS}((1, 32), jnp.float32))\n",
    "argnums.py": f"import jax, jax.numpy as jnp, acecost\ndef acecost_model():\n"
                  f"    fn, args = {PAIR}\n    return acecost.Target(fn, args, params_argnums=(5,))\n",
    "argnums_neg.py": f"import jax, jax.numpy as jnp, acecost\ndef acecost_model():\n"
                      f"    fn, args = {PAIR}\n    return acecost.Target(fn, args, params_argnums=(-1,))\n",
    "markup.py": "import jax, jax.numpy as jnp\n"
                 "def f(p, x):\n    return x @ p['enc[/]']['kernel']\n"
                 f"def acecost_model():\n    return f, ({{'enc[/]': {{'kernel': {_SDS}((8, 4), jnp.float32)}}}}, "
                 f"{_SDS}((1, 8), jnp.float32))\n",
    "ansi.py": "import jax, jax.numpy as jnp\n"
               "def f(p, x):\n    return x @ p['a\\x1b[31mred\\x07']['kernel']\n"
               f"def acecost_model():\n    return f, ({{'a\\x1b[31mred\\x07': {{'kernel': {_SDS}((8, 4), jnp.float32)}}}}, "
               f"{_SDS}((1, 8), jnp.float32))\n",
    "linen.py": "import flax.linen as nn\nclass Net(nn.Module):\n    @nn.compact\n"
                "    def __call__(self, x):\n        return nn.Dense(3, name='fc')(x)\n",
    "sleepy.py": SLEEP + "time.sleep(120)\n",
    "swallow.py": SLEEP + "try:\n    time.sleep(120)\nexcept KeyboardInterrupt:\n    pass\n" + MLP,
    # what jax's pytree checks do to an interrupt that lands inside them
    "wraps.py": SLEEP + "try:\n    time.sleep(120)\nexcept KeyboardInterrupt as e:\n"
                "    raise ValueError('Exception raised while checking equality') from e\n",
    "uses_helper.py": "import os, sys\nsys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n"
                      "import contract_helper\n" + MLP,
    "contract_helper.py": "VALUE = 1\n",
    # odd file names: not UTF-8 (byte 0xff, held by Python as U+DCFF), spaces, non-ASCII, a leading dash
    "m\udcff.py": MLP,
    "with space.py": MLP,
    "caf\u00e9 \u2713.py": MLP,
    "-dash.py": MLP,
    # an error in a helper module the model imports is reported at the helper's line
    "sib_import.py": "x = 1\nimport sib_zero\n" + MLP,
    "sib_zero.py": "a = 1\nb = 2\nc = 1 / 0\n",
    "sib_syntax.py": "import sib_badsyntax\n" + MLP,
    "sib_badsyntax.py": "x = 1\ndef f(:\n",
    "sib_build.py": "import sib_raiser\ndef acecost_model():\n    return sib_raiser.build()\n",
    "sib_raiser.py": "def build():\n    raise ValueError('raised in the helper')\n",
    "sib_nul.py": "x = 1\nimport sib_nulhelper\n",
    "sib_nulhelper.py": b"x = 1\x00\n",
    "nul.py": b"x = 1\x00\n",
    "multiline_import.py": "raise ValueError('line one\\nline two\\nline three')\n",
    "multiline_build.py": "def acecost_model():\n    raise ValueError('line one\\n\\nline two\\nline three')\n",
}


def report_json(target="mlp.py", layers=(("fc1", 32, 8192), ("fc2", 8, 2048)), **totals) -> str:
    """A report as 'acecost analyze --format json' writes it (the fields budgets and diffs read)."""
    t = {"macs": 40, "binary_macs": 0, "ace": 10240, "cpu64": 40, "size_bits": 640, "params": 40,
         "elementwise_ops": 0, "complete": True, **totals}
    return json.dumps({"schema_version": 1, "meta": {"target": target}, "totals": t,
                       "layers": [{"name": n, "primitive": "dot_general", "macs": m, "ace": a, "bits_a": 16,
                                   "bits_w": 16, "binary": False} for n, m, a in layers],
                       "warnings": [], "unsupported": []})


GOOD = report_json()


def bad_report(**patch) -> str:
    data = json.loads(GOOD)
    for key, value in patch.items():
        obj, *path = key.split("__")
        target = data
        for p in [obj, *path][:-1]:
            target = target[int(p)] if isinstance(target, list) else target[p]
        last = [obj, *path][-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return json.dumps(data)


# ------------------------------------------------------------------ cases


@dataclass
class Case:
    id: str
    args: list[str]
    code: int
    out: str = "any"  # json | junit | csv | github | empty | any
    err: int | None = 1  # exact number of non-empty stderr lines (None: any)
    frag: str | None = None  # must appear in stderr
    files: dict[str, str | bytes] = field(default_factory=dict)  # written into the case's directory
    stdout_has: str | None = None
    check: object = None  # extra check(stdout, stderr, case_dir)
    env: dict[str, str] | None = None  # added to the environment


def err(id, args, frag=None, **kw) -> Case:
    """A usage, config, target or model error: exit 2, one line."""
    return Case(id, args, 2, frag=frag, out=kw.pop("out", "empty"), **kw)


def ok(id, args, out="any", err=0, **kw) -> Case:
    return Case(id, args, 0, out=out, err=err, **kw)


M = "{M}"  # the shared model directory
CASES: list[Case] = []

# --- click's own usage errors, for every command ---------------------------------------------
CASES += [
    ok("bare-acecost-is-help", [], out="any", stdout_has="Usage"),
    ok("version", ["--version"], stdout_has="0."),
    ok("zoo-bare-is-help", ["zoo"], stdout_has="list"),
    err("unknown-command", ["nope"], "No such command"),
    err("group-debug-no-command", ["--debug"], "Missing command"),
    err("analyze-missing-target", ["analyze"], "Missing argument"),
    err("analyze-bad-format", ["analyze", f"{M}/mlp.py", "--format", "xml"], "--format"),
    err("analyze-unknown-option", ["analyze", f"{M}/mlp.py", "--bitz", "x=8,8"], "--bitz"),
    err("analyze-depth-zero", ["analyze", f"{M}/mlp.py", "--depth", "0"], "--depth"),
    err("analyze-depth-word", ["analyze", f"{M}/mlp.py", "--depth", "two"], "--depth"),
    err("analyze-bad-by", ["analyze", f"{M}/mlp.py", "--by", "flops"], "--by"),
    err("analyze-bad-mode", ["analyze", f"{M}/mlp.py", "--mode", "eval"], "--mode"),
    err("analyze-option-missing-value", ["analyze", f"{M}/mlp.py", "--bits"], "--bits"),
    err("analyze-extra-argument", ["analyze", f"{M}/mlp.py", "other.py"], "unexpected extra argument"),
    err("check-bad-format", ["check", f"{M}/mlp.py", "--format", "xml"], "--format"),
    err("check-unknown-option", ["check", f"{M}/mlp.py", "--max-flops", "5"], "--max-flops"),
    err("check-bad-mode", ["check", f"{M}/mlp.py", "--mode", "eval"], "--mode"),
    err("diff-missing-arg", ["diff", "a.json"], "Missing argument"),
    err("diff-bad-top", ["diff", "a.json", "b.json", "--top", "-1"], "--top"),
    err("diff-bad-format", ["diff", "a.json", "b.json", "--format", "csv"], "--format"),
    err("zoo-unknown-subcommand", ["zoo", "show"], "No such command"),
    err("zoo-bad-format", ["zoo", "list", "--format", "csv"], "--format"),
    err("zoo-bad-resolution", ["zoo", "list", "--resolution", "4"], "--resolution"),
    err("zoo-bad-batch", ["zoo", "list", "--batch", "zero"], "--batch"),
    err("plot-missing-value", ["plot", "--x"], "--x"),
    err("plot-unknown-option", ["plot", "--colour", "red"], "--colour"),
]
CASES += [ok(f"help-{'-'.join(a)}", [*a, "--help"], stdout_has="Usage")
          for a in (["analyze"], ["check"], ["diff"], ["plot"], ["zoo", "list"])]

# --- the options analyze and check share: one parser, the same verdicts ----------------------
BIG = "9" * 200
SHARED_BAD = [
    ("float-bits-superscript", ["--float-bits", "²"], "--float-bits"),
    ("float-bits-zero", ["--float-bits", "0"], "--float-bits"),
    ("float-bits-65", ["--float-bits", "65"], "--float-bits"),
    ("float-bits-1000", ["--float-bits", "1000"], "--float-bits"),
    ("float-bits-negative", ["--float-bits", "-1"], "--float-bits"),
    ("float-bits-word", ["--float-bits", "fp16"], "--float-bits"),
    ("float-bits-200-digits", ["--float-bits", BIG], "--float-bits"),
    ("float-bits-arabic-digit", ["--float-bits", "٨"], "--float-bits"),
    ("bits-superscript", ["--bits", "fc=²,4"], "--bits"),
    ("bits-65", ["--bits", "fc1=65,65"], "from 1 to 64"),
    ("bits-zero", ["--bits", "fc1=0,8"], "from 1 to 64"),
    ("bits-empty-regex", ["--bits", "=8,8"], "--bits"),
    ("bits-no-equals", ["--bits", "fc1"], "--bits"),
    ("bits-one-width", ["--bits", "fc1=8"], "--bits"),
    ("bits-both-empty", ["--bits", "fc1=,"], "--bits"),
    ("bits-words", ["--bits", "fc1=a,b"], "--bits"),
    ("bits-bad-regex", ["--bits", "fc[=8,8"], "bad regex"),
    ("bits-200-digits", ["--bits", f"fc1={BIG},8"], "--bits"),
    ("input-shape-zero", ["--input-shape", "1,0"], "--input-shape"),
    ("input-shape-word", ["--input-shape", "1,a"], "--input-shape"),
    ("input-shape-empty", ["--input-shape", ""], "--input-shape"),
    ("input-shape-superscript", ["--input-shape", "1,²"], "--input-shape"),
    ("input-shape-200-digits", ["--input-shape", f"1,{BIG}"], "--input-shape"),
    ("while-trips-negative", ["--while-trips", "-1"], "--while-trips"),
    ("while-trips-superscript", ["--while-trips", "³"], "--while-trips"),
    ("while-trips-200-digits", ["--while-trips", BIG], "--while-trips"),
    ("resolution-small", ["--resolution", "4"], "--resolution"),
    ("resolution-200-digits", ["--resolution", BIG], "--resolution"),
    ("batch-zero", ["--batch", "0"], "--batch"),
    ("dtype-not-a-name", ["--dtype", "float 32"], "--dtype"),
    ("entry-not-a-name", ["--entry", "1abc"], "--entry"),
]
for cmd in ("analyze", "check"):
    CASES += [err(f"{cmd}-{name}", [cmd, f"{M}/mlp.py", *args], frag) for name, args, frag in SHARED_BAD]

# --- check's own options ---------------------------------------------------------------------
CASES += [
    err("check-max-ace-unit", ["check", f"{M}/mlp.py", "--max-ace", "5X"], "--max-ace"),
    err("check-max-ace-nan", ["check", f"{M}/mlp.py", "--max-ace", "nan"], "--max-ace"),
    err("check-max-ace-inf", ["check", f"{M}/mlp.py", "--max-cpu64", "inf"], "--max-cpu64"),
    err("check-max-ace-huge", ["check", f"{M}/mlp.py", "--max-ace", "1e400"], "--max-ace"),
    err("check-max-ace-superscript", ["check", f"{M}/mlp.py", "--max-ace", "5²"], "--max-ace"),
    err("check-max-size-ambiguous", ["check", f"{M}/mlp.py", "--max-size", "4Mb"], "ambiguous"),
    err("check-max-increase-word", ["check", f"{M}/mlp.py", "--baseline", "b.json", "--max-increase", "lots"],
        "--max-increase", files={"b.json": GOOD}),
    err("check-max-increase-without-baseline", ["check", f"{M}/mlp.py", "--max-increase", "2%"], "--baseline"),
    err("check-baseline-missing", ["check", f"{M}/mlp.py", "--baseline", "missing.json"], "cannot read"),
    err("check-config-missing", ["check", "--config", "nope.toml"], "cannot read"),
    err("check-nothing-configured", ["check"], "no TARGET given"),
]

# --- configs ---------------------------------------------------------------------------------
PYPROJECT_BAD: list[tuple[str, str | bytes, str]] = [
    ("not-utf8", b'[tool.acecost]\nfloat_bits = 16\n# caf\xe9\n', "not UTF-8"),
    ("tool-is-string", 'tool = "x"\n', "'tool' must be a table"),
    ("acecost-is-number", "[tool]\nacecost = 5\n", "must be a table"),
    ("invalid-toml", "[tool.acecost\n", "invalid TOML"),
    ("models-not-array", "[tool.acecost]\nmodels = 5\n", "array of tables"),
    ("models-empty", "[tool.acecost]\nmodels = []\n", "no models configured"),
    ("unknown-key", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nmax_flops = 5\n', "unknown budget"),
    ("unknown-option", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\ninput_shap = "1,8"\n', "unknown key"),
    ("no-target", '[[tool.acecost.models]]\nname = "x"\n', "no 'target'"),
    ("name-number", f'[[tool.acecost.models]]\nname = 5\ntarget = "{M}/mlp.py"\n', "'name'"),
    ("bits-number", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nbits = 5\n', "'bits'"),
    ("bits-superscript", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nbits = ["fc=²,4"]\n', "bits"),
    ("bits-65", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nbits = ["fc1=65,65"]\n', "from 1 to 64"),
    ("input-shape-zero-list", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\ninput_shape = [1, 0]\n',
     "input_shape"),
    ("input-shape-zero-string", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\ninput_shape = "1,0"\n',
     "input_shape"),
    ("input-shape-bools", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\ninput_shape = [true]\n',
     "input_shape"),
    ("float-bits-1000", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nfloat_bits = 1000\n', "float_bits"),
    ("float-bits-float", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nfloat_bits = 16.5\n', "float_bits"),
    ("dtype-number", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\ndtype = 5\n', "dtype"),
    ("entry-number", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nentry = 5\n', "entry"),
    ("strict-string", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nstrict = "yes"\n', "strict"),
    ("while-trips-negative", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nwhile_trips = -1\n',
     "while_trips"),
    ("mode-eval", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nmode = "eval"\n', "mode"),
    ("resolution-small", '[[tool.acecost.models]]\ntarget = "zoo:pokebnn-1.0x"\nresolution = 4\n', "resolution"),
    ("max-ace-nan", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nmax_ace = nan\n', "max_ace"),
    ("max-ace-bool", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nmax_ace = true\n', "max_ace"),
    ("max-increase-without-baseline", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nmax_increase = "2%"\n',
     "max_increase needs a baseline"),
    ("baseline-missing", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nbaseline = "missing.json"\n',
     "cannot read"),
    ("baseline-number", f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nbaseline = 5\n', "'baseline'"),
    ("duplicate-names", f'[[tool.acecost.models]]\nname = "a"\ntarget = "{M}/mlp.py"\n'
                        f'[[tool.acecost.models]]\nname = "a"\ntarget = "{M}/mlp.py"\n', "duplicate"),
]
CASES += [err(f"pyproject-{name}", ["check"], frag, files={"pyproject.toml": text})
          for name, text, frag in PYPROJECT_BAD]
CASES += [
    err("acecost-toml-invalid", ["check"], "invalid TOML", files={"acecost.toml": "models = [\n"}),
    err("config-flag-not-utf8", ["check", "--config", "c.toml"], "not UTF-8", files={"c.toml": b"\xff\xfe"}),
    err("config-flag-directory", ["check", "--config", "."], "--config"),
    err("config-baseline-nan", ["check"], "not valid JSON", files={
        "b.json": GOOD.replace('"ace": 10240', '"ace": NaN'),
        "pyproject.toml": f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nbaseline = "b.json"\n'}),
]

# --- reports: diff, and the same files as a check baseline ------------------------------------
BAD_REPORTS: list[tuple[str, str | bytes, str]] = [
    ("not-json", "{", "not valid JSON"),
    ("empty", "", "not valid JSON"),
    ("nan", GOOD.replace('"ace": 10240', '"ace": NaN'), "NaN"),
    ("infinity", GOOD.replace('"cpu64": 40', '"cpu64": Infinity'), "Infinity"),
    ("minus-infinity", GOOD.replace('"macs": 40', '"macs": -Infinity'), "Infinity"),
    ("not-a-report", '{"a": 1}', "not an acecost report"),
    ("totals-list", '{"totals": []}', "not an acecost report"),
    ("total-string", bad_report(totals__ace="10240"), "totals.ace"),
    ("total-bool", bad_report(totals__macs=True), "totals.macs"),
    ("params-string", bad_report(totals__params="40"), "totals.params"),
    ("complete-string", bad_report(totals__complete="no"), "totals.complete"),
    ("layers-object", bad_report(layers={}), "'layers'"),
    ("layer-not-object", bad_report(layers=[5]), "layers[0]"),
    ("layer-macs-string", bad_report(layers__0__macs="x"), "layers[0].macs"),
    ("layer-name-number", bad_report(layers__0__name=5), "layers[0].name"),
    ("layer-bits-string", bad_report(layers__0__bits_a="8"), "layers[0].bits_a"),
    ("layer-binary-string", bad_report(layers__0__binary="yes"), "layers[0].binary"),
    ("meta-string", bad_report(meta="x"), "'meta'"),
    ("warnings-string", bad_report(warnings="x"), "'warnings'"),
    ("warnings-numbers", bad_report(warnings=[5]), "'warnings'"),
    ("unsupported-numbers", bad_report(unsupported=[5]), "'unsupported'"),
    ("schema-2", bad_report(schema_version=2), "schema_version"),
    ("5000-digit-number", GOOD.replace('"ace": 10240', '"ace": ' + "9" * 5000), "not valid JSON"),
    ("nested-deep", "[" * 100000 + "]" * 100000, "not valid JSON"),
    ("not-utf8", b'{"totals": "\xff"}', "not a text file"),
]
CASES += [err(f"diff-base-{name}", ["diff", "base.json", "new.json"], frag,
              files={"base.json": text, "new.json": GOOD}) for name, text, frag in BAD_REPORTS]
CASES += [err(f"diff-new-{name}", ["diff", "base.json", "new.json"], frag,
              files={"base.json": GOOD, "new.json": text}) for name, text, frag in BAD_REPORTS[:6]]
CASES += [err(f"check-baseline-{name}", ["check", f"{M}/mlp.py", "--baseline", "b.json"], frag,
              files={"b.json": text}) for name, text, frag in BAD_REPORTS[:10]]
CASES += [
    err("diff-missing-file", ["diff", "nope.json", "new.json"], "cannot read", files={"new.json": GOOD}),
    err("diff-directory", ["diff", ".", "new.json"], "cannot read", files={"new.json": GOOD}),
    ok("diff-json", ["diff", "base.json", "new.json", "--format", "json"], out="json",
       files={"base.json": GOOD, "new.json": report_json(layers=(("fc1", 64, 16384), ("fc2", 8, 2048)),
                                                          macs=72, ace=18432)}),
    ok("diff-markdown-markup-names", ["diff", "base.json", "new.json", "--format", "markdown"],
       files={"base.json": report_json(layers=(("enc[/]", 1, 1),)),
              "new.json": report_json(layers=(("enc[/]", 2, 2),))}, stdout_has="enc[/]"),
    ok("diff-table-markup-names", ["diff", "base.json", "new.json"],
       files={"base.json": report_json(layers=(("[bold]enc[/]", 1, 1),)),
              "new.json": report_json(layers=(("[bold]enc[/]", 2, 2),))}, stdout_has="[bold]enc[/]"),
    Case("diff-other-model-says-so", ["diff", "base.json", "new.json", "--format", "json"], 0, out="json",
         err=1, frag="no layer in common",
         files={"base.json": GOOD, "new.json": report_json("other.py", layers=(("conv", 5, 5),))}),
    Case("diff-other-target-says-so", ["diff", "base.json", "new.json"], 0, err=1, frag="not of",
         files={"base.json": GOOD, "new.json": report_json("zoo:pokebnn-1.0x")}),
]

# --- plot: inputs checked before any analysis ------------------------------------------------
CASES += [
    err("plot-no-inputs", ["plot", "--accuracy", "a=1"], "give at least one model"),
    err("plot-no-accuracy", ["plot", "r.json"], "no accuracies", files={"r.json": GOOD}),
    err("plot-bad-x", ["plot", "r.json", "--x", "flops", "--accuracy", "r=70"], "--x",
        files={"r.json": GOOD}),
    err("plot-empty-panels", ["plot", "r.json", "--panels", ",", "--accuracy", "r=70"], "--panels",
        files={"r.json": GOOD}),
    err("plot-bad-out-format", ["plot", "r.json", "--out", "fig.txt", "--accuracy", "r=70"], "fig.txt",
        files={"r.json": GOOD}),
    err("plot-out-no-directory", ["plot", "r.json", "--out", "no/such/fig.png", "--accuracy", "r=70"],
        "does not exist", files={"r.json": GOOD}),
    err("plot-accuracy-word", ["plot", "r.json", "--accuracy", "r=high"], "not a number",
        files={"r.json": GOOD}),
    err("plot-accuracy-nan", ["plot", "r.json", "--accuracy", "r=nan"], "finite", files={"r.json": GOOD}),
    err("plot-accuracy-unknown-model", ["plot", "r.json", "--accuracy", "other=70"], "names no model",
        files={"r.json": GOOD}),
    err("plot-csv-not-utf8", ["plot", "r.json", "--accuracy-file", "acc.csv"], "not a readable CSV",
        files={"r.json": GOOD, "acc.csv": b"name,top1\n\xff\xfe,1\n"}),
    err("plot-csv-no-column", ["plot", "r.json", "--accuracy-file", "acc.csv"], "no column",
        files={"r.json": GOOD, "acc.csv": "model,acc\nmlp.py,70\n"}),
    err("plot-csv-duplicate", ["plot", "r.json", "--accuracy-file", "acc.csv"], "twice",
        files={"r.json": GOOD, "acc.csv": "name,top1\nmlp.py,70\nmlp.py,71\n"}),
    err("plot-bad-reference", ["plot", "r.json", "--reference", "bnn", "--accuracy", "r=70"],
        "--reference", files={"r.json": GOOD}),
    err("plot-json-nan", ["plot", "r.json", "--accuracy", "r=70"], "NaN",
        files={"r.json": GOOD.replace('"ace": 10240', '"ace": NaN')}),
    err("plot-json-bad-types", ["plot", "r.json", "--accuracy", "r=70"], "totals.ace",
        files={"r.json": bad_report(totals__ace=[1])}),
    err("plot-same-name-twice", ["plot", "r.json", "r.json", "--accuracy", "r=70"], "two inputs",
        files={"r.json": GOOD}),
]

# --- targets and the options they cannot use --------------------------------------------------
CASES += [
    err("target-missing-file", ["analyze", "nope.py"], "no such file"),
    err("target-not-python", ["analyze", "r.json"], "not a Python file", files={"r.json": GOOD}),
    err("target-directory", ["analyze", "."], "not a Python file"),
    err("target-unknown-zoo", ["analyze", "zoo:nope"], "zoo"),
    err("target-no-module", ["analyze", "no_such_pkg_xyz.mod:fn"], "cannot import"),
    err("zoo-with-input-shape", ["analyze", "zoo:resnet50-w8a8", "--input-shape", "8,224,224,3"],
        "--input-shape"),
    err("zoo-with-dtype", ["analyze", "zoo:pokebnn-1.0x", "--dtype", "bfloat16"], "--dtype"),
    err("zoo-with-entry", ["analyze", "zoo:pokebnn-1.0x", "--entry", "main"], "--entry"),
    err("check-zoo-with-input-shape", ["check", "zoo:resnet50-w8a8", "--input-shape", "8,224,224,3",
                                       "--max-ace", "1G", "--format", "json"], "--input-shape", out="json"),
    err("file-with-batch", ["analyze", f"{M}/mlp.py", "--batch", "8"], "--batch"),
    err("file-with-resolution", ["analyze", f"{M}/mlp.py", "--resolution", "128"], "--resolution"),
    err("check-file-with-batch", ["check", f"{M}/mlp.py", "--batch", "8", "--max-ace", "1G"], "--batch", out="any"),
]
for name in ("binary", "latin1", "syntax", "raises_import", "raises_build", "missing_import", "triple",
             "noncallable", "returns_int", "pair_noncallable", "takes_args", "empty", "sym", "argnums",
             "argnums_neg", "negdim"):
    frag = {"triple": "3-tuple", "sym": "symbolic", "argnums": "params_argnums", "argnums_neg": "params_argnums",
            "negdim": "negative dimension",
            "noncallable": "int", "takes_args": "takes arguments", "empty": "no entry point"}.get(name)
    CASES.append(err(f"model-{name}", ["analyze", f"{M}/{name}.py"], frag))
CASES.append(err("check-model-triple", ["check", f"{M}/triple.py", "--max-ace", "1G", "--format", "json"], "3-tuple", out="json"))

# --- model side effects ----------------------------------------------------------------------
for name, frag in (("exit0_import", "sys.exit(0)"), ("exitmsg_import", "bye from the model"),
                   ("exit0_build", "sys.exit(0)"), ("exit1_build", "sys.exit(1)"), ("exit_trace", "sys.exit(0)")):
    CASES.append(err(f"analyze-{name}", ["analyze", f"{M}/{name}.py"], frag))
    CASES.append(err(f"check-{name}", ["check", f"{M}/{name}.py", "--max-ace", "1G", "--format", "json"], frag,
                     out="json"))
CASES += [
    err("exit-in-entry", ["analyze", f"{M}/exit_entry.py", "--entry", "other"], "sys.exit(3)"),
    err("base-exception-at-import", ["analyze", f"{M}/baseexc_import.py"], "odd exit"),
    err("base-exception-while-tracing", ["analyze", f"{M}/baseexc_trace.py"], "odd exit while tracing"),
    err("check-base-exception-while-tracing", ["check", f"{M}/baseexc_trace.py", "--max-ace", "1G", "--format", "json"],
        "odd exit while tracing", out="json"),
    Case("keyboardinterrupt-at-import", ["analyze", f"{M}/kbint_import.py"], 130, out="empty",
         frag="interrupted"),
    Case("check-keyboardinterrupt-at-import", ["check", f"{M}/kbint_import.py", "--max-ace", "1G", "--format", "json"], 130,
         out="empty", frag="interrupted"),
    ok("prints-go-to-stderr-json", ["analyze", f"{M}/prints.py", "--format", "json", "-q"], out="json", err=4),
    ok("prints-go-to-stderr-csv", ["analyze", f"{M}/prints.py", "--format", "csv", "-q"], out="csv", err=4),
    ok("check-prints-go-to-stderr-junit", ["check", f"{M}/prints.py", "--max-ace", "1G", "--format", "junit"], out="junit", err=4),
    ok("debug-print-and-callback", ["analyze", f"{M}/debug.py", "--format", "json"], out="json",
       check=lambda out, e, d: json.loads(out)["totals"]["complete"] is True
       and json.loads(out)["totals"]["macs"] == 2 * 4 * 3),
    ok("file-colon-attr", ["analyze", f"{M}/mlp.py:acecost_model", "--format", "json"], out="json",
       check=lambda out, e, d: json.loads(out)["totals"]["macs"] == 8 * 4 + 4 * 2),
    err("file-colon-missing-attr", ["analyze", f"{M}/mlp.py:nothing"], "no 'nothing'"),
    err("file-colon-attr-and-entry", ["analyze", f"{M}/mlp.py:acecost_model", "--entry", "f"], "give one"),
    err("function-with-input-shape", ["analyze", f"{M}/mlp.py", "--input-shape", "1,8"], "--input-shape"),
    err("function-with-dtype", ["analyze", f"{M}/mlp.py", "--dtype", "bfloat16"], "--dtype"),
    err("module-without-input-shape", ["analyze", f"{M}/linen.py"], "--input-shape"),
    err("module-bad-dtype", ["analyze", f"{M}/linen.py", "--input-shape", "1,4", "--dtype", "float7"], "dtype"),
    ok("module-with-input-shape", ["analyze", f"{M}/linen.py", "--input-shape", "1,4", "--format", "json"],
       out="json", check=lambda out, e, d: json.loads(out)["totals"]["macs"] == 4 * 3),
]

# --- --bits that match no layer: a warning in analyze, an error in check ----------------------
CASES += [
    Case("analyze-bits-matching-nothing", ["analyze", f"{M}/mlp.py", "--bits", "fc9=8,8", "--format", "json"], 0,
         out="json", err=1, frag="matches no layer",
         check=lambda out, e, d: any("matches no layer" in w for w in json.loads(out)["warnings"])),
    ok("analyze-bits-matching", ["analyze", f"{M}/mlp.py", "--bits", "fc1=8,8", "--format", "json"], out="json",
       check=lambda out, e, d: [r["bits_a"] for r in json.loads(out)["layers"]] == [8, 16]),
    err("check-bits-matching-nothing", ["check", f"{M}/mlp.py", "--bits", "fc9=8,8", "--max-ace", "1G",
                                        "--format", "json"], "matches no layer", out="json",
        check=lambda out, e, d: json.loads(out)["exit_code"] == 2),
    err("check-config-bits-matching-nothing", ["check"], "matches no layer", out="any", files={
        "pyproject.toml": f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\nbits = ["fc9=8,8"]\nmax_ace = "1G"\n'}),
]

# --- formats: approximate reports, energy, markup, control characters -------------------------
CASES += [
    ok("check-junit-approximate", ["check", f"{M}/mlp.py", "--max-ace", "1G", "--format", "junit"], out="junit",
       check=lambda out, e, d: ET.fromstring(out).find(".//skipped") is not None
       and "approximate" in ET.fromstring(out).find(".//skipped").get("message")),
    ok("check-junit-exact", ["check", f"{M}/exact.py", "--max-ace", "1G", "--format", "junit"], out="junit",
       check=lambda out, e, d: ET.fromstring(out).find(".//skipped") is None),
    ok("check-json-approximate", ["check", f"{M}/mlp.py", "--max-ace", "1G", "--format", "json"], out="json",
       check=lambda out, e, d: json.loads(out)["models"][0]["approximate"] is True),
    Case("check-strict-junit", ["check", f"{M}/mlp.py", "--strict", "--format", "junit"], 1, out="junit", err=0),
    Case("check-over-budget-github", ["check", f"{M}/mlp.py", "--max-ace", "10", "--format", "github"], 1,
         out="github", err=0),
    Case("analyze-csv-approximate", ["analyze", f"{M}/mlp.py", "--format", "csv"], 0, out="csv", err=1,
         frag="approximate report"),
    ok("analyze-csv-exact", ["analyze", f"{M}/exact.py", "--format", "csv"], out="csv", err=0),
    err("analyze-energy-csv-refused", ["analyze", f"{M}/mlp.py", "--energy", "horowitz45", "--format", "csv"],
        "--energy"),
    err("analyze-energy-empty", ["analyze", f"{M}/mlp.py", "--energy", ""], "energy table"),
    err("analyze-output-empty", ["analyze", f"{M}/mlp.py", "--output", ""], "--output"),
    err("analyze-output-directory", ["analyze", f"{M}/mlp.py", "--output", "."], "--output"),
    err("analyze-energy-unknown", ["analyze", f"{M}/mlp.py", "--energy", "nope"], "nope"),
    err("analyze-energy-bad-file", ["analyze", f"{M}/mlp.py", "--energy", "e.toml"], "e.toml",
        files={"e.toml": "int_add = [\n"}),
    ok("analyze-energy-output-file", ["analyze", f"{M}/exact.py", "--energy", "horowitz45", "--output", "o.txt"],
       out="empty", check=lambda out, e, d: "On-chip" in (d / "o.txt").read_text()),
    ok("analyze-energy-json", ["analyze", f"{M}/exact.py", "--energy", "horowitz45", "--format", "json"],
       out="json", check=lambda out, e, d: json.loads(out)["energy"]["totals"]["total_pj"] > 0),
    ok("markup-layer-name", ["analyze", f"{M}/markup.py", "-q"], stdout_has="enc[/]"),
    ok("markup-energy-table", ["analyze", f"{M}/markup.py", "--energy", "horowitz45", "-q"],
       check=lambda out, e, d: out.count("enc[/]") == 2),
    ok("markup-file-name", ["analyze", f"{M}/mlp[v2].py", "-q"], stdout_has="mlp[v2]."),
    ok("check-markup-model-name", ["check"], stdout_has="[/]mlp", files={
        "pyproject.toml": f'[[tool.acecost.models]]\nname = "[/]mlp"\ntarget = "{M}/mlp.py"\nmax_ace = "1G"\n'}),
    Case("table-control-characters", ["check"], 1, err=0,
         check=lambda out, e, d: "\x1b" not in out and "\x07" not in out, files={
           "pyproject.toml": f'[[tool.acecost.models]]\nname = "m\\u001b[31m\\u0007x"\ntarget = "{M}/ansi.py"\n'
                             'max_ace = "1"\n'}),
    Case("junit-control-characters-over-budget", ["check", "--format", "junit"], 1, out="junit", err=0,
         check=lambda out, e, d: "\x1b" not in out, files={
             "pyproject.toml": f'[[tool.acecost.models]]\nname = "m\\u001bx\\u0000"\ntarget = "{M}/ansi.py"\n'
                               'max_ace = "1"\n'}),
    Case("check-other-model-baseline", ["check", f"{M}/mlp.py", "--baseline", "b.json", "--format", "json"], 2,
         out="json", frag="no layer in common", files={"b.json": report_json("x.py", layers=(("conv", 1, 1),))}),
    Case("check-other-target-baseline", ["check", f"{M}/mlp.py", "--baseline", "b.json", "--format", "json"], 0,
         out="json", err=1, frag="not of", files={"b.json": report_json("other.py")}),
]

# --- round 3: odd file names, through every command -----------------------------------------
XFF = f"{M}/m\udcff.py"  # a file name that is not UTF-8: shown as m\xff.py, opened by its bytes
SHOWN_XFF = "m\\xff.py"
STRICT = {"PYTHONIOENCODING": "utf-8:strict"}  # a stdout that cannot write a lone surrogate


def _json_target_is(name):
    return lambda out, e, d: json.loads(out)["meta"]["target"].endswith(name)


CASES += [
    ok("non-utf8-name-analyze-table", ["analyze", XFF, "-q"], stdout_has=SHOWN_XFF),
    ok("non-utf8-name-analyze-table-strict", ["analyze", XFF, "-q"], stdout_has=SHOWN_XFF, env=STRICT),
    ok("non-utf8-name-analyze-json", ["analyze", XFF, "--format", "json", "-q"], out="json",
       check=_json_target_is(SHOWN_XFF)),
    ok("non-utf8-name-analyze-csv", ["analyze", XFF, "--format", "csv", "-q"], out="csv"),
    ok("non-utf8-name-analyze-markdown", ["analyze", XFF, "--format", "markdown", "-q"], stdout_has="| Layer"),
    ok("non-utf8-name-check-junit", ["check", XFF, "--max-ace", "1G", "--format", "junit"], out="junit",
       check=lambda out, e, d: SHOWN_XFF in ET.fromstring(out).find(".//testcase").get("classname")),
    ok("non-utf8-name-check-github", ["check", XFF, "--max-ace", "1G", "--format", "github"], out="github", stdout_has=SHOWN_XFF),
    ok("non-utf8-name-check-json", ["check", XFF, "--max-ace", "1G", "--format", "json"], out="json",
       check=lambda out, e, d: json.loads(out)["models"][0]["name"].endswith(SHOWN_XFF)),
    ok("non-utf8-name-check-table-strict", ["check", XFF, "--max-ace", "1G"], stdout_has=SHOWN_XFF, env=STRICT),
    ok("non-utf8-name-check-markdown", ["check", XFF, "--max-ace", "1G", "--format", "markdown"], stdout_has=SHOWN_XFF),
    Case("non-utf8-name-check-over-budget-github", ["check", XFF, "--max-ace", "1", "--format", "github"], 1,
         out="github", err=0, stdout_has=f"{SHOWN_XFF}: ACE"),
    ok("non-utf8-name-sweep-table-strict", ["sweep", XFF, "--grid", "float_bits=8,16", "--no-cache", "--jobs", "1"],
       err=1, stdout_has=f"{SHOWN_XFF}: 2 points", env=STRICT),
    ok("non-utf8-name-sweep-csv", ["sweep", XFF, "--grid", "float_bits=8,16", "--no-cache", "--jobs", "1",
                                   "-o", "s.csv"], out="empty", err=1,
       check=lambda out, e, d: len((d / "s.csv").read_text().splitlines()) == 3),
    ok("non-utf8-name-plot-target", ["plot", f"n={XFF}", "--accuracy", "n=70", "--reference", "none",
                                     "-o", "f.png"], stdout_has="wrote f.png"),
    ok("non-utf8-name-plot-unnamed-target", ["plot", XFF, "--accuracy", f"{XFF}=70", "--reference", "none",
                                             "-o", "f.png"], stdout_has=SHOWN_XFF),
    ok("non-utf8-name-breakdown-target", ["plot", "--breakdown", XFF, "-o", "f.png"], stdout_has=SHOWN_XFF),
    ok("non-utf8-figure-name", ["plot", "r.json", "--accuracy", "r=70", "--reference", "none", "-o", "f\udcff.png"],
       stdout_has="wrote f\\xff.png", env=STRICT, files={"r.json": GOOD},
       check=lambda out, e, d: (d / "f\udcff.png").exists()),
    ok("non-utf8-breakdown-figure-name", ["plot", "--breakdown", "r.json", "-o", "f\udcff.svg"],
       stdout_has="wrote f\\xff.svg", env=STRICT, files={"r.json": GOOD}),
    ok("non-utf8-analyze-output-name", ["analyze", f"{M}/exact.py", "--format", "json", "-o", "r\udcff.json"],
       out="empty", env=STRICT, check=lambda out, e, d: json.loads((d / "r\udcff.json").read_text())["totals"]),
    err("non-utf8-name-missing", ["analyze", f"{M}/nope\udcfe.py"], "nope\\xfe.py"),
    err("non-utf8-name-diff-missing", ["diff", "r\udcff.json", "r.json"], "r\\xff.json", files={"r.json": GOOD}),
    ok("non-utf8-name-diff-json", ["diff", "r\udcff.json", "r.json", "--format", "json"], out="json",
       files={"r\udcff.json": GOOD, "r.json": GOOD}),
    ok("space-name-check-junit", ["check", f"{M}/with space.py", "--max-ace", "1G", "--format", "junit"], out="junit"),
    ok("space-name-analyze-csv", ["analyze", f"{M}/with space.py", "--format", "csv", "-q"], out="csv"),
    ok("unicode-name-analyze-json", ["analyze", f"{M}/caf\u00e9 \u2713.py", "--format", "json", "-q"], out="json",
       check=_json_target_is("caf\u00e9 \u2713.py")),
    ok("unicode-name-check-github", ["check", f"{M}/caf\u00e9 \u2713.py", "--max-ace", "1G", "--format", "github"], out="github"),
    ok("unicode-name-diff-table", ["diff", "b\u00e9.json", "n\u2713.json"], stdout_has="b\u00e9.json",
       files={"b\u00e9.json": GOOD, "n\u2713.json": GOOD}),
    err("leading-dash-is-an-option", ["analyze", "-dash.py"], "No such option"),
    ok("leading-dash-after-double-dash", ["analyze", "--format", "json", "-q", "--", "-dash.py"], out="json",
       files={"-dash.py": MLP}),
    ok("leading-dash-as-path", ["check", "./-dash.py", "--max-ace", "1G", "--format", "json"], out="json", files={"-dash.py": MLP}),
]

# --- round 3: where a model's error is, and in one line -----------------------------------------
CASES += [
    err("helper-raises-at-import", ["analyze", f"{M}/sib_import.py"], "sib_zero.py:3 (imported from",
        check=lambda out, e, d: "ZeroDivisionError" in e and "sib_import.py:2)" in e),
    err("helper-syntax-error", ["analyze", f"{M}/sib_syntax.py"], "sib_badsyntax.py:2 (imported from",
        check=lambda out, e, d: "SyntaxError" in e and "sib_syntax.py:1)" in e),
    err("helper-raises-while-building", ["analyze", f"{M}/sib_build.py"], "sib_raiser.py:2 (called from",
        check=lambda out, e, d: "raised in the helper" in e and "sib_build.py:3)" in e),
    err("check-helper-raises-at-import", ["check", f"{M}/sib_import.py", "--max-ace", "1G", "--format", "json"],
        "sib_zero.py:3", out="json", check=lambda out, e, d: "sib_zero.py:3" in json.loads(out)["models"][0]["error"]),
    err("helper-null-bytes", ["analyze", f"{M}/sib_nul.py"], "sib_nul.py:2: SyntaxError",
        check=lambda out, e, d: "None" not in e),
    err("model-null-bytes", ["analyze", f"{M}/nul.py"], "nul.py: SyntaxError", check=lambda out, e, d: "None" not in e),
    err("model-binary-no-none", ["check", f"{M}/binary.py", "--max-ace", "1G", "--format", "json"], "SyntaxError", out="json",
        check=lambda out, e, d: "None" not in e and "None" not in json.loads(out)["models"][0]["error"]),
    err("multiline-at-import", ["analyze", f"{M}/multiline_import.py"], "line one / line two / line three"),
    err("multiline-while-building", ["analyze", f"{M}/multiline_build.py"], "line one / line two / line three"),
    err("check-multiline-junit", ["check", f"{M}/multiline_import.py", "--max-ace", "1G", "--format", "junit"],
        "line one / line two", out="junit"),
    err("check-multiline-github", ["check", f"{M}/multiline_build.py", "--max-ace", "1G", "--format", "github"],
        "line one / line two", out="github"),
    err("check-multiline-table", ["check", f"{M}/multiline_build.py", "--max-ace", "1G"], "line one / line two", out="any",
        check=lambda out, e, d: "line two\n" not in out),
    err("module-target-raises", ["analyze", "modraise:f"], "cannot import 'modraise' (modraise.py:2): ValueError",
        files={"modraise.py": "x = 1\nraise ValueError('one\\ntwo')\n"},
        check=lambda out, e, d: "one / two" in e),
    err("module-target-syntax-error", ["analyze", "modsyntax:f"], "(modsyntax.py:3): SyntaxError",
        files={"modsyntax.py": "x = 1\ny = 2\nz = (\n"}),
    err("sweep-multiline-at-import", ["sweep", f"{M}/multiline_import.py", "--grid", "float_bits=8", "--no-cache"],
        "line one / line two / line three"),
    err("plot-multiline-target", ["plot", f"m={M}/multiline_build.py", "--accuracy", "m=70", "-o", "f.png"],
        "line one / line two / line three"),
]


# --- round 3: breakdowns of reports they cannot draw honestly --------------------------------
def edited(edit, text=GOOD) -> str:
    data = json.loads(text)
    edit(data)
    return json.dumps(data)


HUGE = report_json(layers=(("fc1", 1e308, 1e308), ("fc2", 1e308, 1e308)), macs=1e308, ace=1e308)
BREAKDOWN_BAD: list[tuple[str, str | bytes, str]] = [
    ("sum-past-a-float", HUGE, "more than a float holds"),
    ("no-layers", edited(lambda d: d.pop("layers")), "no 'layers'"),
    ("layers-null", edited(lambda d: d.update(layers=None)), "'layers'"),
    ("negative-layer-ace", bad_report(layers__0__ace=-8192), "layers[0].ace"),
    ("negative-total-ace", bad_report(totals__ace=-1), "totals.ace"),
    ("negative-layer-macs", bad_report(layers__0__macs=-1), "layers[0].macs"),
    ("nameless-layer", edited(lambda d: d["layers"][0].pop("name")), "layers[0] has no name"),
    ("null-name-layer", bad_report(layers__1__name=None), "layers[1] has no name"),
    ("empty-name-layer", bad_report(layers__0__name=""), "layers[0] has no name"),
    ("blank-name-layer", bad_report(layers__0__name="   "), "layers[0] has no name"),
    ("unsupported-scopes-number", edited(lambda d: d.update(unsupported=[{"primitive": "fft", "scopes": 7}])),
     "unsupported[0]"),
    ("not-json", b"\x00\x01\x02", "not valid JSON"),
    ("nan", GOOD.replace('"ace": 8192', '"ace": NaN'), "NaN"),
]
CASES += [err(f"breakdown-{name}", ["plot", "--breakdown", "r.json", "-o", "f.png"], frag, files={"r.json": text},
              check=lambda out, e, d: "r.json" in e and not (d / "f.png").exists())
          for name, text, frag in BREAKDOWN_BAD]
SIZED = edited(lambda d: d.update(params=[{"path": "fc1/kernel", "bits": 16, "size_bits": 512},
                                          {"path": "fc2/kernel", "bits": 16, "size_bits": 128}]))
CASES += [
    err("breakdown-size-no-params", ["plot", "--breakdown", "r.json", "--x", "size", "-o", "f.png"], "no 'params'",
        files={"r.json": GOOD}),
    err("breakdown-size-param-not-object", ["plot", "--breakdown", "r.json", "--x", "size", "-o", "f.png"],
        "params[0] is not an object", files={"r.json": edited(lambda d: d.update(params=[5]))}),
    err("breakdown-size-param-without-size", ["plot", "--breakdown", "r.json", "--x", "size", "-o", "f.png"],
        "params[0] (a) has size_bits", files={"r.json": edited(lambda d: d.update(params=[{"path": "a"}]))}),
    ok("breakdown-size", ["plot", "--breakdown", "r.json", "--x", "size", "-o", "f.png"], files={"r.json": SIZED},
       check=lambda out, e, d: "r      total         0.00064" in out or "640" in out or "0.00064" in out),
    ok("breakdown-one-huge-layer", ["plot", "--breakdown", "r.json", "-o", "f.png"], err=0,
       files={"r.json": report_json(layers=(("fc1", 1e300, 1e300),), macs=1e300, ace=1e300)},
       check=lambda out, e, d: (d / "f.png").stat().st_size > 0),
    ok("breakdown-bops", ["plot", "--breakdown", "r.json", "--x", "bops", "-o", "f.png"], err=1,
       files={"r.json": GOOD}, frag="drawn as 0"),
    ok("breakdown-cpu64-svg", ["plot", "--breakdown", "r.json", "--x", "cpu64", "-o", "f.svg"],
       files={"r.json": GOOD}, stdout_has="wrote f.svg"),
    ok("breakdown-empty-layers-zero", ["plot", "--breakdown", "r.json", "-o", "f.png"], err=1, frag="drawn as 0",
       files={"r.json": report_json(layers=(), macs=0, ace=0, cpu64=0)}),
    err("breakdown-accuracy-refused", ["plot", "--breakdown", "r.json", "--accuracy", "r=70"], "does not apply",
        files={"r.json": GOOD}),
    err("breakdown-depth-zero", ["plot", "--breakdown", "r.json", "--depth", "0"], "--depth",
        files={"r.json": GOOD}),
    err("breakdown-bad-x", ["plot", "--breakdown", "r.json", "--x", "flops"], "--x", files={"r.json": GOOD}),
    err("breakdown-sweep-table", ["plot", "--breakdown", "s.csv"], "sweep table",
        files={"s.csv": "width,macs\n1,2\n"}),
    err("depth-without-breakdown", ["plot", "r.json", "--depth", "3", "--accuracy", "r=70"], "--breakdown only",
        files={"r.json": GOOD}),
]

# --- round 3: plot's costs and accuracies -----------------------------------------------------
CSV_BAD: list[tuple[str, str, str]] = [
    ("fraction-then-percent", "name,top1\nr,0.7\ns,70\n", "line 3 (s)"),
    ("percent-then-fraction", "name,top1\nr,70%\ns,0.5\n", "line 3 (s)"),
    ("percent-sign-then-fraction", "name,top1\nr,0.5%\ns,0.5\n", "one unit"),
    ("over-100", "name,top1\nr,101\ns,70\n", "out of range"),
    ("over-100-percent", "name,top1\nr,100.5%\ns,70\n", "out of range"),
    ("negative", "name,top1\nr,-1\ns,70\n", "out of range"),
    ("negative-zero-fraction", "name,top1\nr,-0.1\ns,0.5\n", "out of range"),
    ("empty-value", "name,top1\nr,\ns,70\n", "not a number"),
    ("no-rows", "name,top1\n", "no rows"),
    ("empty-name", "name,top1\n,70\n", "empty 'name'"),
    ("infinite", "name,top1\nr,inf\ns,70\n", "finite"),
]
TWO = {"r.json": GOOD, "s.json": GOOD}
CASES += [err(f"plot-csv-{name}", ["plot", "r.json", "s.json", "--accuracy-file", "acc.csv", "-o", "f.png"], frag,
              files={**TWO, "acc.csv": text}) for name, text, frag in CSV_BAD]
CASES += [
    ok("plot-csv-fractions", ["plot", "r.json", "s.json", "--accuracy-file", "acc.csv", "--reference", "none",
                              "-o", "f.png"], files={**TWO, "acc.csv": "name,top1\nr,0.7\ns,0.75\n"}),
    ok("plot-csv-zero-is-either-unit", ["plot", "r.json", "s.json", "--accuracy-file", "acc.csv", "--reference",
                                        "none", "-o", "f.png"], files={**TWO, "acc.csv": "name,top1\nr,0\ns,70\n"}),
    ok("plot-csv-percent-below-one", ["plot", "r.json", "s.json", "--accuracy-file", "acc.csv", "--reference", "none",
                                      "-o", "f.png"], files={**TWO, "acc.csv": "name,top1\nr,0.5%\ns,70\n"}),
    ok("plot-csv-byte-order-mark", ["plot", "r.json", "s.json", "--accuracy-file", "acc.csv", "--reference", "none",
                                    "-o", "f.png"], files={**TWO, "acc.csv": "\ufeffname,top1\nr,60\ns,70\n"}),
    err("plot-accuracy-options-mixed", ["plot", "r.json", "s.json", "--accuracy", "r=0.7", "--accuracy", "s=70"],
        "one unit", files=TWO),
    err("plot-accuracy-over-100", ["plot", "r.json", "--accuracy", "r=170"], "out of range", files={"r.json": GOOD}),
    err("plot-accuracy-negative", ["plot", "r.json", "--accuracy", "r=-5"], "out of range", files={"r.json": GOOD}),
    err("plot-cost-past-an-axis", ["plot", "r.json", "--accuracy", "r=70", "-o", "f.png"],
        "more than a figure axis can draw", files={"r.json": HUGE}),
    err("plot-cost-past-an-axis-linear", ["plot", "r.json", "--accuracy", "r=70", "--linear-x", "-o", "f.png"],
        "more than a figure axis can draw", files={"r.json": HUGE}),
    ok("plot-cost-1e200", ["plot", "r.json", "--accuracy", "r=70", "--panels", "ace,cpu64", "-o", "f.png"],
       files={"r.json": report_json(layers=(("fc1", 1e200, 1e200),), macs=1e200, ace=1e200, cpu64=1e200)},
       check=lambda out, e, d: "e+" in out and max(len(line) for line in out.splitlines()) < 300),
    err("plot-negative-cost", ["plot", "r.json", "--accuracy", "r=70"], "totals.ace",
        files={"r.json": bad_report(totals__ace=-1)}),
    err("plot-size-zero", ["plot", "r.json", "--accuracy", "r=70", "--size", "0,0"], "--size",
        files={"r.json": GOOD}),
    err("plot-size-nan", ["plot", "r.json", "--accuracy", "r=70", "--size", "nan,3"], "--size",
        files={"r.json": GOOD}),
    err("plot-size-three-numbers", ["plot", "r.json", "--accuracy", "r=70", "--size", "1,2,3"], "--size",
        files={"r.json": GOOD}),
    err("plot-x-and-panels", ["plot", "r.json", "--accuracy", "r=70", "--x", "ace", "--panels", "ace,size"],
        "not both", files={"r.json": GOOD}),
    err("plot-panels-repeated", ["plot", "r.json", "--accuracy", "r=70", "--panels", "ace,ace"], "repeats",
        files={"r.json": GOOD}),
    err("plot-json-top-level-array", ["plot", "r.json", "--accuracy", "r=70"], "not an acecost report",
        files={"r.json": "[]"}),
]

SWEEP_CSV = ("float_bits,macs,binary_macs,ace,cpu64,size_bits,params,elementwise_ops,complete,warnings,seconds,"
             "cached,error\n8,40,0,2560,40,320,40,0,True,4,0.02,False,\n16,40,0,10240,40,640,40,0,True,4,0.01,False,\n")
_SWEEP_PLOT = ["plot", "s.csv", "--accuracy-file", "acc.csv", "--reference", "none", "-o", "f.png"]
CASES += [  # a sweep table's accuracies: the same units rule (one warning line says how many joined)
    err("plot-sweep-mixed-units", _SWEEP_PLOT, "one unit", err=2,
        files={"s.csv": SWEEP_CSV, "acc.csv": "float_bits,top1\n8,0.7\n16,70\n"}),
    err("plot-sweep-out-of-range", _SWEEP_PLOT, "out of range", err=2,
        files={"s.csv": SWEEP_CSV, "acc.csv": "float_bits,top1\n8,169\n16,70\n"}),
    ok("plot-sweep-percents", _SWEEP_PLOT, err=1, stdout_has="float_bits=16",
       files={"s.csv": SWEEP_CSV, "acc.csv": "float_bits,top1\n8,69\n16,70\n"}),
]

# --- round 3: odd reports for diff ------------------------------------------------------------
DIFF_BAD: list[tuple[str, str | bytes, str]] = [
    ("top-level-array", "[]", "not an acecost report"),
    ("top-level-string", '"report"', "not an acecost report"),
    ("top-level-null", "null", "not an acecost report"),
    ("top-level-number", "5", "not an acecost report"),
    ("empty-object", "{}", "not an acecost report"),
    ("negative-total", bad_report(totals__ace=-10240), "totals.ace"),
    ("negative-layer", bad_report(layers__1__macs=-8), "layers[1].macs"),
    ("negative-params", bad_report(totals__params=-1), "totals.params"),
    ("only-whitespace", "  \n\t\n", "not valid JSON"),
    ("utf16", GOOD.encode("utf-16"), "not a text file"),
    ("huge-exponent", GOOD.replace('"ace": 10240', '"ace": 1e999'), "totals.ace"),  # read as inf
    ("truncated", GOOD[: len(GOOD) // 2], "not valid JSON"),
    ("nested-objects", '{"totals": ' * 5000 + "1" + "}" * 5000, "not valid JSON"),
]
CASES += [err(f"diff-{name}", ["diff", "base.json", "new.json"], frag, files={"base.json": text, "new.json": GOOD})
          for name, text, frag in DIFF_BAD]
CASES += [
    ok("diff-byte-order-mark", ["diff", "base.json", "new.json", "--format", "json"], out="json",
       files={"base.json": "\ufeff" + GOOD, "new.json": GOOD}),
    ok("diff-huge-values", ["diff", "base.json", "new.json", "--format", "json"], out="json",
       files={"base.json": GOOD, "new.json": HUGE}),
    ok("diff-huge-values-table", ["diff", "base.json", "new.json"], files={"base.json": HUGE, "new.json": GOOD},
       stdout_has="ACE"),
    ok("diff-zero-totals", ["diff", "base.json", "new.json", "--format", "markdown"],
       files={"base.json": report_json(layers=(), macs=0, ace=0, cpu64=0, size_bits=0), "new.json": GOOD}),
    ok("diff-layer-name-with-newline", ["diff", "base.json", "new.json", "--format", "json"], out="json",
       files={"base.json": report_json(layers=(("a\nb", 1, 1),)), "new.json": report_json(layers=(("a\nb", 2, 2),))}),
    ok("diff-top-zero", ["diff", "base.json", "new.json", "--top", "0", "--format", "json"], out="json",
       files={"base.json": GOOD, "new.json": report_json(layers=(("fc1", 64, 16384), ("fc2", 8, 2048)))}),
    err("diff-top-word", ["diff", "base.json", "new.json", "--top", "all"], "--top"),
    err("check-baseline-negative", ["check", f"{M}/mlp.py", "--baseline", "b.json"], "totals.ace",
        files={"b.json": bad_report(totals__ace=-1)}),
]

# --- round 3: odd configurations --------------------------------------------------------------
_T = f'[[tool.acecost.models]]\ntarget = "{M}/mlp.py"\n'
PYPROJECT_ODD: list[tuple[str, str, str]] = [
    ("max-ace-inf", _T + "max_ace = inf\n", "finite"),
    ("max-ace-minus-inf", _T + "max_ace = -inf\n", "finite"),
    ("max-ace-negative", _T + "max_ace = -1\n", "negative"),
    ("max-ace-negative-string", _T + 'max_ace = "-5G"\n', "negative"),
    ("max-ace-1e400", _T + "max_ace = 1e400\n", "finite"),
    ("max-ace-huge-integer", _T + "max_ace = " + "9" * 40 + "\n", "too large"),
    ("max-ace-huge-string", _T + 'max_ace = "1e400"\n', "too large"),
    ("max-ace-date", _T + "max_ace = 2025-01-01\n", "max_ace"),
    ("max-ace-array", _T + "max_ace = [1]\n", "max_ace"),
    ("max-size-negative", _T + "max_size = -1\n", "negative"),
    ("max-increase-negative", _T + 'max_increase = "-5%"\nbaseline = "b.json"\n', "negative"),
    ("float-bits-inf", _T + "float_bits = inf\n", "float_bits"),
    ("float-bits-nan", _T + "float_bits = nan\n", "float_bits"),
    ("while-trips-huge", _T + "while_trips = " + "9" * 30 + "\n", "while_trips"),
    ("input-shape-empty-list", _T + "input_shape = []\n", "input_shape"),
    ("bits-list-of-numbers", _T + "bits = [5]\n", "REGEX=A,W"),
    ("strict-number", _T + "strict = 1\n", "strict"),
    ("mode-list", _T + 'mode = ["train"]\n', "mode"),
    ("cond-unknown", _T + 'cond = "min"\n', "cond"),
    ("scales-number", _T + "scales = 5\n", "scales"),
    ("sub-table", _T + "[tool.acecost.models.sub]\nx = 1\n", "unknown key 'sub'"),
    ("models-is-a-table", f'[tool.acecost.models]\ntarget = "{M}/mlp.py"\n', "array of tables"),
    ("models-of-numbers", "[tool.acecost]\nmodels = [5]\n", "array of tables"),
    ("models-of-arrays", "[tool.acecost]\nmodels = [[]]\n", "array of tables"),
    ("empty-acecost-table", "[tool.acecost]\n", "no models configured"),
    ("empty-model-table", "[[tool.acecost.models]]\n", "no 'target'"),
    ("target-empty", '[[tool.acecost.models]]\ntarget = ""\n', "no 'target'"),
    ("target-number", "[[tool.acecost.models]]\ntarget = 5\n", "no 'target'"),
    ("target-array", f'[[tool.acecost.models]]\ntarget = ["{M}/mlp.py"]\n', "no 'target'"),
    ("name-empty", f'[[tool.acecost.models]]\nname = ""\ntarget = "{M}/mlp.py"\n', "'name'"),
    ("duplicate-key", _T + f'target = "{M}/mlp.py"\n', "invalid TOML"),
    ("duplicate-table", "[tool.acecost]\n[tool.acecost]\n", "invalid TOML"),
    ("duplicate-names-three", "".join(f'[[tool.acecost.models]]\nname = "m"\ntarget = "{M}/mlp.py"\n'
                                      for _ in range(3)), "duplicate"),
    ("only-null-bytes", "\x00\x00", "invalid TOML"),
]
CASES += [err(f"pyproject-{name}", ["check"], frag, files={"pyproject.toml": text})
          for name, text, frag in PYPROJECT_ODD]
CASES += [
    err("acecost-toml-max-ace-nan", ["check"], "max_ace", files={"acecost.toml": f'[[models]]\ntarget = "{M}/mlp.py"\n'
                                                                                  "max_ace = nan\n"}),
    err("acecost-toml-empty", ["check"], "no models configured", files={"acecost.toml": ""}),
    ok("pyproject-bits-empty-list", ["check", "--format", "json"], out="json",
       files={"pyproject.toml": _T + "bits = []\nmax_ace = \"1G\"\n"}),
    Case("pyproject-max-ace-zero-fails", ["check", "--format", "json"], 1, out="json", err=0,
         files={"pyproject.toml": _T + "max_ace = 0\n"},
         check=lambda out, e, d: json.loads(out)["models"][0]["status"] == "fail"),
]

# --- round 3: sweep and zoo list --------------------------------------------------------------
CASES += [
    err("sweep-missing-target", ["sweep", "nope.py", "--grid", "float_bits=8"], "no such file"),
    err("sweep-no-grid", ["sweep", f"{M}/mlp.py"], "empty grid"),
    err("sweep-unknown-parameter", ["sweep", f"{M}/mlp.py", "--grid", "width=1,2", "--no-cache"],
        "unknown parameter 'width'"),
    err("sweep-sample-zero", ["sweep", f"{M}/mlp.py", "--grid", "float_bits=8", "--sample", "0"], "--sample"),
    err("sweep-seed-word", ["sweep", f"{M}/mlp.py", "--grid", "float_bits=8", "--seed", "x"], "--seed"),
    err("sweep-model-syntax-error", ["sweep", f"{M}/syntax.py", "--grid", "float_bits=8", "--no-cache"],
        "SyntaxError"),
    err("sweep-helper-raises", ["sweep", f"{M}/sib_import.py", "--grid", "float_bits=8", "--no-cache"],
        "sib_zero.py:3 (imported from"),
    ok("sweep-markup-file-name", ["sweep", f"{M}/mlp[v2].py", "--grid", "float_bits=8", "--no-cache", "--jobs", "1"],
       err=1, stdout_has="mlp[v2].py: 1 points"),
    ok("help-sweep", ["sweep", "--help"], stdout_has="Usage"),
    ok("zoo-list-json", ["zoo", "list", "--format", "json"], out="json",
       check=lambda out, e, d: len(json.loads(out)["models"]) > 0),
    err("zoo-list-batch-negative", ["zoo", "list", "--batch", "-1"], "--batch"),
    err("zoo-list-resolution-word", ["zoo", "list", "--resolution", "big"], "--resolution"),
    err("zoo-list-extra-argument", ["zoo", "list", "pokebnn"], "unexpected extra argument"),
]


def _expand(value: str, models: Path) -> str:
    return value.replace("{M}", str(models))


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for name, text in MODELS.items():
        path = root / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    return root


def run(args: list[str], cwd: Path, env=None) -> subprocess.CompletedProcess:
    """The console script's result; ``stdout_utf8`` says whether stdout is valid UTF-8 as written."""
    full_env = {**os.environ, "COLUMNS": "120", **(env or {})}
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)  # the no-__pycache__ check must not rely on it
    r = subprocess.run([ACECOST, *args], cwd=cwd, capture_output=True, timeout=TIMEOUT, env=full_env)
    try:
        r.stdout.decode("utf-8")
        r.stdout_utf8 = True
    except UnicodeDecodeError:
        r.stdout_utf8 = False
    r.stdout = r.stdout.decode("utf-8", "replace")
    r.stderr = r.stderr.decode("utf-8", "replace")
    return r


def _no_constant(token):
    raise AssertionError(f"JSON with {token}")


def assert_parses(out: str, fmt: str) -> None:
    if fmt == "json":
        json.loads(out, parse_constant=_no_constant)
    elif fmt == "junit":
        ET.fromstring(out)
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))
        assert rows and len({len(r) for r in rows}) == 1, out
    elif fmt == "github":
        lines = out.strip().splitlines()
        assert lines and all(line.startswith("::") for line in lines[:-1]), out
        assert lines[-1].split(":")[0] in ("PASS", "FAIL", "ERROR"), out
    elif fmt == "empty":
        assert out == "", out


def test_the_table_is_large_and_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert len(CASES) >= 330


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_contract(case: Case, models: Path, tmp_path: Path):
    for name, text in case.files.items():
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(_expand(text, models))
    r = run([_expand(a, models) for a in case.args], tmp_path, env=case.env)
    detail = f"\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
    assert r.returncode == case.code, detail
    assert r.stdout_utf8, detail  # a file name that is not UTF-8 is escaped, never written as its bytes
    assert "Traceback" not in r.stdout + r.stderr, detail
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    if case.err is not None:
        assert len(lines) == case.err, detail
    if case.code in (2, 130):
        acecost_lines = [line for line in lines if line.startswith("acecost: error: ")]
        assert len(acecost_lines) == 1, detail
    if case.frag is not None:
        assert case.frag in r.stderr, detail
    assert_parses(r.stdout, case.out)
    if case.stdout_has is not None:
        assert case.stdout_has in r.stdout, detail
    if case.check is not None:
        assert case.check(r.stdout, r.stderr, tmp_path), detail


# ------------------------------------------------------------ beyond one process


@pytest.mark.parametrize("args", [
    ["analyze", "{M}/sleepy.py"],
    ["analyze", "{M}/sleepy.py", "--format", "json"],
    ["check", "{M}/sleepy.py", "--max-ace", "1G", "--format", "junit"],
    ["check", "{M}/swallow.py", "--max-ace", "1G", "--format", "json"],
    ["analyze", "{M}/swallow.py", "--format", "json"],
    ["plot", "m={M}/sleepy.py", "--accuracy", "m=70", "--reference", "none", "--out", "f.png"],
    ["analyze", "{M}/wraps.py", "--format", "json"],
    ["check", "{M}/wraps.py", "--max-ace", "1G", "--format", "json"],
], ids=["analyze", "analyze-json", "check-junit", "check-swallowed", "analyze-swallowed", "plot",
        "analyze-wrapped", "check-wrapped"])
def test_interrupt_exits_130_with_one_line(args, models, tmp_path):
    """Ctrl-C while a model is being loaded: 130 and one line, even when the model swallows it."""
    proc = subprocess.Popen([ACECOST, *[_expand(a, models) for a in args]], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    seen = ""
    while "acecost-test: sleeping" not in seen:  # the model announces itself on stderr
        assert time.monotonic() < deadline and proc.poll() is None, seen
        seen += proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=TIMEOUT)
    lines = [line for line in (seen + rest).splitlines() if line.strip()]
    assert proc.returncode == 130, (out, lines)
    assert lines == ["acecost-test: sleeping", "acecost: error: interrupted"], lines
    assert "Traceback" not in out


@pytest.mark.parametrize("delay", [2.5, 5.0])
def test_interrupt_during_zoo_list(delay, tmp_path):
    """Wherever the interrupt lands (jax's import, its gc callback, the walker): 130 and one line.

    A resolution the stored costs are not for, so every model is analysed now.
    """
    proc = subprocess.Popen([ACECOST, "zoo", "list", "--format", "json", "--resolution", "112"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, errors = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130, errors
    assert errors.strip().splitlines() == ["acecost: error: interrupted"], errors


@pytest.mark.parametrize("fmt", ["json", "junit"])
def test_check_output_is_byte_identical_between_runs(fmt, models, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        f'[[tool.acecost.models]]\nname = "a"\ntarget = "{models}/mlp.py"\nmax_ace = "1G"\n'
        f'[[tool.acecost.models]]\nname = "b"\ntarget = "{models}/exact.py"\nmax_ace = "1"\n')
    first, second = (run(["check", "--format", fmt], tmp_path) for _ in range(2))
    assert first.returncode == second.returncode == 1, first.stderr
    assert first.stdout == second.stdout
    timed = run(["check", "--format", fmt, "--timings"], tmp_path)
    assert ("seconds" if fmt == "json" else 'time="') in timed.stdout


def test_importing_a_model_writes_no_pycache(models, tmp_path):
    for name in ("uses_helper.py", "contract_helper.py"):
        shutil.copy(models / name, tmp_path / name)
    r = run(["analyze", str(tmp_path / "uses_helper.py"), "-q"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert not list(tmp_path.rglob("__pycache__"))


def test_plot_keeps_matplotlib_caches_where_the_environment_says(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "r.json").write_text(GOOD)
    mpl = tmp_path / "mpl"
    r = run(["plot", "r.json", "--accuracy", "r=70", "--reference", "none", "--out", "f.png"],
            tmp_path / "work", env={"MPLCONFIGDIR": str(mpl)})
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["f.png", "r.json"]
    assert mpl.is_dir() and any(mpl.iterdir())  # matplotlib's font cache, where MPLCONFIGDIR says


def test_early_errors_do_not_import_jax(tmp_path):
    """A bad option costs a fraction of a second: no jax, flax or matplotlib behind it."""
    code = ("import sys; sys.argv = ['acecost', 'check', 'm.py', '--bits', 'fc=²,4']\n"
            "from acecost.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('jax', 'flax', 'matplotlib') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
