"""Bad checkpoints found by using the new features as a user would: each is one
``acecost: error:`` line and exit 2, never an internal error (exit 3) or a misleading message."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from acecost.cli import main

MODEL = """import jax, jax.numpy as jnp
S = jax.ShapeDtypeStruct
def acecost_model():
    def fn(p, x):
        return x @ p["fc"]["kernel"]
    return fn, ({"fc": {"kernel": S((64, 32), jnp.float32)}}, S((2, 64), jnp.float32))
"""
KERNEL = np.arange(64 * 32, dtype=np.float32).reshape(64, 32)  # distinct bytes, easy to find


def _errors(tmp_path, weights) -> tuple[int, list[str]]:
    (tmp_path / "m.py").write_text(MODEL)
    res = CliRunner().invoke(main, ["analyze", str(tmp_path / "m.py"), "--weights", str(weights), "-q"])
    return res.exit_code, [line for line in res.output.splitlines() if line.startswith("acecost: error:")]


def _orbax(tmp_path):
    import orbax.checkpoint as ocp

    path = tmp_path / "ckpt"
    ocp.PyTreeCheckpointer().save(str(path), {"fc": {"kernel": KERNEL}})
    return path


def test_an_npz_whose_data_fails_its_crc_is_named_by_key(tmp_path):
    """The zip index reads fine; the damage shows only when the member is read (it was exit 3)."""
    path = tmp_path / "w.npz"
    np.savez(path, **{"fc/kernel": KERNEL})
    data = bytearray(path.read_bytes())
    at = bytes(data).index(KERNEL.tobytes()) + 100
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    code, errors = _errors(tmp_path, path)
    assert code == 2 and errors == [
        f"acecost: error: weights {path}: 'fc/kernel' cannot be read "
        "(BadZipFile: Bad CRC-32 for file 'fc/kernel.npy')"]


def test_an_orbax_checkpoint_whose_data_is_damaged_is_named_by_key(tmp_path):
    pytest.importorskip("orbax.checkpoint")
    path = _orbax(tmp_path)
    damaged = [f for f in path.rglob("*") if f.is_file() and f.parent.name == "d"
               and f.parent.parent.name.startswith("ocdbt.process")]
    assert damaged
    for f in damaged:
        f.write_bytes(b"\0" * 64)
    code, errors = _errors(tmp_path, path)
    assert code == 2 and len(errors) == 1, errors
    assert errors[0].startswith(f"acecost: error: weights {path}: 'fc/kernel' cannot be read ("), errors


def test_an_orbax_directory_without_its_tree_metadata_says_so(tmp_path):
    """Orbax logs a warning and returns no tree; that was reported as a missing key 'fc/kernel'."""
    pytest.importorskip("orbax.checkpoint")
    path = _orbax(tmp_path)
    (path / "_METADATA").unlink()
    code, errors = _errors(tmp_path, path)
    assert code == 2 and errors == [
        f"acecost: error: weights {path}: not a readable Orbax file: it holds no PyTree metadata "
        "(its _METADATA file is missing or unreadable)"]


def test_the_undamaged_files_still_price_the_weights(tmp_path):
    """The control: the same files unharmed give the measured report (64 x 32 kernel, all distinct
    per column but float, so 16 x 16 bits: ACE = 2 * 64 * 32 * 256)."""
    np.savez(tmp_path / "w.npz", **{"fc/kernel": KERNEL})
    (tmp_path / "m.py").write_text(MODEL)
    for weights in (tmp_path / "w.npz",):
        res = CliRunner().invoke(main, ["analyze", str(tmp_path / "m.py"), "--weights", str(weights),
                                        "--sparsity", "discount", "--format", "json", "-q"])
        assert res.exit_code == 0, res.output
        import json
        totals = json.loads(res.output)["totals"]
        # one zero weight (KERNEL[0, 0]) of 2048: the discounted MACs are 2 * 2047
        assert totals["macs"] == 2 * 2047 and totals["ace"] == 2 * 2047 * 256


# ------------------------------------------------ diff of reports priced with other options

def _report(tmp_path, name, *options):
    (tmp_path / "m.py").write_text(MODEL)
    res = CliRunner().invoke(main, ["analyze", str(tmp_path / "m.py"), *options, "--format", "json",
                                    "-o", str(tmp_path / name), "-q"])
    assert res.exit_code == 0, res.output
    return str(tmp_path / name)


def test_diff_says_when_the_reports_were_priced_with_other_options(tmp_path):
    """A time known on one side only was dropped from the totals without a word, and a delta
    made by --sparsity/--weights/--hardware read as the model's own."""
    import json

    np.savez(tmp_path / "w.npz", **{"fc/kernel": KERNEL})
    base = _report(tmp_path, "base.json", "--hardware", "h100-sxm")
    new = _report(tmp_path, "new.json", "--weights", str(tmp_path / "w.npz"), "--sparsity", "discount")
    res = CliRunner().invoke(main, ["diff", base, new, "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["warnings"] == [
        f"the reports were priced with different options (sparsity dense -> discount; weights none -> "
        f"{tmp_path / 'w.npz'}; hardware h100-sxm -> none): their deltas are not the model's alone",
        f"time is known in {base} only and is left out of the totals (the other has no --hardware)"]
    assert "time_s" not in data["totals"]
    # MACs 2 x 64 x 32 = 4096 dense, 2 x 2047 with the one zero weight discounted
    assert (data["totals"]["macs"]["base"], data["totals"]["macs"]["new"]) == (4096, 4094)
    quiet = CliRunner().invoke(main, ["diff", base, new, "-q"])
    assert "warning" not in quiet.stderr


def test_diff_of_reports_priced_alike_warns_of_nothing(tmp_path):
    import json

    a = _report(tmp_path, "a.json", "--hardware", "tpu-v5e")
    res = CliRunner().invoke(main, ["diff", a, a, "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["warnings"] == []


def test_a_breakdown_of_time_of_a_report_without_hardware_says_why(tmp_path):
    """It blamed the file ("write reports with 'acecost analyze --format json'"), which was one."""
    plain = _report(tmp_path, "plain.json")
    res = CliRunner().invoke(main, ["plot", "--breakdown", plain, "--x", "time_s", "-o", str(tmp_path / "b.png")])
    assert res.exit_code == 2
    assert [line for line in res.output.splitlines() if line.startswith("acecost: error:")] == [
        f"acecost: error: {plain}: it has no time_s: it was analysed without --hardware; analyse it again "
        "with --hardware NAME|FILE.toml for a breakdown of time"]
    timed = _report(tmp_path, "timed.json", "--hardware", "h100-sxm")
    res = CliRunner().invoke(main, ["plot", "--breakdown", timed, "--x", "time_s", "-o", str(tmp_path / "b.png")])
    assert res.exit_code == 0, res.output
