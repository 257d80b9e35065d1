"""Structure rules checked from the source (AST): no import cycles inside neuromap / networks, no
module imports another module's private (``_name``) names, the library does not import the zoo,
``hardware/`` holds data only, and no target-kind or neuron-kind name is branched on outside its own
module and the registries."""

from __future__ import annotations

import ast
import pathlib
import re
import sys

import networkx as nx

from tests.support import ROOT

PACKAGES = {"neuromap": ROOT / "neuromap", "neuromap.networks": ROOT / "networks"}
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
    monkeypatch.setattr(sys.modules[__name__], "PACKAGES", {"neuromap": pkg})
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
    monkeypatch.setattr(sys.modules[__name__], "PACKAGES", {"neuromap": pkg})
    assert _zoo_imports(_modules()) == ["neuromap.graph.a imports neuromap.networks",
                                        "neuromap.graph.a imports neuromap.networks.egru",
                                        "neuromap.graph.b imports neuromap.networks",
                                        "neuromap.graph.c imports neuromap.networks.lmu"]


_PATH_EDIT = re.compile(r"\bsys\.path\s*(\.\s*(insert|append|extend)\b|\[[^]]*\]\s*=|[+]=)")


def _path_edits(folder: pathlib.Path) -> list[str]:
    """``file:line`` of every ``sys.path`` edit in the Python files under ``folder`` (virtualenvs and
    build folders left out)."""
    skip = {".venv", "build", "_build", ".git", "node_modules"}
    hits = []
    for f in sorted(folder.rglob("*.py")):
        if skip & set(f.relative_to(folder).parts):
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if _PATH_EDIT.search(line):
                hits.append(f"{f.relative_to(folder)}:{n}")
    return hits


def test_nothing_edits_sys_path():
    """Experiments, tools and benchmarks run as ``python -m PACKAGE.NAME`` from the root and tests
    import them as packages: no script or test puts a folder on ``sys.path`` itself."""
    assert _path_edits(ROOT) == []


def test_the_sys_path_check_finds_an_edit(tmp_path):
    (tmp_path / "a.py").write_text("import sys\nsys.path.insert(0, 'x')\n")
    (tmp_path / "b.py").write_text("import sys\nsys.path += ['y']\nprint(sys.path[0])\n")
    assert _path_edits(tmp_path) == ["a.py:2", "b.py:2"]


def test_hardware_holds_the_target_files_only():
    """``hardware/`` is data (the shipped TOMLs, package data of ``neuromap.hardware``); the loader,
    schema and kinds are code in ``neuromap/targets/``."""
    files = sorted(p.name for p in (ROOT / "hardware").iterdir() if p.name != "__pycache__")
    assert files and all(f.endswith(".toml") for f in files), files


# --- no kind name in a branch outside its own module and the registries ----------------------------
# A projection kind that shares a neuron kind's name ("identity": one-to-one synapses) is not a
# neuron kind: comparisons of a projection's ``kind`` (variables named like these, or ``self`` inside
# netlist.Projection) are projection-kind branches.
PROJECTION_SUBJECTS = {"proj", "pr", "plan", "projection"}
REGISTRIES = {"neuromap/neurons/registry.py", "neuromap/targets/kind.py", "neuromap/backends/__init__.py"}


def _kind_names() -> tuple[dict[str, str], set[str]]:
    """``{kind name: its own module}`` for target and neuron kinds, and the projection kinds."""
    import neuromap.networks  # noqa: F401  (a zoo module that registered a neuron kind would count)
    from neuromap import targets
    from neuromap.netlist import PROJECTION_KINDS
    from neuromap.neurons import registry

    own = {k: f"neuromap/targets/{k}.py" for k in targets.kinds()}
    for kind in registry.kinds():  # a kind with its own nn.Module registers in that module (alif.py)
        module_type = registry.get(kind).module_type
        own[kind] = (module_type.__module__ if module_type else "neuromap.neurons.registry").replace(".", "/") + ".py"
    return own, set(PROJECTION_KINDS)


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [c for e in node.elts for c in _strings(e)]
    return []


def _kind_subject(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr in ("kind", "target_kind")) or \
        (isinstance(node, ast.Name) and node.id == "kind")


def _is_projection(node: ast.AST, in_projection_class: bool) -> bool:
    base = node.value if isinstance(node, ast.Attribute) else None
    name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", None)
    return name in PROJECTION_SUBJECTS or (name == "self" and in_projection_class)


def kind_branches(files: dict[str, str]) -> list[str]:
    """``path:line: what`` for every comparison of a ``kind`` with a kind name, dict keyed by two or
    more kind names, or ``case`` on a kind name, outside the name's own module and the registries."""
    own, projection_kinds = _kind_names()
    hits = []
    for path, text in files.items():
        tree = ast.parse(text)
        projection_lines = {ln for c in ast.walk(tree) if isinstance(c, ast.ClassDef) and c.name == "Projection"
                            for ln in range(c.lineno, c.end_lineno + 1)}
        for n in ast.walk(tree):
            found: list[str] = []
            if isinstance(n, ast.Compare):
                ops = [n.left, *n.comparators]
                subjects = [o for o in ops if _kind_subject(o)]
                if subjects:
                    proj = all(_is_projection(o, n.lineno in projection_lines) for o in subjects)
                    found = [c for o in ops for c in _strings(o)
                             if c in own and not (proj and c in projection_kinds)]
            elif isinstance(n, ast.Dict):
                keys = [c for k in n.keys if k is not None for c in _strings(k) if c in own]
                found = keys if len(keys) >= 2 else []
            elif isinstance(n, ast.MatchValue):
                found = [c for c in _strings(n.value) if c in own]
            found = [c for c in found if path not in REGISTRIES and path != own[c]]
            hits += [f"{path}:{n.lineno}: {c!r}" for c in found]
    return sorted(set(hits))


def _library_sources() -> dict[str, str]:
    out = {}
    for folder in ("neuromap", "networks"):
        for f in (ROOT / folder).rglob("*.py"):
            out[str(f.relative_to(ROOT))] = f.read_text()
    return out


def test_no_kind_name_is_branched_on_outside_its_module_and_the_registries():
    assert kind_branches(_library_sources()) == []


def test_the_kind_branch_check_finds_comparisons_tables_and_matches():
    src = ("def f(pop, tgt, proj, kind):\n"
           "    if pop.kind == 'lif' or tgt.kind in ('digital', 'sfq'):\n        pass\n"
           "    if proj.kind == 'identity' or kind != 'cuba':\n        pass\n"
           "    table = {'lif': 7, 'cuba': 9}\n"
           "    match tgt.kind:\n        case 'crossbar':\n            pass\n")
    hits = kind_branches({"neuromap/x.py": src})
    assert hits == ["neuromap/x.py:2: 'digital'", "neuromap/x.py:2: 'lif'", "neuromap/x.py:2: 'sfq'",
                    "neuromap/x.py:4: 'cuba'", "neuromap/x.py:6: 'cuba'", "neuromap/x.py:6: 'lif'",
                    "neuromap/x.py:8: 'crossbar'"]
    assert kind_branches({"neuromap/targets/digital.py": "def f(t):\n    return t.kind == 'digital'\n"}) == []


def test_backends_devices_and_target_kinds_do_not_import_energy():
    """Backends, device models and target kinds sit below the reports: the shared term arithmetic is
    ``neuromap.estimate``; a backend says how its run is priced (``estimate_options``) instead of
    pricing it."""
    graph, _, _ = _analyse()
    low = [m for m in graph if m.split(".")[:2] in (["neuromap", "backends"], ["neuromap", "devices"],
                                                    ["neuromap", "targets"])]
    assert len(low) > 10
    bad = sorted(f"{m} imports {t}" for m in low for t in graph.successors(m)
                 if t == "neuromap.energy" or t.startswith("neuromap.energy."))
    assert bad == []
