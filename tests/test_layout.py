"""The package's layout keeps its promises (docs/design.md, "Map"): stages as
folders, few top-level modules, no import circles, no reaching into another
module's private names, and rules registered without bottom-of-file imports.

Imports are read from the source (every ``import``, at the top or inside a
function; those under ``if TYPE_CHECKING`` never run and are skipped), so a
circle through a lazy import counts as much as one at the top.
"""
from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "acecost"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def _imports(name: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every run-time import of ``name``."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    skip, out = _type_checking_nodes(tree), []
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("acecost")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("acecost"):
                out.append((base, [a.name for a in node.names], node.lineno))
    return out


def _edges(name: str) -> set[str]:
    edges = set()
    for base, names, _ in _imports(name):
        subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
        edges |= set(subs)
        if len(subs) < len(names) or not names:
            edges.add(base)
    return {e for e in edges if e in MODULES and e != name}


def _circles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = {m: _edges(m) for m in MODULES}
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in graph:
        if m not in index:
            visit(m)
    return out


def test_no_import_circles():
    assert _circles() == []


def test_no_private_names_of_another_module():
    bad = []
    for name in MODULES:
        for base, names, line in _imports(name):
            bad += [f"{name}:{line} imports {base}.{n}" for n in names
                    if n.startswith("_") and not n.startswith("__")]
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        aliases = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                   for a in node.names
                   if (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("acecost")
                       and f"{node.module}.{a.name}" in MODULES) or (isinstance(node, ast.Import)
                                                                    and a.name.startswith("acecost") and a.asname)}
        bad += [f"{name}:{node.lineno} reads {node.value.id}.{node.attr}" for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr.startswith("_") and not node.attr.startswith("__")]
    assert bad == []


def test_no_bottom_of_file_imports():
    bad = [f"{name}:{i}" for name, path in MODULES.items()
           for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "E402" in line]
    assert bad == []


def test_at_most_eight_modules_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


@pytest.mark.parametrize("package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_every_folder_says_what_it_takes_and_gives(package):
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8")))
    assert doc and len(doc.split()) >= 12, f"{package}/__init__.py needs a docstring"


ROOT = PACKAGE.parent
#: text the project ships: code, docs, configuration, data
TEXT = (".py", ".md", ".toml", ".txt", ".json", ".csv", ".cfg", ".ini", ".yml", ".yaml", ".sh")
SKIPPED = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache"}


def _shipped_text() -> list[Path]:
    out = []
    for folder, dirs, files in os.walk(ROOT):  # pruned: never into a virtual environment or .git
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not d.endswith(".egg-info"))
        out += [Path(folder) / f for f in sorted(files) if Path(f).suffix in TEXT or f in ("Makefile", "run")]
    return out


def test_no_merge_conflict_markers():
    """A merge left half-resolved shows both sides of a README as one code block: no file keeps the
    markers a conflicted merge writes."""
    files = _shipped_text()
    assert any(p.name == "README.md" for p in files) and len(files) > 100  # the walk reaches the docs
    found = [f"{p.relative_to(ROOT)}:{i}" for p in files
             for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if line.startswith(("<<<<<<< ", ">>>>>>> "))]
    assert found == []
