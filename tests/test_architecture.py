"""The package's imports stay one-way: no circles, and no import from a lower layer to a higher one.

The layer order is read from docs/architecture.md, so the drawing a newcomer reads and the rule
this test enforces are one and the same. Every import counts, including those inside functions
(a lazy import is still a dependency) and a package's ``__init__`` counts as a module of its own.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "inquire"
DOC = ROOT / "docs" / "architecture.md"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports (``from x import y`` counts y when y is a module)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                subs = {f"{source}.{alias.name}" for alias in node.names} & modules.keys()
                targets |= subs
                if source in modules and (node.module or not subs):
                    targets.add(source)
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names} & modules.keys()
        graph[name] = {t for t in targets if t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def documented_layers() -> list[set[str]]:
    """The ``layers:`` line of docs/architecture.md: groups top to bottom, separated by ``>``."""
    match = re.search(r"^layers: (.+)$", DOC.read_text(), re.MULTILINE)
    assert match, "docs/architecture.md lost its 'layers: a > b, c > ...' line"
    return [{name.strip() for name in group.split(",")} for group in match.group(1).strip("` ").split(">")]


def area(module: str, named: set[str] = frozenset()) -> str:
    """The layer entry a module belongs to: ``inquire`` for the package root, its subpackage, a
    top-level module that the layers line ``named`` (``api``), or ``core`` for the other top-level modules."""
    parts = module.split(".")
    if len(parts) == 1:
        return parts[0]
    if len(parts) > 2 or (PACKAGE / parts[1]).is_dir() or parts[1] in named:
        return parts[1]
    return "core"


def test_the_package_has_no_import_circle():
    found = cycles(import_graph())
    assert not found, "import circles (each list imports itself round): " + "; ".join(" ⇄ ".join(c) for c in found)


def test_every_import_goes_down_the_documented_layers():
    layers = documented_layers()
    rank = {name: depth for depth, group in enumerate(layers) for name in group}
    graph = import_graph()
    named = set(rank)
    undocumented = sorted({area(m, named) for m in graph} - rank.keys())
    assert not undocumented, f"subpackages missing from the layers line of docs/architecture.md: {undocumented}"
    wrong = [
        f"{src} → {dst}"
        for src, targets in sorted(graph.items())
        for dst in sorted(targets)
        if area(src, named) != area(dst, named) and rank[area(dst, named)] <= rank[area(src, named)]
    ]
    assert not wrong, "imports that go up or sideways between layers: " + "; ".join(wrong)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_the_circle_finder_finds_circles(graph, expected):
    assert cycles(graph) == expected


def test_the_package_root_and_the_public_api_sit_on_top():
    named = set().union(*documented_layers())
    assert area("inquire", named) == "inquire" and area("inquire.api", named) == "api"
    assert area("inquire.errors", named) == "core" and area("inquire.tasks.rerank", named) == "tasks"
    # the root re-exports the API lazily: an edge like any other, and one that goes down
    assert "inquire.api" in import_graph()["inquire"]


def test_lazy_and_package_imports_are_edges():
    graph = import_graph()
    # an import inside a function is an edge like any other
    assert "inquire.models.open_clip_backend" in graph["inquire.models"]
    # "from . import x" inside a package's __init__ reaches the submodule
    assert "inquire.cli.rerank" in graph["inquire.cli"]
