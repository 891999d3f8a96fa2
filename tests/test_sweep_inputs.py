"""``acecost sweep``: bad input is one error line and exit 2 before any point is priced, and
inputs that are fine (a sample of a huge space, TOML dates) work.

Exit codes go through the real console script. A model that would be priced
announces it on stderr ("priced"), so "before any point" is checked by its
absence; the model is ``x @ w`` with x (2, 4) and w (4, 3): 2*4*3 = 24 MACs.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import acecost
from acecost.errors import AcecostError
from acecost.sweeps.space import MAX_POINTS, Space, make_space

ACECOST = str(Path(sys.executable).with_name("acecost"))

MODEL = """import sys
import jax, jax.numpy as jnp

def acecost_model(**params):
    print("priced", file=sys.stderr)
    return (lambda w, x: x @ w), (jax.ShapeDtypeStruct((4, 3), jnp.float32), jax.ShapeDtypeStruct((2, 4), jnp.float32))
"""


@pytest.fixture
def cwd(tmp_path):
    (tmp_path / "m.py").write_text(MODEL)
    return tmp_path


def sweep(args, cwd, timeout=120):
    return subprocess.run([ACECOST, "sweep", "m.py", "--no-cache", "-q", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def one_error_line(r, fragment):
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "priced" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("acecost: error: "), r.stderr
    assert fragment in lines[0], lines[0]


def huge_grid(axes=20):
    return [a for i in range(axes) for a in ("--grid", f"a{i}=0,1,2,3,4,5,6,7,8,9")]


# ------------------------------------------------------------------ the space


def test_a_sample_of_10_to_the_20_points_prices_only_the_sample(cwd):
    r = sweep([*huge_grid(), "--sample", "2", "-j", "1", "-o", "out.jsonl"], cwd)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (cwd / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(row["macs"] == 24 for row in rows)
    assert rows[0] != rows[1]


def test_listing_a_space_that_large_is_refused(cwd):
    one_error_line(sweep(huge_grid(), cwd), "--sample N")
    one_error_line(sweep([*huge_grid(), "--sample", str(MAX_POINTS + 1)], cwd), "--sample")


def test_sampling_decodes_indices_of_a_huge_product():
    space = Space({f"a{i}": list(range(10)) for i in range(20)}, [])
    assert space.size == 10 ** 20
    points = list(space.iter_points(5, seed=3))
    assert len(points) == 5 and len({json.dumps(p, sort_keys=True) for p in points}) == 5
    again = list(space.iter_points(5, seed=3))
    assert points == again  # the seed decides the sample
    # index i of a mixed-radix product: the last axis varies fastest
    assert space.point(10 ** 20 - 1) == {f"a{i}": 9 for i in range(20)}
    assert space.point(123) == {**{f"a{i}": 0 for i in range(17)}, "a17": 1, "a18": 2, "a19": 3}


def test_a_small_space_samples_as_before():
    import random

    space = Space({"a": list(range(7)), "b": list(range(5))}, [])
    expect = [space.point(i) for i in sorted(random.Random(4).sample(range(35), 6))]
    assert list(space.iter_points(6, seed=4)) == expect


def test_an_axis_given_twice_is_refused(cwd):
    one_error_line(sweep(["--grid", "width=1,2", "--grid", "width=64"], cwd), "--grid width is given twice")
    one_error_line(sweep(["--grid", "float-bits=4", "--grid", "float_bits=8"], cwd), "given twice")
    with pytest.raises(AcecostError, match="given twice"):
        make_space({"float-bits": [4], "float_bits": [8]})
    (cwd / "s.json").write_text('{"grid": {"float-bits": [4], "float_bits": [8]}}')
    one_error_line(sweep(["--space", "s.json"], cwd), "given twice")


def test_a_grid_axis_still_replaces_the_space_files_axis(cwd):
    (cwd / "s.toml").write_text("[grid]\nwidth = [1, 2]\n")
    assert make_space(["width=3"], str(cwd / "s.toml")).axes == {"width": [3]}


@pytest.mark.parametrize("where", ["json", "toml", "grid"])
def test_an_integer_past_the_conversion_limit_is_one_line(cwd, where):
    digits = "1" * 5000
    if where == "grid":
        args = ["--grid", f"a={digits}"]
    else:
        text = f'{{"grid": {{"a": [{digits}]}}}}' if where == "json" else f"[grid]\na = [{digits}]\n"
        (cwd / f"s.{where}").write_text(text)
        args = ["--space", f"s.{where}"]
    one_error_line(sweep(args, cwd), "5000 digits")


def test_an_infinite_number_in_a_space_file_is_refused(cwd):
    (cwd / "s.toml").write_text("[grid]\na = [1, inf]\n")
    one_error_line(sweep(["--space", "s.toml"], cwd), "inf")
    (cwd / "s.json").write_text('{"points": [{"a": 1e400}]}')
    one_error_line(sweep(["--space", "s.json"], cwd), "points[0]")


def test_toml_dates_are_written_as_iso_strings(cwd):
    (cwd / "s.toml").write_text("[grid]\nd = [2024-01-02, 2024-01-03T04:05:06Z, 07:08:09]\n")
    r = sweep(["--space", "s.toml", "-j", "1", "-o", "out.jsonl"], cwd)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (cwd / "out.jsonl").read_text().splitlines()]
    assert [row["d"] for row in rows] == ["2024-01-02", "2024-01-03T04:05:06+00:00", "07:08:09"]
    assert [row["macs"] for row in rows] == [24, 24, 24]


def test_a_value_that_cannot_be_json_is_found_before_any_point():
    from acecost.sweeps import table

    with pytest.raises(AcecostError, match="not JSON"):
        table.check_values([1, object()], "out.jsonl")
    table.check_values([1, object()], "out.csv")  # CSV writes any value as text


# ----------------------------------------------------------------- the output


def test_an_output_that_is_a_directory_is_refused_before_any_point(cwd):
    (cwd / "out.csv").mkdir()
    one_error_line(sweep(["--grid", "a=1", "-o", "out.csv"], cwd), "is a directory")


def test_an_output_that_cannot_be_written_is_refused_before_any_point(cwd):
    (cwd / "file").write_text("")
    one_error_line(sweep(["--grid", "a=1", "-o", "file/out.csv"], cwd), "cannot write")
    # /proc refuses new files even to root
    one_error_line(sweep(["--grid", "a=1", "-o", "/proc/acecost-test.csv"], cwd), "cannot write")


# --------------------------------------------------------------- the executor


@pytest.mark.parametrize("address, fragment", [
    ("dask://localhost:99999", "Port out of range"),
    ("dask://[::1", "Invalid IPv6 URL"),
    ("dask://[zz::1]:80", "bad executor address"),
    ("dask://localhost:port", "bad executor address"),
    ("dask://:8786", "bad executor address"),
])
def test_a_malformed_dask_address_is_one_line_before_any_work(cwd, address, fragment):
    one_error_line(sweep(["--grid", "a=1", "--executor", address], cwd), fragment)


class _NotAScheduler:
    """A TCP server on 127.0.0.1 that accepts and then says nothing, or says garbage."""

    def __init__(self, garbage: bool):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.garbage = garbage
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.garbage:
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nnot dask at all" * 64)
                except OSError:
                    pass

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("garbage", [False, True], ids=["silent", "garbage"])
def test_a_server_that_is_not_a_scheduler_fails_within_a_bounded_time(cwd, garbage):
    pytest.importorskip("distributed")
    server = _NotAScheduler(garbage)
    try:
        start = time.monotonic()
        r = sweep(["--grid", "a=1", "--executor", f"dask://127.0.0.1:{server.port}"], cwd, timeout=90)
        took = time.monotonic() - start
    finally:
        server.close()
    one_error_line(r, f"dask://127.0.0.1:{server.port}")
    assert took < 45, took  # 5 s for the scheduler, 2 s of grace, and starting the command


# ---------------------------------------------------------------- the numbers


@pytest.mark.parametrize("kwargs, fragment", [
    ({"jobs": 0}, "--jobs"), ({"jobs": True}, "--jobs"), ({"jobs": 1.5}, "--jobs"), ({"jobs": "2"}, "--jobs"),
    ({"sample": 0}, "sample"), ({"sample": -1}, "sample"), ({"sample": 2.0}, "sample"),
    ({"seed": "x"}, "seed"), ({"seed": 1.5}, "seed"), ({"executor": 5}, "executor"), ({"jobs": 10**20}, "--jobs"),
])
def test_the_api_checks_its_numbers_before_any_work(tmp_path, kwargs, fragment):
    model = tmp_path / "m.py"
    model.write_text(MODEL.replace('print("priced", file=sys.stderr)', 'raise SystemExit("priced")'))
    with pytest.raises(AcecostError, match=fragment):
        acecost.sweep(str(model), {"a": [1, 2]}, cache=False, **kwargs)


@pytest.mark.parametrize("args", [["-j", "0"], ["--sample", "0"], ["--seed", "x"], ["-j", "many"],
                                  ["-j", "99999999999999999999"], ["--seed", "1" * 5000]])
def test_the_command_line_checks_its_numbers_before_any_work(cwd, args):
    one_error_line(sweep(["--grid", "a=1", *args], cwd), args[0])
