"""Structure rules checked from the source (AST): no import cycles inside neuromap / networks /
hardware, and no module imports another module's private (``_name``) names."""

from __future__ import annotations

import ast
import pathlib

import networkx as nx

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = {"neuromap": ROOT / "neuromap", "neuromap.networks": ROOT / "networks", "neuromap.hardware": ROOT / "hardware"}
# The CLI package and the energy.cli cycle are being moved by another change (issue 16); delete
# this entry once neuromap/cli/ is merged.
KNOWN_CYCLES: set[frozenset[str]] = set()  # none: keep it that way


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for pkg, folder in PACKAGES.items():
        for f in folder.rglob("*.py"):
            parts = list(f.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([pkg, *parts])] = f
    return out


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = module.split(".")[: None if is_package else -1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _imports(tree: ast.AST):
    """Every import statement, at module level, inside functions and in ``if TYPE_CHECKING:`` blocks
    (a type-only import that closes a cycle still ties the two modules together)."""
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def _analyse():
    mods = _modules()
    graph, private = nx.DiGraph(), []
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                graph.add_edges_from((mod, a.name) for a in node.names if a.name in mods)
                continue
            target = _absolute(mod, path.name == "__init__.py", node.level, node.module)
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if full in mods:
                    graph.add_edge(mod, full)
                elif target in mods:
                    graph.add_edge(mod, target)
                    if alias.name.startswith("_") and not alias.name.endswith("__") and target != mod:
                        private.append(f"{mod} imports {alias.name} from {target}")
    cycles = {frozenset(c) for c in nx.strongly_connected_components(graph) if len(c) > 1}
    return graph, cycles, private


def test_no_import_cycles():
    graph, cycles, _ = _analyse()
    assert len(graph) > 50  # the analysis sees the package
    assert cycles - KNOWN_CYCLES == set(), [sorted(c) for c in cycles - KNOWN_CYCLES]


def test_no_private_imports_across_modules():
    _, _, private = _analyse()
    assert private == []


def test_the_analysis_finds_a_cycle_and_a_private_import(tmp_path, monkeypatch):
    pkg = tmp_path / "neuromap"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import _hidden\n")
    (pkg / "b.py").write_text("def f():\n    from neuromap import a\n_hidden = 1\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGES", {"neuromap": pkg})
    _, cycles, private = _analyse()
    assert cycles == {frozenset({"neuromap.a", "neuromap.b"})}
    assert private == ["neuromap.a imports _hidden from neuromap.b"]


def _zoo_imports(mods: dict[str, pathlib.Path]) -> list[str]:
    """``module imports target`` for every import of the zoo (``neuromap.networks``, or ``networks``
    as installed from the source tree) by a module outside it, at module level or inside functions."""
    zoo = ("neuromap.networks", "networks")
    hits = []
    for mod, path in mods.items():
        if mod == "neuromap.networks" or mod.startswith("neuromap.networks."):
            continue
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = _absolute(mod, path.name == "__init__.py", node.level, node.module)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            hits += [f"{mod} imports {t}" for t in targets if any(t == z or t.startswith(z + ".") for z in zoo)]
    return sorted(set(hits))


def test_library_does_not_import_the_zoo():
    """The zoo registers its tracer handlers itself (``@register_handler``); nothing under neuromap/
    (graph, backends, ...) may import ``neuromap.networks``, not even lazily inside a function."""
    mods = {m: p for m, p in _modules().items() if m.split(".")[:2] != ["neuromap", "hardware"]}
    assert any(m.startswith("neuromap.graph") for m in mods)
    assert _zoo_imports(mods) == []


def test_the_zoo_import_check_finds_a_lazy_import(tmp_path, monkeypatch):
    pkg = tmp_path / "neuromap"
    (pkg / "graph").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "graph" / "__init__.py").write_text("")
    (pkg / "graph" / "a.py").write_text("def f():\n    from neuromap.networks import egru\n")
    (pkg / "graph" / "b.py").write_text("from .. import networks\n")
    (pkg / "graph" / "c.py").write_text("import neuromap.networks.lmu as lmu\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGES", {"neuromap": pkg})
    assert _zoo_imports(_modules()) == ["neuromap.graph.a imports neuromap.networks",
                                        "neuromap.graph.a imports neuromap.networks.egru",
                                        "neuromap.graph.b imports neuromap.networks",
                                        "neuromap.graph.c imports neuromap.networks.lmu"]
