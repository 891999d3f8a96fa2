"""``python -m build`` gives a wheel and an sdist that install and run in a fresh venv.

The build runs without isolation when this environment already has what
``[build-system]`` requires (the test extra installs it), so it needs no
network; the fresh venvs see this environment's dependencies through a
``.pth`` line but get acecost only from the wheel or sdist under test.
Deselect with ``-m 'not packaging'``.
"""

import json
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[1]

MODEL = '''
import jax
import jax.numpy as jnp


def acecost_model():
    w = jax.ShapeDtypeStruct((784, 64), jnp.float32)
    return (lambda w, x: x @ w), (w, jax.ShapeDtypeStruct((1, 784), jnp.float32))
'''
# One 1x784 @ 784x64 dot, float operands at 16 bits: MACs = 784 * 64, ACE = MACs * 16 * 16.
MACS = 784 * 64


def package_data() -> list[str]:
    """Every non-Python file of the package in the source tree (what package-data must ship)."""
    pkg = ROOT / "acecost"
    return sorted(str(p.relative_to(ROOT)) for p in pkg.rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts)


def _satisfied(requirement: str) -> bool:
    from packaging.requirements import Requirement

    req = Requirement(requirement)
    try:
        return req.specifier.contains(metadata.version(req.name), prereleases=True)
    except metadata.PackageNotFoundError:
        return False


def build_deps_here() -> bool:
    """Whether this environment has what [build-system] requires (else builds use the package index)."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    return all(map(_satisfied, requires))


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    pytest.importorskip("build")
    src = tmp_path_factory.mktemp("src")
    for item in ROOT.iterdir():  # top-level files and the package; no venv, no caches
        if item.is_file():
            shutil.copy2(item, src / item.name)
    shutil.copytree(ROOT / "acecost", src / "acecost", ignore=shutil.ignore_patterns("__pycache__"))
    out = src / "dist"
    isolation = ["--no-isolation"] if build_deps_here() else []
    r = subprocess.run([sys.executable, "-m", "build", *isolation, "--outdir", str(out), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def fresh_venv(path: Path) -> Path:
    """A venv without acecost that reaches this environment's dependencies through a .pth line."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    py = path / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run([str(py), "-c", "import acecost"], capture_output=True, text=True, cwd=path)
    assert r.returncode != 0, "acecost must come only from the package under test"
    return path


def pip_install(venv: Path, *args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                        "--no-deps", *(["--no-index", "--no-build-isolation"] if build_deps_here() else []),
                        "--quiet", *args],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def runs(venv: Path, work: Path) -> None:
    """The installed command works from a directory that is not the source tree."""
    exe = venv / "bin" / "acecost"
    r = subprocess.run([str(venv / "bin" / "python"), "-c", "import acecost; print(acecost.__file__)"],
                       capture_output=True, text=True, cwd=work, check=True)
    assert Path(r.stdout.strip()).is_relative_to(venv)
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, cwd=work, timeout=120)
    assert r.returncode == 0 and "acecost check" in r.stdout, r.stderr
    (work / "model.py").write_text(MODEL)
    r = subprocess.run([str(exe), "analyze", "model.py", "--format", "json", "--energy", "horowitz45"],
                       capture_output=True, text=True, cwd=work, timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["totals"]["macs"] == MACS and doc["totals"]["ace"] == MACS * 16 * 16
    r = subprocess.run([str(exe), "zoo", "list", "--format", "json"], capture_output=True, text=True, cwd=work,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    zoo = json.loads(r.stdout)
    assert zoo["costs"] == "stored"  # read from the installed package's costs.json
    assert {m["name"]: m["ace"] for m in zoo["models"]}["zoo:pokebnn-1.0x"] == 4_222_541_824  # PokeBNN's figure


def test_sdist_and_wheel_hold_the_package_data(dist):
    data = package_data()
    for needed in ("acecost/zoo/published.csv", "acecost/zoo/costs.json", "acecost/report/horowitz45.json",
                   "acecost/py.typed"):
        assert needed in data
    (sdist,) = dist.glob("acecost-*.tar.gz")
    (wheel,) = dist.glob("acecost-*.whl")
    with tarfile.open(sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    with zipfile.ZipFile(wheel) as whl:
        in_wheel = set(whl.namelist())
    assert [f for f in data if f not in in_sdist] == []
    assert [f for f in data if f not in in_wheel] == []
    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "acecost").rglob("*.py"))
    assert [m for m in modules if m not in in_wheel] == []
    entry = next(n for n in in_wheel if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as whl:
        assert "acecost = acecost.cli:main" in whl.read(entry).decode()


@pytest.mark.parametrize("pattern", ["acecost-*.whl", "acecost-*.tar.gz"], ids=["wheel", "sdist"])
def test_distribution_installs_and_runs_in_a_fresh_venv(dist, tmp_path, pattern):
    (archive,) = dist.glob(pattern)
    venv = fresh_venv(tmp_path / "venv")
    pip_install(venv, str(archive))
    work = tmp_path / "work"
    work.mkdir()
    runs(venv, work)
