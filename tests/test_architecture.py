"""The import graph follows the layers: no module imports from a layer above it.

  cli -> cli_selection -> cli_args -> rehearsal -> experiments / analysis -> selection -> evaluation / training -> jobs
      -> data -> tasks -> modeling -> families -> results / rankings / ledger / integrity
      -> languages / defaults / atomic / paths / hub_access / registry -> benchmarks -> errors

(evaluation and training are side by side: neither imports the other). `families` is the family table and the pure
per-family pieces it holds (examples, featurizers, heads, decoders, submission files, metrics): tasks validate
`family:` against it and the model builds heads from it. `analysis` reads results only: it may import
the bottom layer, the results table, the ranking files and the run ledger, nothing that runs. Function-level imports count as much as
module-level ones, since a lazy import only hides a cycle; and no part imports itself through others (no circle).
Read from the source with `ast`, so nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "xstilts"

# Layer of each top-level part of the package (a subpackage or a module); higher layers may import lower ones.
LAYERS: dict[str, int] = {
    "errors": 0,
    "benchmarks": 1,  # the benchmark files (tasks, languages, groups, average): languages.py's XTREME tables view them
    "__init__": 2,
    "defaults": 2,
    "languages": 2,
    "atomic": 2,
    "paths": 2,  # the toolkit's home folder, what makes a folder a phase checkpoint
    "diversity": 2,  # how diverse a set of tasks is (numpy only): the mixture generator and the report share it
    "hub_access": 2,  # whether the hub is reachable (probed once per process) or offline
    "registry": 2,  # Registry[T]: the one idiom of the named extension tables (selection methods, executors)
    "integrity": 3,  # checksummed completion records (phases and evaluation nodes write them), written atomically
    "results": 3,  # results.csv, rewritten atomically
    "ledger": 3,  # ledger.jsonl (one record per finished node) and events.jsonl: written by the driver, read by analysis
    "rankings": 3,  # the ranking files `xstilts select` writes (read by selection/prune and analysis)
    "families": 4,  # the family table (FamilyOps per family) and the per-family pieces it holds
    "modeling": 5,  # builds each head from the family table
    "tasks": 6,  # validates `family:` and `metric:` against the family table
    "data": 7,
    "jobs": 8,  # what a node computes, as data (torch-free): the plan builds jobs, training and evaluation run them
    "evaluation": 9,
    "training": 9,
    "alignment": 10,  # cross-lingual alignment phases (above training: a target phase gets its hooks injected)
    "selection": 10,
    "experiments": 11,
    "analysis": 11,
    "rehearsal": 12,  # `xstilts rehearse`: drives experiments and the report on toy data
    "cli_args": 13,  # command-line value parsing shared by the command modules
    "cli_selection": 14,  # the `select` and `select-eval` commands (cli registers them)
    "cli": 15,
}
BOTTOM = 2  # errors, the benchmark files and the tables everything may use
# analysis reads results.csv: besides the bottom layer it may use only the results table and the ranking files.
ANALYSIS_MAY_IMPORT = {"xstilts.results", "xstilts.rankings", "xstilts.ledger"}

# Edges that break the rule today, each with the change that removes it. The second test fails once an edge is gone,
# so this list cannot go stale.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    """'xstilts.data.hub' -> 'data'; 'xstilts' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def import_edges() -> set[tuple[str, str]]:
    """(importer, imported) for every import of an xstilts module anywhere in the package, lazy ones included."""
    edges = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module_name(path)
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from xstilts.data import mappers` imports the module xstilts.data.mappers
                names = [f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base for alias in node.names]
            else:
                continue
            edges.update((importer, name) for name in names if name == "xstilts" or name.startswith("xstilts."))
    return {(a, b) for a, b in edges if a != b}


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def violations() -> set[tuple[str, str]]:
    bad = set()
    for importer, imported in import_edges():
        src, dst = _part(importer), _part(imported)
        if src == dst:
            continue
        assert src in LAYERS, f"{importer}: add '{src}' to LAYERS"
        assert dst in LAYERS, f"{imported}: add '{dst}' to LAYERS"
        if src == "analysis":
            ok = LAYERS[dst] <= BOTTOM or imported in ANALYSIS_MAY_IMPORT
        else:
            ok = LAYERS[dst] < LAYERS[src]
        if not ok:
            bad.add((importer, imported))
    return bad


def test_no_module_imports_from_a_layer_above_it():
    unexpected = violations() - set(KNOWN_EXCEPTIONS)
    assert not unexpected, "imports against the layers:\n" + "\n".join(f"  {a} -> {b}" for a, b in sorted(unexpected))


def test_known_exceptions_still_exist():
    """When an exception is fixed, delete its entry from KNOWN_EXCEPTIONS."""
    fixed = set(KNOWN_EXCEPTIONS) - violations()
    assert not fixed, "fixed, remove from KNOWN_EXCEPTIONS: " + ", ".join(f"{a} -> {b}" for a, b in sorted(fixed))


def test_the_graph_reader_sees_lazy_and_package_imports():
    edges = import_edges()
    assert ("xstilts.data", "xstilts.data.mappers") in edges  # `from xstilts.data import mappers` in __init__
    assert ("xstilts.cli", "xstilts.experiments.run") in edges  # imported inside the command functions
    assert ("xstilts.data.load", "xstilts.data.hub") in edges  # a module-level `from ... import name`


def circles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (each holds a circle of imports)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_circle_between_the_parts():
    """No part of the package (a subpackage or a top-level module, as LAYERS names them) imports itself through
    others, lazy imports included: cli <-> cli_selection was one, through a private helper now in cli_args."""
    assert circles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [["a", "b", "c"]]  # the finder finds one
    parts = {(_part(a), _part(b)) for a, b in import_edges() if _part(a) != _part(b)}
    found = circles(parts)
    assert not found, "import circles:\n" + "\n".join("  " + " <-> ".join(group) for group in found)
    assert ("cli", "cli_selection") in parts and ("cli_selection", "cli") not in parts


def test_every_layer_names_a_part_that_exists():
    """No stale entry: each LAYERS key and each ANALYSIS_MAY_IMPORT module is in the package."""
    parts = {_part(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert not set(LAYERS) - parts, f"LAYERS names parts that do not exist: {sorted(set(LAYERS) - parts)}"
    stale = sorted(m for m in ANALYSIS_MAY_IMPORT if not _is_module(m))
    assert not stale, f"ANALYSIS_MAY_IMPORT names modules that do not exist: {stale}"
