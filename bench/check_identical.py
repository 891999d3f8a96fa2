"""JSON of every zoo model, example and bench model: write it, or compare it byte for byte.

    python bench/check_identical.py write DIR      # e.g. on main, before a change
    python bench/check_identical.py compare DIR    # after: exit 1 on any difference
    python bench/check_identical.py compare-dumps BEFORE AFTER   # reports the tests built

Targets are named relative to the checkout, so two checkouts compare.
``compare-dumps`` compares the reports ``bench/report_dump.py`` wrote while
the test suite ran (the corpus of other projects' models among them), with
pytest's temporary directories written as ``<tmp>``.

Each target goes through the command line (``acecost analyze T --format
json``), in this one process (click's test runner), so the comparison covers
the same path users run. Nothing in the JSON is a timing, so nothing is
stripped; ``--bench`` adds the bench models (minutes: the LLM shapes).
"""
from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: example -> extra options its README row gives
EXAMPLES = {
    "binary_mlp.py": [], "quantized_cnn.py": [], "nnx_mlp.py": [], "scan_layers.py": [], "tagged.py": [],
    "equinox_mlp.py": [], "aqt_pokebnn.py": ["--cond", "quantized", "--scales", "codes"],
    "linen_module.py": ["--input-shape", "1,28,28,1"],
}


def targets(bench: bool) -> list[tuple[str, list[str]]]:
    from acecost import zoo

    out = [(f"zoo:{name}", []) for name in zoo.names()]
    out += [(f"examples/{name}", opts) for name, opts in EXAMPLES.items()]
    if bench:
        out += [(str(p.relative_to(ROOT)), []) for p in sorted((ROOT / "bench" / "models").glob("[!_]*.py"))]
    return out


def run(spec: str, opts: list[str]) -> str:
    from click.testing import CliRunner

    from acecost.cli import main

    result = CliRunner().invoke(main, ["analyze", spec, "--format", "json", "--quiet", *opts])
    if result.exit_code != 0:
        return f"exit {result.exit_code}\n{result.output}"
    return result.stdout


def key(spec: str) -> str:
    return Path(spec.replace("zoo:", "zoo_")).name.replace(".py", "") + ".json"


_TMP = re.compile(r"/tmp/pytest-of-[^/]+/pytest-\d+/(popen-gw\d+/)?|/tmp/tmp[\w-]+/|/tmp/acecost-[\w-]+/")


def compare_dumps(before: Path, after: Path) -> int:
    """Every report of ``before`` equals the one of the same test in ``after``, up to temporary paths."""
    old = {p.name for p in before.glob("*.json")}
    new = {p.name for p in after.glob("*.json")}
    bad = 0
    for name in sorted(old - new):
        print(f"MISSING {name}")
        bad += 1
    for name in sorted(new - old):
        print(f"NEW {name}")
    for name in sorted(old & new):
        a = _TMP.sub("<tmp>/", (before / name).read_text(encoding="utf-8"))
        b = _TMP.sub("<tmp>/", (after / name).read_text(encoding="utf-8"))
        if a != b:
            bad += 1
            print(f"DIFFERENT {name}")
            sys.stdout.writelines(list(difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                                             "before", "after", n=1))[:40])
    print(f"{len(old & new) - bad} of {len(old & new)} identical")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["write", "compare", "compare-dumps"])
    ap.add_argument("dir", type=Path)
    ap.add_argument("after", type=Path, nargs="?", help="compare-dumps: the reports after the change")
    ap.add_argument("--bench", action="store_true", help="also the bench models (slow)")
    args = ap.parse_args()
    if args.mode == "compare-dumps":
        return compare_dumps(args.dir, args.after)
    os.chdir(ROOT)
    args.dir.mkdir(parents=True, exist_ok=True)
    bad = 0
    for spec, opts in targets(args.bench):
        text, path = run(spec, opts), args.dir / key(spec)
        if args.mode == "write":
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
            continue
        if not path.exists():
            print(f"MISSING {path}")
            bad += 1
            continue
        old = path.read_text(encoding="utf-8")
        if old == text:
            print(f"identical {key(spec)}")
        else:
            bad += 1
            print(f"DIFFERENT {key(spec)}")
            sys.stdout.writelines(list(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                             "before", "after", n=1))[:40])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
