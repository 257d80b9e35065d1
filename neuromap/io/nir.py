"""Save and load graphs as NIR HDF5 files.

``save`` writes with ``nir.write`` itself, so a graph of standard nodes is an ordinary NIR file
(``nir.read`` and other NIR tools load it) and neuromap's exact neuron parameters travel in node
metadata (see :mod:`neuromap.graph.neuron`). Extension nodes use the same layout with a
``"neuromap.<Class>"`` type. Graph metadata travels as the root's metadata group; the explicit
delayed-edge set (``metadata["delayed_edges"]``, a JSON string of ``[src, dst]`` pairs, see
:mod:`neuromap.graph.graph`) is one string in it, read back verbatim and validated by ``load``
(a malformed list, or one naming a missing edge or leaving a cycle undelayed, is a ``GraphError``).
Files without it keep the inferred rule. The write is atomic (:mod:`neuromap.atomic`), so a crash,
a full disk or Ctrl-C never leaves a half-written file.

``load`` opens the file read-only, parses every node itself (clear errors naming the node for
truncated, malformed or unknown content) and never modifies the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np
from nir.serialization import hdf2dict

from neuromap.atomic import atomic_path
from neuromap.graph.errors import GraphError, UnsupportedNodeError
from neuromap.graph.graph import Graph
from neuromap.graph.nodes import EXTENSION_NODES, PREFIX, STANDARD_NODES, load_plugins

from .nir_import import from_nir

_SCALARS = (str, bool, int, float, np.integer, np.floating, np.bool_)


def _check_writable(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check_writable(v, f"{where}.{k}")
    elif isinstance(value, np.ndarray):
        if value.ndim == 0 or value.dtype.kind not in "biufcSU":
            raise GraphError(f"{where}: cannot store a {value.dtype} array of shape {value.shape} in HDF5 metadata")
    elif isinstance(value, str) and "\x00" in value:
        raise GraphError(f"{where}: HDF5 cannot store a string with a NUL character ({value!r})")
    elif not isinstance(value, _SCALARS):
        raise GraphError(f"{where}: cannot store a value of type {type(value).__name__} in HDF5 metadata")


def save(graph: Graph, path: str | os.PathLike) -> Path:
    """Write ``graph`` to ``path`` (NIR HDF5) atomically; returns the path."""
    if not isinstance(graph, Graph):
        raise TypeError(f"save() needs a neuromap Graph, got {type(graph).__name__}")
    path = Path(path)
    _check_writable(graph.metadata, "graph metadata")
    for name, node in graph.nodes.items():
        _check_writable(node.metadata, f"node {name!r} metadata")
    nir_graph = graph.to_nir()
    with atomic_path(path) as tmp:
        nir.write(str(tmp), nir_graph)
    return path


def _str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _str(value.reshape(-1)[0])
    if isinstance(value, str):
        return value
    raise GraphError(f"expected a string, got {type(value).__name__}")


def _parse_edges(raw: Any, where: str) -> list[tuple[str, str]]:
    arr = np.asarray(raw)
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise GraphError(f"{where}: edges must be an (n, 2) array of node names, got shape {arr.shape}")
    try:
        return [(_str(a), _str(b)) for a, b in arr]
    except GraphError as exc:
        raise GraphError(f"{where}: edges must be node names ({exc})") from exc


def parse_node(name: str, d: Any) -> nir.NIRNode:
    """One node from its HDF5 dictionary (``hdf2dict`` form); raises :class:`GraphError` naming it."""
    if not isinstance(d, dict) or "type" not in d:
        raise GraphError(f"node {name!r}: no 'type' entry (truncated or not a NIR node)")
    kind = _str(d["type"])
    if kind == "NIRGraph":
        if "nodes" not in d or "edges" not in d or not isinstance(d["nodes"], dict):
            raise GraphError(f"subgraph {name!r}: needs 'nodes' and 'edges'")
        nodes = {str(k): parse_node(str(k) if name == "<root>" else f"{name}.{k}", v) for k, v in d["nodes"].items()}
        meta = d.get("metadata", {})
        return nir.NIRGraph(nodes=nodes, edges=_parse_edges(d["edges"], f"subgraph {name!r}"),
                            metadata=meta if isinstance(meta, dict) else {}, type_check=False)
    if kind.startswith(PREFIX):
        if kind not in EXTENSION_NODES:
            load_plugins()  # a node of a package not imported yet (e.g. the model zoo)
        cls = EXTENSION_NODES.get(kind)
    else:
        cls = STANDARD_NODES.get(kind)
    if cls is None:
        raise UnsupportedNodeError(
            f"node {name!r} has unknown type {kind!r}; known: {sorted(STANDARD_NODES) + sorted(EXTENSION_NODES)}"
        )
    kwargs = dict(d)
    kwargs["type"] = kind
    if "metadata" in kwargs and not isinstance(kwargs["metadata"], dict):
        raise GraphError(f"node {name!r} ({kind}): metadata must be a group")
    try:
        if kind.startswith(PREFIX):
            return cls.from_dict(kwargs)
        return nir.dict2NIRNode(kwargs)
    except Exception as exc:  # NIR's constructors raise Assertion/Type/Key/Index/ValueErrors
        raise GraphError(f"node {name!r} ({kind}): malformed node data: {type(exc).__name__}: {exc}") from exc


READ_TIMEOUT_ENV = "NEUROMAP_READ_TIMEOUT"
DEFAULT_READ_TIMEOUT_S = 300.0


def declared_bytes(group: h5py.Group) -> int:
    """Bytes the datasets under ``group`` declare (shape x item size), whatever their storage: a few
    kB of gzip-compressed zeros can declare gigabytes."""
    total = 0

    def add(name: str, obj) -> None:
        nonlocal total
        if isinstance(obj, h5py.Dataset):
            total += int(np.prod(obj.shape, dtype=object) if obj.shape else 1) * max(obj.dtype.itemsize, 1)

    group.visititems(add)
    return total


def _read_node_dict(path: Path) -> dict:
    """The file's ``node`` group as a dictionary (``hdf2dict``); errors as :class:`GraphError`, and a
    file whose datasets declare more than the memory budget (:mod:`neuromap.memory`) as a
    :class:`~neuromap.memory.MemoryBudgetError`, before anything is read."""
    from neuromap import memory

    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise GraphError(f"{path}: not a NIR file (no 'node' group)")
            declared = declared_bytes(f["node"])  # read here, then copied to the caller: twice that
            memory.check(2 * declared, f"{path} (it declares {memory.format_size(declared)} of arrays, read and "
                                       "copied once)")
            return hdf2dict(f["node"])
    except (GraphError, memory.MemoryBudgetError):
        raise
    except Exception as exc:  # h5py raises OSError / KeyError / RuntimeError on damaged files
        raise GraphError(f"{path}: cannot read as NIR/HDF5 (truncated or corrupt?): {type(exc).__name__}: {exc}") from exc


def _child_read(path: Path, conn) -> None:
    """The reader process: the node dictionary, or one line saying why not (never a traceback)."""
    from neuromap.memory import MemoryBudgetError

    try:
        conn.send(("ok", _read_node_dict(path)))
    except MemoryBudgetError as exc:
        conn.send(("budget", str(exc)))
    except GraphError as exc:
        conn.send(("error", str(exc)))
    except MemoryError:
        conn.send(("error", f"{path}: ran out of memory while reading it (its arrays declare "
                            f"{_declared_text(path)}); raise the memory available, or check the file"))
    except Exception as exc:  # noqa: BLE001 - reported in the parent as a GraphError naming the file
        conn.send(("error", f"{path}: cannot read it: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _declared_text(path: Path) -> str:
    from neuromap.memory import format_size

    try:
        with h5py.File(path, "r") as f:
            return format_size(declared_bytes(f["node"]))
    except Exception:  # noqa: BLE001 - only for a message
        return "an unknown size"


def read_timeout() -> float:
    """Seconds a file may take to parse (``$NEUROMAP_READ_TIMEOUT``, default 300 s)."""
    raw = os.environ.get(READ_TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_READ_TIMEOUT_S
    except ValueError:
        raise GraphError(f"${READ_TIMEOUT_ENV}={raw!r}: must be a number of seconds") from None
    if not value > 0:
        raise GraphError(f"${READ_TIMEOUT_ENV}={raw!r}: must be > 0 seconds")
    return value


def _read_bounded(path: Path) -> dict:
    """:func:`_read_node_dict` in a forked child, given :func:`read_timeout` seconds. The HDF5 library
    loops forever on some damaged files (a corrupt global heap under a variable-length string), in
    C code that no signal or thread can stop, so a damaged file must not be parsed in this process.
    Where ``fork`` does not exist (Windows) the file is read in-process."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return _read_node_dict(path)
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_read, args=(path, send), daemon=True)
    proc.start()
    send.close()
    timeout = read_timeout()
    try:
        if not recv.poll(timeout):
            raise GraphError(f"{path}: reading it did not finish within {timeout:g} s (${READ_TIMEOUT_ENV}); "
                             "the HDF5 library loops on some damaged files, so the file is most likely corrupt")
        try:
            status, payload = recv.recv()
        except EOFError:
            raise GraphError(f"{path}: the HDF5 library crashed while reading it (exit code "
                             f"{proc.join(5) or proc.exitcode}); the file is most likely corrupt") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()
    if status == "budget":
        from neuromap.memory import MemoryBudgetError

        raise MemoryBudgetError(payload)
    if status == "error":
        raise GraphError(payload)
    return payload


def read_nir(path: str | os.PathLike) -> nir.NIRGraph:
    """Read a NIR HDF5 file (standard and neuromap nodes) into a ``nir.NIRGraph`` without type checks.

    The HDF5 parse runs in a child process with a time limit (:func:`read_timeout`), so a damaged
    file gives a :class:`GraphError`, never a hang."""
    path = Path(path)
    if not path.is_file():
        raise GraphError(f"{path}: no such file")
    raw = _read_bounded(path)
    if "type" not in raw or _str(raw["type"]) != "NIRGraph":
        raise GraphError(f"{path}: the root node is not a NIRGraph")
    root = parse_node("<root>", raw)
    assert isinstance(root, nir.NIRGraph)
    return root


def load(path: str | os.PathLike, convention: str = "nir", dt: float | None = None, reset: str | None = None,
         reset_delay: bool | None = None) -> Graph:
    """Load a graph saved by :func:`save` or written by another NIR tool.

    Neuron nodes that carry neuromap metadata are restored exactly; foreign ones are mapped with
    ``convention`` / ``dt`` / ``reset`` / ``reset_delay`` (see :func:`neuromap.io.nir_import.from_nir`).
    """
    return from_nir(read_nir(path), convention=convention, dt=dt, reset=reset, reset_delay=reset_delay)
