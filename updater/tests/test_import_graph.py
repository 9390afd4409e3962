"""The house without circles: pi_ddns's import graph has no cycle.

Every import counts, wherever it is written: at the top, lazily inside a function, under
`if TYPE_CHECKING:`, `from pi_ddns import x`, relative (`from . import x`) and
`importlib.import_module("pi_ddns.x")`. Importing any `pi_ddns.x` also runs `pi_ddns/__init__`,
so that edge counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pi_ddns

SRC = Path(pi_ddns.__file__).parent


def graph(package: Path) -> dict[str, set[str]]:
    """module -> the modules of the package it imports ("__init__" for the package itself)."""
    pkg = package.name
    modules = {p.stem for p in package.glob("*.py")}

    def target(dotted: str) -> str | None:
        """The package module `dotted` (absolute) lands in, or None if outside the package."""
        if dotted != pkg and not dotted.startswith(pkg + "."):
            return None
        rest = dotted.removeprefix(pkg).removeprefix(".").split(".")[0]
        return rest if rest in modules else "__init__"

    edges: dict[str, set[str]] = {}
    for path in sorted(package.glob("*.py")):
        name = path.stem
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            dotted: list[str] = []
            if isinstance(node, ast.Import):
                dotted = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from .x import y
                    base = f"{pkg}.{base}" if base else pkg
                dotted = [base] + [f"{base}.{a.name}" for a in node.names]
            elif (isinstance(node, ast.Call) and node.args
                  and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)
                  and ((isinstance(node.func, ast.Attribute)
                        and node.func.attr == "import_module")
                       or (isinstance(node.func, ast.Name)
                           and node.func.id in ("import_module", "__import__")))):
                dotted = [node.args[0].value]
            for d in dotted:
                t = target(d)
                if t is not None:
                    found.add(t)
        if found and name != "__init__":
            found.add("__init__")  # importing pi_ddns.x runs pi_ddns/__init__.py first
        found.discard(name)
        edges[name] = found
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) through each strongly connected component."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                cycle = [*path[path.index(nxt):], nxt]
                if not any(set(cycle) <= set(c) for c in found):
                    found.append(cycle)
            elif nxt not in done:
                walk(nxt, [*path, nxt])
        done.add(node)

    for start in sorted(edges):
        if start not in done:
            walk(start, [start])
    return found


def test_pi_ddns_imports_no_cycle() -> None:
    edges = graph(SRC)
    assert {"cli", "config", "cfapi", "dnsquery", "update", "remove"} <= set(edges)
    assert cycles(edges) == [], " ; ".join(" -> ".join(c) for c in cycles(edges))


def test_the_leaves_stay_leaves() -> None:
    """errors and settings import nothing of pi_ddns; the HTTP client only errors and the
    version (it is the leaf the IP sources, the ping and the notifications share)."""
    edges = graph(SRC)
    assert edges["errors"] == set()
    assert edges["settings"] == set()
    assert edges["httpclient"] <= {"__init__", "errors"}


FORMS = {
    "top": "from pkg import b\n",
    "lazy": "def f():\n    from pkg import b\n",
    "type_checking": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from pkg.b import Thing\n",
    "relative": "from . import b\n",
    "relative_from": "from .b import Thing\n",
    "dotted": "import pkg.b\n",
    "import_module": "import importlib\nimportlib.import_module('pkg.b')\n",
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_cycle_through_any_import_form_is_found(tmp_path: Path, form: str) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(FORMS[form])
    (pkg / "b.py").write_text("def g():\n    from pkg.a import x\n")
    assert cycles(graph(pkg)) == [["a", "b", "a"]]
    (pkg / "b.py").write_text("import os\n")
    assert cycles(graph(pkg)) == []


def test_a_cycle_through_the_package_init_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from pkg.a import x\n")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("import os\n")
    assert cycles(graph(pkg)) == [["__init__", "a", "__init__"]]
