"""pounce's modules import each other without a circle (issue 15, point 3).

The graph is read from the source, not from ``sys.modules``: every module-level import of a
pounce module is an edge, including those under a module-level ``if`` (``TYPE_CHECKING``
too: a circle of types is a circle of design) or ``try``. ``.py`` files are parsed with
``ast``; ``.pyx``/``.pxd`` files (with the ``.pxi`` they include) with a regex over their
``import``/``cimport`` lines. The links in ``pounce/_speedups`` (``_cycle.py``, ``_http1.py``,
``_scope.py``, ``_wssession.py``) are the one-source files themselves and are read once, where
they live.
A call ``import_compiled("pounce...")`` or ``import_module("pounce...")`` counts as an import.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(30)

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "pounce"
# Calls that import the module named by their first argument (pounce._compat.import_compiled,
# importlib.import_module).
IMPORTING_CALLS = frozenset({"import_compiled", "import_module"})
CYTHON_SUFFIXES = (".pyx", ".pxd")

# "from pounce.x import a, b" / "from .x cimport (a,\n b)" and "import pounce.x" / "cimport x"
_CY_FROM = re.compile(
    r"^[ \t]*from[ \t]+(?P<module>\.*[\w.]*)[ \t]+c?import[ \t]+(?P<names>\([^)]*\)|[^\n#]*)",
    re.MULTILINE,
)
_CY_IMPORT = re.compile(r"^[ \t]*c?import[ \t]+(?P<modules>[^\n#]+)", re.MULTILINE)
_CY_INCLUDE = re.compile(r"""^[ \t]*include[ \t]+["'](?P<file>[^"']+)["']""", re.MULTILINE)


@dataclass
class ImportGraph:
    """Module name -> the pounce modules it imports at module level, and the imports of pounce
    modules found inside a function (``"module:line -> target"``)."""

    edges: dict[str, set[str]] = field(default_factory=dict)
    in_function: list[str] = field(default_factory=list)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.suffix in (".py", *CYTHON_SUFFIXES) and not path.is_symlink():
            yield path


def resolve(current: str, is_package: bool, level: int, name: str) -> str:
    """The absolute name of ``name`` imported with ``level`` leading dots from ``current``."""
    if level == 0:
        return name
    package = current if is_package else current.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{name}" if name else package


def targets(modules: set[str], base: str, names: list[str]) -> set[str]:
    """The pounce modules ``from base import names`` loads: each name that is a submodule,
    else the nearest existing module at or above ``base``."""
    found = {f"{base}.{n}" for n in names if f"{base}.{n}" in modules}
    if len(found) < len(names):
        owner = base
        while owner and owner not in modules:
            owner = owner.rpartition(".")[0]
        if owner:
            found.add(owner)
    return {m for m in found if m == "pounce" or m.startswith("pounce.")}


class _PyImports(ast.NodeVisitor):
    def __init__(self, modules: set[str], name: str, is_package: bool) -> None:
        self.modules, self.name, self.is_package = modules, name, is_package
        self.depth = 0  # functions (and lambdas) enclosing the node being visited
        self.module_level: set[str] = set()
        self.in_function: list[str] = []

    def _add(self, found: set[str], line: int) -> None:
        if self.depth:
            self.in_function += [f"{self.name}:{line} -> {t}" for t in sorted(found)]
        else:
            self.module_level |= found

    def _enter_function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _enter_function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(targets(self.modules, alias.name, []), node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = resolve(self.name, self.is_package, node.level, node.module or "")
        self._add(targets(self.modules, base, [a.name for a in node.names]), node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if called in IMPORTING_CALLS and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                self._add(targets(self.modules, arg.value, []), node.lineno)
        self.generic_visit(node)


def _cython_text(path: Path) -> str:
    text = path.read_text()
    for include in _CY_INCLUDE.finditer(text):
        text += "\n" + (path.parent / include["file"]).read_text()
    return text


def _cython_imports(modules: set[str], name: str, path: Path) -> set[str]:
    text = _cython_text(path)
    found: set[str] = set()
    for match in _CY_FROM.finditer(text):
        dotted = match["module"]
        level = len(dotted) - len(dotted.lstrip("."))
        base = resolve(name, False, level, dotted.lstrip("."))
        names = [n.split(" as ")[0].strip() for n in match["names"].strip("()").split(",")]
        found |= targets(modules, base, [n for n in names if n])
    for match in _CY_IMPORT.finditer(text):
        for dotted in match["modules"].split(","):
            found |= targets(modules, dotted.split(" as ")[0].strip(), [])
    return found


@cache
def import_graph() -> ImportGraph:
    files = list(source_files())
    modules = {module_name(p) for p in files}
    graph = ImportGraph()
    for path in files:
        name = module_name(path)
        edges = graph.edges.setdefault(name, set())
        if path.suffix in CYTHON_SUFFIXES:
            edges |= _cython_imports(modules, name, path)
            continue
        visitor = _PyImports(modules, name, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(), str(path)))
        edges |= visitor.module_level
        graph.in_function += visitor.in_function
    for name, edges in graph.edges.items():
        edges.discard(name)  # a .pyx cimporting its own .pxd
    return graph


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    done: set[str] = set()
    for root in sorted(edges):
        if root in done:
            continue
        path = [root]
        on_path = {root}
        stack = [iter(sorted(edges.get(root, ())))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(sorted(edges.get(nxt, ()))))
    return None


def test_the_graph_is_read():
    # The test can only fail if it sees the imports: a few edges that must be there.
    edges = import_graph().edges
    assert "pounce.asgi._cycle" in edges["pounce.http1._protocol"]
    assert "pounce._compat" in edges["pounce.asgi.cycle"]
    assert "pounce._speedups._hpack" in edges["pounce._speedups._h2"]  # a cimport
    assert "pounce.header_flags" in edges["pounce._speedups._headers"]  # via the .pxi


def test_find_cycle_reports_the_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_circle():
    cycle = find_cycle(import_graph().edges)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_no_pounce_import_inside_a_function():
    # An import inside a function hides a circle from the graph (and from the reader).
    found = import_graph().in_function
    assert not found, "pounce imported inside a function: " + ", ".join(found)


def test_compat_is_a_leaf():
    # Each selector records in _compat what it loaded; _compat reads that record and imports
    # nothing of pounce, so anything may import it.
    graph = import_graph()
    assert graph.edges["pounce._compat"] == set()
    late = [i for i in graph.in_function if i.startswith("pounce._compat:")]
    assert not late, "pounce._compat imports pounce inside a function: " + ", ".join(late)
