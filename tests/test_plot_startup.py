"""``acecost plot`` of analysis JSON files never imports jax or flax.

Each case runs the command in a fresh interpreter (a module imported by an
earlier test would hide the import) and reports what ``sys.modules`` holds
afterwards. The PokeBNN overlay (the default) reads the bundled widths'
stored costs, so it needs no jax either.
"""

import json
import subprocess
import sys
import textwrap

import pytest

REPORT = {"schema_version": 1, "meta": {"name": "m"},
          "totals": {"ace": 64_000, "macs": 1_000, "binary_macs": 0, "cpu64": 1_000, "size_bits": 512,
                     "complete": True},
          "layers": [{"name": "Net/fc", "primitive": "dot_general", "bits_a": 8, "bits_w": 8,
                      "macs": 1_000, "ace": 64_000, "binary": False, "bits_a_source": "",
                      "bits_w_source": ""}],
          "params": [{"path": "params/fc/kernel", "shape": [8], "dtype": "int8", "bits": 8,
                      "size_bits": 512}]}

PROBE = textwrap.dedent("""
    import json, sys
    from acecost.cli import main
    try:
        main(sys.argv[1:], prog_name="acecost")
    except SystemExit as e:
        code = e.code
    heavy = sorted(m for m in ("jax", "jaxlib", "flax") if m in sys.modules)
    print(json.dumps({"code": code, "heavy": heavy}))
""")


@pytest.mark.parametrize("args", [
    ["--accuracy", "m=70", "--reference", "none", "-o", "{tmp}/p.pdf"],
    ["--accuracy", "m=70", "--panels", "ace,cpu64,size", "-o", "{tmp}/p.png"],
    ["--breakdown", "-o", "{tmp}/b.png"],
    ["--breakdown", "--x", "size", "-o", "{tmp}/b.svg"],
])
def test_plot_of_json_does_not_import_jax(tmp_path, args):
    report = tmp_path / "m.json"
    report.write_text(json.dumps(REPORT))
    argv = ["plot", str(report), *[a.format(tmp=tmp_path) for a in args]]
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                          timeout=120)
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["code"] == 0, proc.stderr
    assert result["heavy"] == []
