"""``--weights FILE``: checkpoints read into the parameters of an abstract model, one tensor at a time.

Each format is written by its own reference writer (numpy, the ``safetensors``
package, ``flax.serialization``, Orbax) and read back by acecost's readers;
the arrays must come back bit for bit, and a key that does not fit the model
is one error line naming it.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, MutableMapping

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from click.testing import CliRunner

import acecost
from acecost.cli import main
from acecost.errors import ConfigError
from acecost.load.trace import concrete_params, leaves_of
from acecost.load.weights import ArrayWeights, Weights, bind, digest, open_checkpoint
from flax.traverse_util import unflatten_dict

S = jax.ShapeDtypeStruct
BF16 = ml_dtypes.bfloat16

PARAMS = {"fc1": {"kernel": S((4, 3), jnp.float32), "bias": S((3,), jnp.float32)},
          "fc2": {"kernel": S((3, 2), jnp.bfloat16)}}
X = S((1, 4), jnp.float32)

MODEL = """import jax, jax.numpy as jnp
S = jax.ShapeDtypeStruct
def acecost_model():
    params = {"fc1": {"kernel": S((4, 3), jnp.float32), "bias": S((3,), jnp.float32)},
              "fc2": {"kernel": S((3, 2), jnp.bfloat16)}}
    def fn(p, x):
        h = jax.nn.relu(x @ p["fc1"]["kernel"] + p["fc1"]["bias"])
        return h.astype(jnp.bfloat16) @ p["fc2"]["kernel"]
    return fn, (params, S((1, 4), jnp.float32))
"""


def _fn(p, x):
    h = jax.nn.relu(x @ p["fc1"]["kernel"] + p["fc1"]["bias"])
    return h.astype(jnp.bfloat16) @ p["fc2"]["kernel"]


def _arrays(seed=0) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    return {"fc1/kernel": r.standard_normal((4, 3)).astype(np.float32),
            "fc1/bias": r.standard_normal(3).astype(np.float32),
            "fc2/kernel": r.standard_normal((3, 2)).astype(BF16)}


def _nested(flat: dict) -> dict:
    """``{"a/b": x}`` -> ``{"a": {"b": x}}``: the tree a checkpoint of these paths holds."""
    return unflatten_dict(flat, sep="/")


def write(fmt: str, path, arrays: dict):
    """``arrays`` (flat, by path) written by the format's own writer; the path written."""
    if fmt == "npz":
        np.savez(path / "w.npz", **arrays)
        return path / "w.npz"
    if fmt == "npz-compressed":
        np.savez_compressed(path / "wc.npz", **arrays)
        return path / "wc.npz"
    if fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file(dict(arrays), str(path / "w.safetensors"))
        return path / "w.safetensors"
    if fmt == "msgpack":
        from flax import serialization

        (path / "w.msgpack").write_bytes(serialization.msgpack_serialize(_nested(arrays)))
        return path / "w.msgpack"
    if fmt == "orbax":
        import orbax.checkpoint as ocp

        ocp.PyTreeCheckpointer().save(str(path / "orbax"), _nested(arrays))
        return path / "orbax"
    raise AssertionError(fmt)


FORMATS = ["npz", "npz-compressed", "safetensors", "msgpack", "orbax"]


def _leaves():
    return leaves_of((PARAMS, X), (0,), _fn)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips_bit_for_bit(fmt, tmp_path):
    arrays = _arrays()
    weights = bind(open_checkpoint(write(fmt, tmp_path, arrays)), _leaves())
    assert isinstance(weights, Mapping) and not isinstance(weights, MutableMapping)
    assert sorted(weights) == sorted(arrays) and len(weights) == 3
    for path, want in arrays.items():
        got = weights[path]
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()
        assert not got.flags.writeable
        with pytest.raises(ValueError):
            got[...] = 0
    assert weights["fc2/kernel"].dtype == np.dtype(BF16)  # npz stores it as |V2: read as the model's dtype
    with pytest.raises(KeyError):
        weights["fc3/kernel"]


@pytest.mark.parametrize("fmt", ["npz", "safetensors", "msgpack"])
def test_each_lookup_reads_the_file_again(fmt, tmp_path):
    """Nothing is kept: a file rewritten with the same layout gives its new values."""
    path = write(fmt, tmp_path, _arrays(0))
    weights = bind(open_checkpoint(path), _leaves())
    first = weights["fc1/kernel"]
    assert weights["fc1/kernel"] is not first
    write(fmt, tmp_path, _arrays(1))
    assert weights["fc1/kernel"].tobytes() == _arrays(1)["fc1/kernel"].tobytes() != first.tobytes()


def test_msgpack_chunked_arrays_are_read_whole(tmp_path, monkeypatch):
    from flax import serialization

    monkeypatch.setattr(serialization, "MAX_CHUNK_SIZE", 20)  # fc1/kernel (48 bytes) in 3 chunks
    arrays = _arrays()
    path = tmp_path / "w.msgpack"
    path.write_bytes(serialization.msgpack_serialize(_nested(arrays)))
    assert b"__msgpack_chunked_array__" in path.read_bytes()
    ckpt = open_checkpoint(path)
    assert len(ckpt.tensors["fc1/kernel"].spans) == 3
    weights = bind(ckpt, _leaves())
    for key, want in arrays.items():
        assert weights[key].tobytes() == want.tobytes()


def test_a_flax_variables_dict_takes_a_file_of_bare_keys_and_the_other_way_round(tmp_path):
    arrays = _arrays()
    variables = ({"params": PARAMS}, X)
    leaves = leaves_of(variables, (0,), None)
    assert sorted(lf.path for lf in leaves if lf.is_param) == sorted("params/" + k for k in arrays)
    weights = bind(open_checkpoint(write("npz", tmp_path, arrays)), leaves)
    assert sorted(weights) == sorted("params/" + k for k in arrays)
    assert weights["params/fc1/kernel"].tobytes() == arrays["fc1/kernel"].tobytes()
    # an Orbax checkpoint of {"params": ...} for a model whose parameters are bare
    import orbax.checkpoint as ocp

    ocp.PyTreeCheckpointer().save(str(tmp_path / "state"), {"params": _nested(arrays)})
    weights = bind(open_checkpoint(tmp_path / "state"), _leaves())
    assert weights["fc2/kernel"].tobytes() == arrays["fc2/kernel"].tobytes()


# ------------------------------------------------------------ what does not fit: exact messages


def _error(tmp_path, arrays, fmt="npz") -> str:
    path = write(fmt, tmp_path, arrays)
    with pytest.raises(ConfigError) as info:
        bind(open_checkpoint(path), _leaves())
    return str(info.value).replace(str(path), "FILE")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_missing_key_is_named(fmt, tmp_path):
    arrays = _arrays()
    del arrays["fc1/bias"]
    assert _error(tmp_path, arrays, fmt) == "weights FILE: no key 'fc1/bias' for the parameter fc1/bias (float32[3])"


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_extra_key_is_named(fmt, tmp_path):
    arrays = {**_arrays(), "fc3/kernel": np.zeros((2, 2), np.float32)}
    assert _error(tmp_path, arrays, fmt) == \
        "weights FILE: key 'fc3/kernel' names no parameter of the model (its 3 parameters are named like " \
        "'fc1/bias')"


def test_two_extra_keys_are_counted(tmp_path):
    arrays = {**_arrays(), "opt/mu": np.zeros(2, np.float32), "step": np.zeros((), np.int32)}
    assert _error(tmp_path, arrays) == \
        "weights FILE: key 'opt/mu' (and 1 more) names no parameter of the model (its 3 parameters are " \
        "named like 'fc1/bias')"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_shape_mismatch_is_named(fmt, tmp_path):
    arrays = {**_arrays(), "fc1/kernel": np.zeros((3, 4), np.float32)}
    assert _error(tmp_path, arrays, fmt) == \
        "weights FILE: 'fc1/kernel' has shape [3, 4]; the parameter fc1/kernel has [4, 3]"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_dtype_mismatch_is_named(fmt, tmp_path):
    arrays = {**_arrays(), "fc2/kernel": np.zeros((3, 2), np.float32)}
    assert _error(tmp_path, arrays, fmt) == \
        "weights FILE: 'fc2/kernel' is float32; the parameter fc2/kernel is bfloat16 (the dtypes must match: " \
        "convert the file or give the model that dtype)"


def test_raw_bytes_of_another_width_are_no_bfloat16(tmp_path):
    arrays = {**_arrays(), "fc2/kernel": np.zeros((3, 2), "V4")}
    assert _error(tmp_path, arrays) == \
        "weights FILE: 'fc2/kernel' is void32; the parameter fc2/kernel is bfloat16 (the dtypes must match: " \
        "convert the file or give the model that dtype)"


def test_an_empty_map_holds_no_key_as_in_a_pytree(tmp_path):
    from flax import serialization

    state = {**_nested(_arrays()), "batch_stats": {}}
    (tmp_path / "w.msgpack").write_bytes(serialization.msgpack_serialize(state))
    assert sorted(bind(open_checkpoint(tmp_path / "w.msgpack"), _leaves())) == sorted(_arrays())


def test_a_python_mapping_may_be_flat_or_nested():
    arrays = _arrays()
    for given in (arrays, _nested(arrays)):
        weights = bind(given, _leaves())
        assert isinstance(weights, ArrayWeights) and sorted(weights) == sorted(arrays)
        assert weights["fc1/kernel"].tobytes() == arrays["fc1/kernel"].tobytes()
    with pytest.raises(ConfigError, match=r"^weights: 'fc1/bias' holds str, not the array of the parameter "
                                          r"fc1/bias \(float32\[3\]\)$"):
        bind({**arrays, "fc1/bias": "zeros"}, _leaves())


def test_a_msgpack_key_that_holds_no_array_is_named(tmp_path):
    from flax import serialization

    state = _nested(_arrays())
    state["fc1"]["bias"] = 3
    (tmp_path / "w.msgpack").write_bytes(serialization.msgpack_serialize(state))
    with pytest.raises(ConfigError, match=r"^weights .*w\.msgpack: 'fc1/bias' holds int, not the array of the "
                                          r"parameter fc1/bias \(float32\[3\]\)$"):
        bind(open_checkpoint(tmp_path / "w.msgpack"), _leaves())


@pytest.mark.parametrize("name,content,message", [
    ("w.pt", b"x", "unknown format '.pt': expected .npz, .safetensors, .msgpack (Flax) or an Orbax checkpoint "
                   "directory"),
    ("w.npz", b"not a zip", "not a readable npz file: File is not a zip file"),
    ("w.safetensors", b"\x05\x00\x00\x00\x00\x00\x00\x00{", "not a readable safetensors file: header length 5 "
                                                             "does not fit a file of 9 bytes"),
    ("w.msgpack", b"\x81\xa1a\xc1", "not a readable Flax msgpack file: byte 0xc1 at 3 starts no msgpack value"),
    ("w.msgpack", b"\x81\xa1a\xc7\x10\x01\x93", "not a readable Flax msgpack file: the file ends inside a value"),
])
def test_a_file_that_is_no_checkpoint_is_one_error(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ConfigError) as info:
        open_checkpoint(tmp_path / name)
    assert str(info.value) == f"weights {tmp_path / name}: {message}"


def test_a_truncated_safetensors_file_is_refused_at_open(tmp_path):
    path = write("safetensors", tmp_path, _arrays())
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ConfigError, match=r"tensor '.*': its data_offsets do not hold"):
        open_checkpoint(path)


def test_missing_files_and_plain_directories(tmp_path):
    with pytest.raises(ConfigError, match=r"^weights .*nope\.npz: no such file or directory$"):
        open_checkpoint(tmp_path / "nope.npz")
    with pytest.raises(ConfigError, match=r"a directory that is no Orbax checkpoint"):
        open_checkpoint(tmp_path)


# ------------------------------------------------------------ the API, the command line, the sweep


def _captured(monkeypatch) -> list:
    """The ``weights`` each analysis hands the engine."""
    import acecost.api as api

    seen, real = [], api._prepare

    def spy(closed, leaves, options, weights=None):
        seen.append(weights)
        return real(closed, leaves, options, weights)

    monkeypatch.setattr(api, "_prepare", spy)
    return seen


def test_analyze_hands_the_engine_the_mapping(tmp_path, monkeypatch):
    seen = _captured(monkeypatch)
    arrays = _arrays()
    path = write("safetensors", tmp_path, arrays)
    report = acecost.analyze(_fn, PARAMS, X, weights=path)
    assert report.meta["weights"] == str(path)
    (w,) = seen
    assert isinstance(w, Weights) and w["fc1/bias"].tobytes() == arrays["fc1/bias"].tobytes()
    acecost.analyze(_fn, PARAMS, X)  # abstract parameters and no file: no weights
    acecost.analyze(_fn, PARAMS, X, weights=arrays)  # a mapping in Python, checked the same way
    acecost.analyze_train(_fn, PARAMS, X, weights=str(path))
    assert seen[1] is None and isinstance(seen[2], ArrayWeights) and isinstance(seen[3], Weights)
    assert seen[2]["fc2/kernel"].tobytes() == arrays["fc2/kernel"].tobytes()
    with pytest.raises(ConfigError, match=r"^weights: 'fc1/kernel' has shape \[3\]; the parameter fc1/kernel"):
        acecost.analyze(_fn, PARAMS, X, weights={**arrays, "fc1/kernel": np.zeros(3, np.float32)})
    with pytest.raises(ConfigError, match=r"^invalid weights 3: expected a checkpoint"):
        acecost.analyze(_fn, PARAMS, X, weights=3)


def test_parameters_given_as_arrays_are_the_weights(monkeypatch):
    seen = _captured(monkeypatch)
    arrays = _arrays()
    params = {"fc1": {"kernel": arrays["fc1/kernel"], "bias": jnp.asarray(arrays["fc1/bias"])},
              "fc2": {"kernel": arrays["fc2/kernel"]}}
    acecost.analyze(_fn, params, X)
    (w,) = seen
    assert sorted(w) == sorted(arrays)
    for key, want in arrays.items():
        assert np.asarray(w[key]).tobytes() == want.tobytes()
    assert concrete_params((PARAMS, X), _leaves()) is None


def test_the_command_line_reads_each_format_and_names_a_bad_key(tmp_path):
    (tmp_path / "m.py").write_text(MODEL)
    for fmt in FORMATS:
        path = write(fmt, tmp_path, _arrays())
        res = CliRunner().invoke(main, ["analyze", str(tmp_path / "m.py"), "--weights", str(path),
                                        "--format", "json", "-q"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["meta"]["weights"] == str(path)
    bad = write("npz", tmp_path, {**_arrays(), "fc1/kernel": np.zeros((4, 4), np.float32)})
    for command in (["analyze"], ["check", "--max-ace", "1e12"]):
        res = CliRunner().invoke(main, [command[0], str(tmp_path / "m.py"), *command[1:], "--weights", str(bad)])
        assert res.exit_code == 2, res.output
        errors = [line for line in res.output.splitlines() if line.startswith("acecost: error:")]
        assert len(errors) == 1 and errors[0].endswith(
            f"weights {bad}: 'fc1/kernel' has shape [4, 4]; the parameter fc1/kernel has [4, 3]"), res.output


def test_check_reads_weights_from_the_config_next_to_it(tmp_path, monkeypatch):
    (tmp_path / "m.py").write_text(MODEL)
    write("npz", tmp_path, {**_arrays(), "fc9/kernel": np.zeros(1, np.float32)})
    (tmp_path / "acecost.toml").write_text(
        '[[models]]\nname = "m"\ntarget = "m.py"\nmax_ace = "1e12"\nweights = "w.npz"\n')
    monkeypatch.chdir(tmp_path / "..")
    res = CliRunner().invoke(main, ["check", "--config", str(tmp_path / "acecost.toml")])
    assert res.exit_code == 2
    assert f"weights {tmp_path / 'w.npz'}: key 'fc9/kernel' names no parameter" in res.output


def test_the_sweep_cache_key_holds_the_files_digest(tmp_path):
    from acecost.sweeps.run import keyed

    path = write("npz", tmp_path, _arrays(0))
    first = keyed({"float_bits": 16, "weights": str(path)})
    assert first["weights"] == {"path": str(path), "sha256": digest(str(path))}
    write("npz", tmp_path, _arrays(1))  # same name, new contents: a new key
    assert keyed({"weights": str(path)})["weights"]["sha256"] != first["weights"]["sha256"]
    orbax = write("orbax", tmp_path, _arrays(0))
    assert len(keyed({"weights": str(orbax)})["weights"]["sha256"]) == 64
    assert keyed({"float_bits": 16}) == {"float_bits": 16}


def test_a_sweep_with_weights_prices_and_caches_by_the_file(tmp_path):
    (tmp_path / "m.py").write_text(MODEL.replace("def acecost_model():", "def acecost_model(width=1):"))
    path = write("npz", tmp_path, _arrays(0))
    kw = dict(grid={"width": [1]}, cache_dir=str(tmp_path / "cache"), jobs=1, executor="local")
    df = acecost.sweep(str(tmp_path / "m.py"), weights=str(path), **kw)
    assert df["error"].isna().all() and df.attrs["computed"] == 1
    assert acecost.sweep(str(tmp_path / "m.py"), weights=str(path), **kw).attrs["cached"] == 1
    write("npz", tmp_path, _arrays(1))
    assert acecost.sweep(str(tmp_path / "m.py"), weights=str(path), **kw).attrs["computed"] == 1
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(acecost.AcecostError, match="a sweep reads its weights from a checkpoint file"):
        acecost.sweep(str(tmp_path / "m.py"), weights=_arrays(), **kw)


# ------------------------------------------------------------ end to end: the issue's example from a checkpoint

EXAMPLE_MODEL = """import jax, jax.numpy as jnp
S = jax.ShapeDtypeStruct
def acecost_model():
    fn = lambda p, x: jax.nn.relu(x @ p["w1"]) @ p["w2"]
    return fn, ({"w1": S((256, 512), jnp.float32), "w2": S((512, 10), jnp.float32)}, S((8, 256), jnp.float32))
"""


def _example_weights() -> dict[str, np.ndarray]:
    """w1: ternary {-s_c, 0, +s_c}, exactly half of each column zero; w2: 4-bit codes in
    {-8..-1, 1..7} (all 15 in every column) times a per-column scale."""
    rng = np.random.default_rng(7)
    signs = np.concatenate([np.zeros(128), np.ones(64), -np.ones(64)])
    w1 = np.stack([rng.permutation(signs) for _ in range(512)], axis=1) * rng.uniform(0.5, 2, 512)
    codes = np.array([v for v in range(-8, 8) if v], np.float64)
    w2 = np.stack([rng.permutation(np.resize(codes, 512)) for _ in range(10)], axis=1) * rng.uniform(0.5, 2, 10)
    return {"w1": w1.astype(np.float32), "w2": w2.astype(np.float32)}


@pytest.mark.parametrize("fmt", ["npz", "safetensors", "msgpack", "orbax"])
def test_the_issues_example_is_measured_from_a_checkpoint(fmt, tmp_path):
    (tmp_path / "m.py").write_text(EXAMPLE_MODEL)
    path = write(fmt, tmp_path, _example_weights())
    macs = {"w1": 8 * 256 * 512, "w2": 8 * 512 * 10}  # closed forms: rows x fan-in x fan-out
    bits = {"w1": 2, "w2": 4}  # ceil(log2 3), ceil(log2 15)
    density = {"w1": 0.5, "w2": 1.0}
    expected = {
        (): (sum(macs.values()), sum(m * 16 * 16 for m in macs.values())),
        ("--levels", "measured"): (sum(macs.values()), sum(m * 16 * bits[k] for k, m in macs.items())),
        ("--levels", "measured", "--sparsity", "discount"):
            (sum(int(m * density[k]) for k, m in macs.items()),
             sum(int(m * density[k]) * 16 * bits[k] for k, m in macs.items())),
    }
    assert [ace for _, ace in expected.values()] == [278_921_216, 36_175_872, 19_398_656]  # the issue's figures
    assert expected[("--levels", "measured", "--sparsity", "discount")][0] == 565_248
    for flags, (want_macs, want_ace) in expected.items():
        res = CliRunner().invoke(main, ["analyze", str(tmp_path / "m.py"), "--weights", str(path), *flags,
                                        "--format", "json", "-q"])
        assert res.exit_code == 0, res.output
        totals = json.loads(res.output)["totals"]
        assert (totals["macs"], totals["ace"]) == (want_macs, want_ace), (fmt, flags)
    # without the checkpoint the abstract model has nothing to measure: one error line, exit 2
    res = CliRunner().invoke(main, ["analyze", str(tmp_path / "m.py"), "--levels", "measured"])
    assert res.exit_code == 2 and "--weights FILE" in res.output
