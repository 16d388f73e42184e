"""The package's layout stays true: imports point down the layers, no two modules import each other, no
file grows past 400 lines.

Every `ssl_ads/**.py` is parsed (not imported) and every import in it is read, at module level and inside
functions alike: a function-level import is still a dependency, only a later one. Imports under
`if TYPE_CHECKING:` never run, so they cannot form an import cycle, but they still name the layer a module
depends on, so the layer rule counts them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ssl_ads"

# Bottom to top: a module may import from its own layer and the layers below it, never from a layer above.
# One line per layer: why it sits where it does.
LAYERS: list[tuple[str, tuple[str, ...], str]] = [
    (
        "foundation",
        ("errors", "hardware", "extras", "results", "terminal", "progress"),
        "leaf modules every layer may use: error types, devices, optional extras, result records, terminal output",
    ),
    (
        "config",
        ("config", "sweep_storage"),
        "schemas and checks of the composed run config (and the sweeper's storage); knows no data, model or stage",
    ),
    ("data", ("data",), "sources, validation, the split, featurizers, caches and vocabulary ids: no model code"),
    ("encoders", ("encoders",), "models mapping featurized batches to representations, and their checkpoints"),
    ("objectives", ("pretext", "tasks"), "what is optimised on encoders: pretext losses, downstream tasks/metrics"),
    ("training", ("training", "baselines"), "Lightning modules and probes that fit them; non-neural baseline rows"),
    ("report", ("report",), "turns result rows and finished runs into tables, files, plots and tracked runs"),
    ("use", ("use",), "a trained encoder or model applied to new data: embed, predict, lookalike, drift"),
    (
        "evaluation",
        ("evaluation",),
        "the evaluation engine: one split, probe / fine-tune per task kind, rows, reports and the model bundles",
    ),
    ("benchmark", ("benchmark",), "suites of evaluation runs aggregated over seeds, checked against expectations"),
    ("stages", ("stages",), "wiring only: one function per CLI stage composing the layers below"),
    ("entry", ("cli", "__main__"), "the command line: parses argv, dispatches to a stage"),
    ("api", ("__init__",), "the public Python API (`ssl_ads.load_encoder`, ...), imported on call from `use`"),
]
# Names any module may import from the package root: metadata, not code (the root runs before any submodule).
ROOT_METADATA = {"__version__"}
MAX_LINES = 400


@dataclass(frozen=True)
class Import:
    source: str  # dotted module name of the importing file
    target: str  # dotted module name imported (the deepest ssl_ads module that exists)
    line: int
    type_only: bool  # under `if TYPE_CHECKING:`: never executed
    names: tuple[str, ...]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for index, (_, members, _) in enumerate(LAYERS):
        if top in members:
            return index
    raise AssertionError(f"{module}: package '{top}' is in no layer of LAYERS (tests/unit/test_layering.py)")


def _resolve(name: str) -> str:
    """The deepest existing module of a dotted name (`ssl_ads.x.Y` → `ssl_ads.x` when Y is a class)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return hidden


def imports_of(module: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    hidden = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(alias.name, (alias.name,)) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importing module's package upwards
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import submodule` imports the submodule; `from module import name` the module
            targets = [(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base, (alias.name,))
                       for alias in node.names]  # fmt: skip
        else:
            continue
        for name, names in targets:
            if name == "ssl_ads" or name.startswith("ssl_ads."):
                found.append(Import(module, _resolve(name), node.lineno, id(node) in hidden, names))
    return found


IMPORTS: list[Import] = [imp for module, path in MODULES.items() for imp in imports_of(module, path)]


def upward_imports(imports: list[Import]) -> list[str]:
    problems = []
    for imp in imports:
        if imp.target == "ssl_ads" and set(imp.names) <= ROOT_METADATA:
            continue
        low, high = layer_of(imp.source), layer_of(imp.target)
        if high > low:
            problems.append(
                f"{MODULES[imp.source].relative_to(PACKAGE.parent)}:{imp.line} imports {imp.target}"
                f"{' (type-only)' if imp.type_only else ''}: layer '{LAYERS[low][0]}' may not import from the "
                f"higher layer '{LAYERS[high][0]}' ({LAYERS[high][2]})"
            )
    return problems


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """Every strongly connected group of modules (Tarjan), each as one cycle through it: a → b → ... → a."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in imports:
        if not imp.type_only and imp.target != imp.source:
            graph[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the module count (~200)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_through(group, graph) for group in groups]


def _cycle_through(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group (breadth first)."""
    start, members = group[0], set(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, node, start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return group  # pragma: no cover - a strongly connected group always has a cycle


def test_every_package_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_imports_point_down_the_layers():
    problems = upward_imports(IMPORTS)
    assert not problems, "imports that point up:\n" + "\n".join(problems)


def describe_cycle(cycle: list[str], imports: list[Import]) -> str:
    """`a → b → a`, then where each step is imported (file:line), so the fix can start at the right line."""
    steps = []
    for source, target in pairwise(cycle):
        line = min(i.line for i in imports if i.source == source and i.target == target and not i.type_only)
        steps.append(f"  {MODULES[source].relative_to(PACKAGE.parent)}:{line} imports {target}")
    return " → ".join(cycle) + "\n" + "\n".join(steps)


def test_no_import_cycles():
    cycles = import_cycles(IMPORTS)
    assert not cycles, "import cycles (module-level or function-level imports):\n" + "\n".join(
        describe_cycle(c, IMPORTS) for c in cycles
    )


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_file_over_400_lines(path: Path):
    lines = len(path.read_text().splitlines())
    name = path.relative_to(PACKAGE.parent)
    assert lines <= MAX_LINES, f"{name} has {lines} lines (> {MAX_LINES}): split it along an idea"


def test_the_checks_catch_what_they_claim():
    """The rules fail on a made-up upward import and a made-up cycle (so a passing run means something)."""
    up = Import("ssl_ads.data.split", "ssl_ads.stages.dispatch", 1, False, ("run_pipeline",))
    (problem,) = upward_imports([up])
    assert "ssl_ads/data/split.py:1 imports ssl_ads.stages.dispatch" in problem
    assert "layer 'data' may not import from the higher layer 'stages'" in problem
    back = Import("ssl_ads.errors", "ssl_ads.results", 1, False, ("ResultRow",))
    forth = Import("ssl_ads.results", "ssl_ads.errors", 1, False, ("DataError",))
    assert import_cycles([back, forth]) == [["ssl_ads.errors", "ssl_ads.results", "ssl_ads.errors"]]
    assert import_cycles([back, Import("ssl_ads.results", "ssl_ads.errors", 1, True, ("DataError",))]) == []
    assert upward_imports([Import("ssl_ads.cli", "ssl_ads", 1, False, ("__version__",))]) == []
