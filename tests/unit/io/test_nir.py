"""save/load: lossless round trip (hypothesis), plain nir.read, atomic writes, bad input, loader fuzzing."""

import hashlib
import os
from unittest import mock

import h5py
import nir
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neuromap as nm
from neuromap.graph import Graph, GraphError, UnsupportedNodeError, load, save
from neuromap.graph.neuron import LIFSpec, LISpec, spec_from_nir, spec_to_nir
from neuromap.graph.nodes import AvgPool1d, Reshape
from neuromap.networks import SpikingMLP
from neuromap.neurons import CubaLIFParams, LIFParams
from tests.support import FIXTURES

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _chain(nodes, edges=None):
    names = list(nodes)
    return Graph(nodes, edges if edges is not None else list(zip(names[:-1], names[1:])))


def _lif(n, **kw):
    return spec_to_nir(LIFSpec((n,), LIFParams(**kw)))


NO_NUL_TEXT = st.text(st.characters(blacklist_characters="\x00"), max_size=5)  # HDF5 strings cannot hold NUL


@st.composite
def neuron_nodes(draw, n):
    kind = draw(st.sampled_from(["lif", "cuba", "li"]))
    if kind == "li":
        return spec_to_nir(LISpec((n,), draw(st.floats(0.0, 1.0, width=32)), draw(st.floats(0.1, 2)),
                                  draw(st.floats(-1, 1)), draw(st.sampled_from([1e-3, 1e-4]))))
    reset = draw(st.sampled_from(["subtract", "zero", "none"]))
    kw = dict(
        tau_mem=draw(st.floats(2e-3, 0.1)), dt=1e-3, v_th=draw(st.floats(0.1, 2.0)), v_reset=draw(st.floats(-1, 0)),
        v_leak=draw(st.floats(-0.5, 0.5)), reset=reset, integrator=draw(st.sampled_from(["exp", "euler"])),
        decay_input=draw(st.booleans()), threshold_rule=draw(st.sampled_from([">", ">="])),
        detach_reset=draw(st.booleans()),
    )
    if reset == "subtract" and draw(st.booleans()):
        kw["reset_delay"] = True
    else:
        kw["refractory_steps"] = draw(st.integers(0, 3))
    if kind == "cuba":
        params = CubaLIFParams(tau_syn=draw(st.floats(2e-3, 0.05)), **kw)
    else:
        params = LIFParams(**kw)
    arr = st.lists(st.floats(0.25, 0.75, width=32), min_size=n, max_size=n).map(lambda v: np.asarray(v, np.float32))
    over = {k: draw(st.one_of(st.none(), arr)) for k in (("beta", "v_th", "alpha") if kind == "cuba" else ("beta", "v_th"))}
    return spec_to_nir(LIFSpec((n,), params, **over))


@st.composite
def random_graphs(draw):
    """Chains with an optional conv-like prefix, random layers and an optional recurrent loop."""
    nodes, edges = {}, []
    prev = "input"
    if draw(st.booleans()):
        c, length = draw(st.integers(1, 3)), draw(st.integers(4, 9))
        nodes["input"] = nir.Input(input_type=np.array([c, length]))
        k = draw(st.integers(1, 3))
        nodes["pool"] = AvgPool1d(kernel_size=k, stride=draw(st.integers(1, 3)), padding=draw(st.integers(0, k // 2)))
        edges.append(("input", "pool"))
        lo = (length + 2 * nodes["pool"].padding - k) // nodes["pool"].stride + 1
        nodes["reshape"] = Reshape(shape=np.array([c * lo]))
        edges.append(("pool", "reshape"))
        prev, n = "reshape", c * lo
    else:
        n = draw(st.integers(1, 6))
        nodes["input"] = nir.Input(input_type=np.array([n]))
    for i in range(draw(st.integers(1, 4))):
        m = draw(st.integers(1, 6))
        w = np.asarray(draw(st.lists(st.floats(-2, 2, width=32), min_size=m * n, max_size=m * n)), np.float32).reshape(m, n)
        if draw(st.booleans()):
            nodes[f"w{i}"] = nir.Affine(weight=w, bias=np.asarray(draw(st.lists(st.floats(-1, 1), min_size=m, max_size=m))))
        else:
            nodes[f"w{i}"] = nir.Linear(weight=w.astype(np.float64))
        nodes[f"n{i}"] = draw(neuron_nodes(m))
        edges += [(prev, f"w{i}"), (f"w{i}", f"n{i}")]
        if draw(st.booleans()):
            nodes[f"rec{i}"] = nir.Linear(weight=np.eye(m, dtype=np.float32) * 0.5)
            edges += [(f"n{i}", f"rec{i}"), (f"rec{i}", f"n{i}")]
        prev, n = f"n{i}", m
    nodes["output"] = nir.Output(output_type=np.array([n]))
    edges.append((prev, "output"))
    meta = draw(st.dictionaries(st.sampled_from(["dt", "note", "seed"]), st.one_of(st.floats(1e-4, 1), NO_NUL_TEXT,
                                                                                  st.integers(0, 9))))
    return Graph(nodes, edges, meta)


@SETTINGS
@given(graph=random_graphs())
def test_round_trip_is_lossless(tmp_path, graph):
    path = tmp_path / "g.nir"
    save(graph, path)
    back = load(path)
    assert back.diff(graph) == []
    for name, node in graph.nodes.items():  # exact discrete parameters, including per-neuron arrays
        if hasattr(node, "metadata") and "neuromap" in node.metadata:
            a, b = spec_from_nir(node, name), spec_from_nir(back.nodes[name], name)
            assert type(a) is type(b) and a.shape == b.shape
            if isinstance(a, LIFSpec):
                assert a.params == b.params
                for k in ("beta", "v_th", "alpha"):
                    assert (getattr(a, k) is None) == (getattr(b, k) is None)
                    if getattr(a, k) is not None:
                        assert np.array_equal(getattr(a, k), getattr(b, k))
            else:
                assert a == b


def test_standard_graph_loads_in_plain_nir_read_with_metadata(tmp_path):
    graph = nm.trace(SpikingMLP(5, [4], 3, neuron="cuba"), torch.rand(3, 2, 5))
    save(graph, tmp_path / "m.nir")
    plain = nir.read(str(tmp_path / "m.nir"))
    meta = plain.nodes["1"].metadata["neuromap"]
    assert meta["model"] == "cuba" and "tau_syn" in meta["params"]
    assert isinstance(plain.nodes["1"], nir.CubaLIF)


def test_extension_nodes_are_named_for_plain_tools(tmp_path):
    g = _chain({"input": nir.Input(input_type=np.array([2, 6])), "pool": AvgPool1d(kernel_size=2, stride=2),
                "flat": Reshape(shape=np.array([6])), "output": nir.Output(output_type=np.array([6]))})
    assert g.neuromap_nodes() == ["pool", "flat"]
    with pytest.raises(UnsupportedNodeError, match="pool .*neuromap.AvgPool1d"):
        g.to_nir(strict=True)
    save(g, tmp_path / "e.nir")
    with h5py.File(tmp_path / "e.nir") as f:
        assert f["node/nodes/pool/type"][()] == b"neuromap.AvgPool1d"
    assert load(tmp_path / "e.nir").diff(g) == []


def test_save_is_atomic_and_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "m.nir"
    graph = nm.trace(SpikingMLP(3, [2], 2), torch.rand(2, 1, 3))
    save(graph, path)
    before = _digest(path)
    graph.nodes["1"].metadata["neuromap"]["bad"] = object()
    with pytest.raises(GraphError, match="metadata"):
        save(graph, path)
    graph.nodes["1"].metadata["neuromap"].pop("bad")
    graph.metadata["oops"] = {"x": None}
    with pytest.raises(GraphError):
        save(graph, path)
    assert _digest(path) == before
    assert sorted(os.listdir(tmp_path)) == ["m.nir"]  # no temp files left behind
    graph.metadata.pop("oops")
    umask = os.umask(0)
    os.umask(umask)
    fresh = save(graph, tmp_path / "fresh.nir")
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask  # usual permissions, not mkstemp's 0600
    fresh.unlink()


# --- bad input --------------------------------------------------------------------------------------
def _mlp_nodes():
    return {"input": nir.Input(input_type=np.array([3])), "fc": nir.Affine(weight=np.ones((2, 3)), bias=np.zeros(2)),
            "lif": _lif(2), "output": nir.Output(output_type=np.array([2]))}


def test_shape_mismatch_names_the_edge():
    nodes = _mlp_nodes()
    nodes["lif"] = _lif(5)
    with pytest.raises(GraphError, match="edge 'fc' -> 'lif': shape mismatch"):
        _chain(nodes)


def test_dangling_edge_and_missing_input():
    with pytest.raises(GraphError, match="'ghost' does not exist"):
        _chain(_mlp_nodes(), [("input", "fc"), ("fc", "lif"), ("lif", "output"), ("lif", "ghost")])
    with pytest.raises(GraphError, match="'lif' .* has no incoming edge"):
        _chain(_mlp_nodes(), [("input", "fc"), ("fc", "output")])


def test_cycle_without_stateful_node():
    nodes = _mlp_nodes()
    nodes["loop"] = nir.Linear(weight=np.eye(2))
    nodes["loop2"] = nir.Linear(weight=np.eye(2))
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "loop"), ("loop", "loop2"), ("loop2", "loop"), ("loop", "output")]
    with pytest.raises(GraphError, match="cycle .*loop.* has no stateful node"):
        _chain(nodes, edges)
    ok = [("input", "fc"), ("fc", "lif"), ("lif", "loop"), ("loop", "lif"), ("lif", "output")]
    assert _chain({k: v for k, v in nodes.items() if k != "loop2"}, ok).delayed_edges() == {("lif", "loop")}


def test_nan_weights_and_unknown_types():
    nodes = _mlp_nodes()
    nodes["fc"] = nir.Affine(weight=np.array([[1.0, np.nan, 0], [0, 0, 0]]), bias=np.zeros(2))
    with pytest.raises(GraphError, match="'fc' .*weight contains NaN"):
        _chain(nodes)
    nodes = _mlp_nodes()
    nodes["fc"] = torch.nn.Linear(3, 2)
    with pytest.raises(UnsupportedNodeError, match="'fc' has unsupported type Linear"):
        _chain(nodes)


def _write_raw(path, mutate):
    graph = nm.trace(SpikingMLP(3, [2], 2), torch.rand(2, 1, 3))
    save(graph, path)
    with h5py.File(path, "r+") as f:
        mutate(f)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda f: f["node/nodes/0/type"].__setitem__((), "Frobnicate"), "'0' has unknown type 'Frobnicate'"),
        (lambda f: f["node/nodes/0/type"].__setitem__((), "neuromap.Frob"), "unknown type 'neuromap.Frob'"),
        (lambda f: f["node/nodes/0"].__delitem__("bias"), "node '0' \\(Affine\\): malformed"),
        (lambda f: f["node/nodes/1/metadata/neuromap"].__delitem__("params"), "'1'.*malformed neuromap neuron metadata"),
        (lambda f: f.__delitem__("node"), "not a NIR file"),
    ],
)
def test_malformed_files_give_clear_errors_and_stay_untouched(tmp_path, mutate, match):
    path = tmp_path / "bad.nir"
    _write_raw(path, mutate)
    before = _digest(path)
    with pytest.raises(GraphError, match=match):
        load(path)
    assert _digest(path) == before


def test_nan_in_file_and_bad_params(tmp_path):
    path = tmp_path / "nan.nir"

    def put_nan(f):
        w = f["node/nodes/0/weight"][()]
        w[0, 0] = np.nan
        del f["node/nodes/0/weight"]
        f["node/nodes/0"].create_dataset("weight", data=w)

    _write_raw(path, put_nan)
    with pytest.raises(GraphError, match="'0' \\(Affine\\): weight contains NaN"):
        load(path)
    path2 = tmp_path / "params.nir"

    def bad_reset(f):
        p = f["node/nodes/1/metadata/neuromap/params"][()].decode().replace('"subtract"', '"explode"')
        del f["node/nodes/1/metadata/neuromap/params"]
        f["node/nodes/1/metadata/neuromap"].create_dataset("params", data=p, dtype=h5py.string_dtype())

    _write_raw(path2, bad_reset)
    with pytest.raises(GraphError, match="'1': invalid neuron parameters.*explode"):
        load(path2)


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(GraphError, match="no such file"):
        load(tmp_path / "nope.nir")
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(GraphError, match="cannot read"):
        load(junk)


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "ok.nir"
    save(nm.trace(SpikingMLP(3, [2], 2, neuron="cuba"), torch.rand(2, 1, 3)), path)
    return path.read_bytes()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_loader_truncation_and_corruption(tmp_path, valid_bytes, data):
    blob = bytearray(valid_bytes)
    if data.draw(st.booleans(), label="truncate"):
        blob = blob[: data.draw(st.integers(0, len(blob) - 1), label="cut")]
    else:
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] = data.draw(st.integers(0, 255))
    path = tmp_path / "fuzz.nir"
    path.write_bytes(bytes(blob))
    try:
        with mock.patch.dict(os.environ, {"NEUROMAP_READ_TIMEOUT": "5"}):  # a corrupt heap may loop in HDF5
            graph = load(path)
    except GraphError:
        pass
    else:
        assert isinstance(graph, Graph)
    assert path.read_bytes() == bytes(blob)  # never modified


def test_file_on_which_hdf5_loops_is_an_error_not_a_hang(monkeypatch):
    """tests/fixtures/hdf5_heap_loop.nir: a fuzzed neuromap file (a few bytes of the global heap changed)
    on which h5py's read of a variable-length string never returns; load gives a GraphError in time."""
    import time

    from neuromap.graph import io

    monkeypatch.setenv("NEUROMAP_READ_TIMEOUT", "3")
    looping = FIXTURES / "hdf5_heap_loop.nir"
    with pytest.raises(GraphError, match="truncated or corrupt"):  # the size check's walk already fails on it
        load(looping)
    monkeypatch.setattr(io, "declared_bytes", lambda group: 0)  # without that walk, the read itself loops
    t0 = time.perf_counter()
    with pytest.raises(GraphError, match="did not finish within 3 s"):
        load(looping)
    assert time.perf_counter() - t0 < 30
    monkeypatch.setenv("NEUROMAP_READ_TIMEOUT", "soon")
    with pytest.raises(GraphError, match="NEUROMAP_READ_TIMEOUT"):
        load(FIXTURES / "spiking_mlp_lif.nir")


def test_fixture_files_in_tests_fixtures_load():
    for name in ("spiking_mlp_lif.nir", "norse_lifbox.nir"):
        g = load(FIXTURES / name, convention="norse" if name.startswith("norse") else "nir")
        assert g.outputs


def test_save_rejects_nul_in_metadata_string(tmp_path):
    import torch

    from neuromap.networks import SpikingMLP

    g = nm.trace(SpikingMLP(3, [2], 2), torch.rand(2, 1, 3))
    g.metadata["note"] = "a\x00b"
    with pytest.raises(GraphError, match="NUL"):
        nm.save(g, tmp_path / "m.nir")
    assert not list(tmp_path.iterdir())
