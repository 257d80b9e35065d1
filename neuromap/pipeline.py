"""The hardware pipeline, once: ``Graph -> Netlist -> Mapping`` for every hardware backend and the report.

    lowered = pipeline.prepare(graph, "spinnaker2")            # lower + partition (or check a mapping)
    lowered.netlist, lowered.mapping, lowered.outputs          # what a hardware backend compiles from

Hardware backends (``loihi``, ``lava``, ``spinnaker2``) compile from a :class:`Lowered` (netlist,
mapping, target, and what the graph says about outputs and delays); graph executors (``torch``,
``crossbar``) run the Graph itself. The run's mapping travels with its result to the report
(:func:`run_mappings`), which therefore never partitions a second time for that target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neuromap.errors import InputError
from neuromap.netlist import Netlist


@dataclass
class Lowered:
    """A graph through the pipeline for one target.

    Attributes:
        netlist: the graph's populations and projections (:meth:`Graph.lower`).
        target: the loaded :class:`neuromap.targets.Target`.
        mapping: the :class:`neuromap.partition.Mapping` of ``netlist`` on ``target``.
        outputs: graph output name -> ``(population, per-sample shape)`` it reads.
        delayed: projections that read their source's previous step (a delayed graph edge on the path).
        graph: the Graph it came from (None for a netlist built by hand).
    """

    netlist: Netlist
    target: Any
    mapping: Any
    outputs: dict[str, tuple[str, tuple[int, ...]]]
    delayed: set[str] = field(default_factory=set)
    graph: Any = None


def output_populations(graph, netlist: Netlist) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Graph output -> ``(population, output shape)``: the population each output reads, found by
    walking back through synaptic / layout nodes with one predecessor each (an ``identity``
    population stands for an output fed by synapses directly)."""
    pops = {p.name for p in netlist.populations}
    out = {}
    for o in graph.outputs:
        n = o
        while n not in pops:
            preds = graph.predecessors(n)
            if len(preds) != 1:
                raise InputError(f"output {o!r}: cannot trace it to one population (predecessors {preds})")
            n = preds[0]
        out[o] = (n, tuple(int(s) for s in graph.shapes[o][1]))
    return out


def netlist_outputs(netlist: Netlist) -> dict[str, tuple[str, tuple[int, ...]]]:
    """For a netlist built without a graph: every non-input population without outgoing projections."""
    return {p.name: (p.name, p.shape) for p in netlist.populations
            if not p.is_input and not any(True for _ in netlist.outgoing(p.name))}


def delayed_projections(graph, netlist: Netlist) -> set[str]:
    """Projections whose graph path crosses a delayed edge (they read the previous step)."""
    delayed = graph.delayed_edges()
    out = set()
    for p in netlist.projections:
        path = [p.src, *p.meta.get("path", []), p.dst]
        if any((a, b) in delayed for a, b in zip(path[:-1], path[1:])):
            out.add(p.name)
    return out


def check_mapping(mapping, netlist: Netlist, target) -> None:
    """Refuse a mapping made for another target or another netlist (names what differs)."""
    if getattr(mapping, "target", None) != target.name:
        raise InputError(f"the mapping was made for target {getattr(mapping, 'target', None)!r}, not {target.name!r}; "
                         f"partition the netlist for {target.name!r} (neuromap.partition.partition)")
    covered = {s["pop"] for s in mapping.slices}
    missing = [p.name for p in netlist.populations if p.name not in covered]
    if missing:
        raise InputError(f"the mapping has no slices for populations {missing[:5]}: it was made for another netlist")


def map_netlist(netlist: Netlist, target, mapping=None, **partition_kw) -> Any:
    """``mapping`` checked against ``netlist`` and ``target``, or a new partition (``partition_kw``:
    :func:`neuromap.partition.partition`'s options: method, activity, seed, weight_bits, memory)."""
    if mapping is not None:
        check_mapping(mapping, netlist, target)
        return mapping
    from neuromap.partition import partition

    return partition(netlist, target, **partition_kw)


def prepare(graph, target, mapping=None, **partition_kw) -> Lowered:
    """Lower ``graph`` and map it onto ``target`` (a name, TOML path or Target): the one place where
    a graph becomes what hardware backends compile."""
    from neuromap import targets

    tgt = targets.load(target)
    net = graph.lower()
    return Lowered(net, tgt, map_netlist(net, tgt, mapping, **partition_kw), output_populations(graph, net),
                   delayed_projections(graph, net), graph)


def prepare_netlist(netlist: Netlist, target, mapping=None, **partition_kw) -> Lowered:
    """As :func:`prepare` for a netlist built without a graph (an LSM reservoir's)."""
    from neuromap import targets

    tgt = targets.load(target)
    return Lowered(netlist, tgt, map_netlist(netlist, tgt, mapping, **partition_kw), netlist_outputs(netlist))


ALL_TARGETS = "all"


def _unique_targets(targets: list) -> list:
    """Targets in order, each once; two different files with one ``name`` are an error (their rows
    would collapse into one, the last silently winning)."""
    seen: dict[str, Any] = {}
    for t in targets:
        if t.name in seen and seen[t.name].path != t.path:
            raise InputError(f"targets {seen[t.name].path} and {t.path} both have name = {t.name!r}; "
                             "give each copied target file its own name")
        seen.setdefault(t.name, t)
    return list(seen.values())


def map_targets(netlist: Netlist, names, mappings: dict | None = None, method: str = "metis",
                activities: dict | None = None, activity: Any = None) -> list[tuple[Any, Any]]:
    """``[(target, mapping or None)]`` for a report: each of ``names`` (``"all"``: every shipped
    target) loaded once, with the run's mapping from ``mappings`` where there is one (checked), else
    one partition (``method``, the target's activity for its traffic) for kinds whose cost model
    reads a mapping, else None."""
    from neuromap import targets

    names = [names] if isinstance(names, str) else list(names)
    if ALL_TARGETS in names:
        names = targets.available()
    out = []
    for tgt in _unique_targets([targets.load(n) for n in names]):
        mapping = (mappings or {}).get(tgt.name)
        if mapping is not None or targets.kind_of(tgt).partitions:
            act = (activities or {}).get(tgt.name, activity)
            mapping = map_netlist(netlist, tgt, mapping, method=method, activity=act)
        out.append((tgt, mapping))
    return out


def run_mappings(compiled: Any, result: Any = None) -> dict[str, Any] | None:
    """``{target name: the Mapping the run used}`` for the report (None for graph executors)."""
    mapping = getattr(result, "mapping", None) or getattr(compiled, "mapping", None)
    return {mapping.target: mapping} if mapping is not None else None
