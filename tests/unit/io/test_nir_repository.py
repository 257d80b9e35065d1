"""The NIR repository as a test suite: its own test graphs and its paper's files.

* Every graph that NIR's ``tests/`` builds (:mod:`tests.unit.io.nir_repository_graphs`, NIR's constructors) is
  written with ``nir.write``, loaded with ``neuromap.load`` and run on ``backends.torch``; the few that
  the graph itself makes impossible to run are refused with the reason (a synapse loop with no state,
  random negative or off-grid delays, a malformed layer). On Loihi and SpiNNaker2 each one runs or is
  refused with a reason - never an internal error.
* ``paper/01_lif/lif_norse.nir`` reproduces the spike times the paper ships (``lif_norse.csv``: output
  spikes at steps 460, 510, 710, 760 at dt = 0.1 ms) on torch, Loihi and SpiNNaker2.
* The Braille models of ``paper/03_rnn`` (flat and ``*_subgraph.nir``) load and run.

The files come from tests/fixtures/nir (see ORIGIN there; NIR is BSD-3-Clause).
"""

from __future__ import annotations

import pathlib
import warnings

import nir
import numpy as np
import pytest
import torch

from neuromap.backends import get
from neuromap.backends.base import BackendError
from neuromap.errors import NeuromapError
from neuromap.graph import GraphError
from neuromap.io.nir import load
from tests.support import FIXTURES
from tests.unit.io.nir_repository_graphs import CASES, build

DATA = FIXTURES / "nir"
HARDWARE = ("loihi", "spinnaker2")


def _file(tmp_path, name: str) -> pathlib.Path:
    path = tmp_path / "graph.nir"
    nir.write(str(path), build(name), compression=None)
    return path


def _spikes(graph, steps: int = 20, batch: int = 2) -> torch.Tensor | dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    xs = {n: (torch.rand(steps, batch, *graph.shapes[n][1], generator=g) < 0.5).float() for n in graph.inputs}
    return xs if len(xs) > 1 else next(iter(xs.values()))


@pytest.mark.parametrize("name", list(CASES))
def test_nir_repository_graph_loads_and_runs_on_torch(name, tmp_path):
    refusal = CASES[name][1]
    if refusal is not None:
        with pytest.raises((GraphError, BackendError), match=refusal):
            graph = load(_file(tmp_path, name))
            get("torch").compile(graph)
        return
    graph = load(_file(tmp_path, name))
    x = _spikes(graph)
    run = get("torch").compile(graph).run(x)
    assert set(run.outputs) == set(graph.outputs)
    for out, y in run.outputs.items():
        assert y.shape[:2] == (20, 2) and tuple(y.shape[2:]) == graph.shapes[out][1]
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", [n for n, (_, refusal) in CASES.items() if refusal is None])
def test_nir_repository_graph_runs_or_is_refused_on_hardware(name, tmp_path):
    graph = load(_file(tmp_path, name))
    x = _spikes(graph)
    for backend in HARDWARE:
        try:
            compiled = get(backend).compile(graph)
        except (NeuromapError, ValueError) as exc:  # a refusal names what and why, in one message
            assert str(exc).strip(), backend
            continue
        run = compiled.run(x)
        assert all(torch.isfinite(y).all() for y in run.outputs.values()), backend


def test_every_nir_neuron_primitive_runs_on_torch(tmp_path):
    """IF, I, LI, CubaLI, LIF, CubaLIF, Threshold, Scale, per-element Delay, Affine with a (1, n) bias,
    Conv1d/2d, SumPool2d/AvgPool2d, Flatten and subgraphs all occur in the cases that run."""
    kinds: set[str] = set()

    def collect(g: nir.NIRGraph) -> None:
        for node in g.nodes.values():
            kinds.add(type(node).__name__)
            if isinstance(node, nir.NIRGraph):
                collect(node)

    for name, (_, refusal) in CASES.items():
        if refusal is None:
            collect(build(name))
    assert {"IF", "I", "LI", "CubaLI", "LIF", "CubaLIF", "Threshold", "Scale", "Delay", "Affine", "Linear",
            "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Input", "Output", "NIRGraph"} <= kinds


def test_per_element_delay_delays_each_element_by_its_own_steps():
    graph = load_graph(nir.NIRGraph.from_list(nir.Input(np.array([3])), nir.Delay(np.array([0.0, 2e-3, 5e-3])),
                                              nir.Output(np.array([3]))))
    x = torch.arange(1, 9, dtype=torch.float32).reshape(8, 1, 1).repeat(1, 1, 3)
    y = get("torch").compile(graph).run(x).output[:, 0]
    assert y[:, 0].tolist() == list(range(1, 9))
    assert y[:, 1].tolist() == [0, 0] + list(range(1, 7))
    assert y[:, 2].tolist() == [0] * 5 + [1, 2, 3]


def load_graph(g: nir.NIRGraph):
    from neuromap.io.nir_import import from_nir

    return from_nir(g, convention="nir", dt=1e-3)


def test_per_element_delays_lower_to_one_projection_per_delay_and_run_on_spinnaker2():
    """A Linear -> Delay(per neuron) -> LIF path becomes one projection per distinct delay, and
    SpiNNaker2's fp32 model gives torch's spikes."""
    rng = np.random.default_rng(0)
    n_in, n = 4, 5
    g = nir.NIRGraph.from_list(
        nir.Input(np.array([n_in])), nir.Linear(weight=rng.uniform(0, 1, (n, n_in))),
        nir.Delay(np.array([0, 1, 1, 3, 0]) * 1e-3),
        nir.LIF(tau=np.full(n, 0.01), r=np.full(n, 10.0), v_leak=np.zeros(n), v_reset=np.zeros(n),
                v_threshold=np.ones(n)),
        nir.Output(np.array([n])))
    graph = load_graph(g)
    delays = sorted(p.delay for p in graph.lower().projections)
    assert delays == [0, 1, 3]
    x = (torch.rand(40, 2, n_in, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    ref = get("torch").compile(graph).run(x).output
    assert ref.sum() > 0
    assert torch.equal(get("spinnaker2").compile(graph).run(x).output, ref)


# ------------------------------------------------------------------------------------------- paper/01_lif
def _lif_reference() -> tuple[torch.Tensor, list[int]]:
    table = np.loadtxt(DATA / "lif_norse.csv", delimiter=",")  # input spikes, voltage, output spikes
    x = torch.from_numpy(table[:, 0].astype(np.float32)).reshape(-1, 1, 1)
    return x, np.nonzero(table[:, 2])[0].tolist()


@pytest.mark.parametrize("backend", ["torch", "loihi", "spinnaker2"])
def test_paper_lif_reproduces_the_shipped_spike_times(backend):
    x, expected = _lif_reference()
    assert expected == [460, 510, 710, 760]
    graph = load(DATA / "lif_norse.nir", convention="nir", dt=1e-4)
    be = get(backend)
    compiled = be.compile(graph) if backend == "torch" else be.compile(graph, be.name if backend != "loihi" else "loihi2")
    out = compiled.run(x).output
    assert torch.nonzero(out[:, 0, 0]).reshape(-1).tolist() == expected


def test_paper_lif_under_the_norse_convention_says_why_it_is_silent():
    """The file stores tau itself, not Norse's dt/tau_inv: read as Norse's the neuron never fires,
    and the import says so instead of returning a silent model."""
    with pytest.warns(UserWarning, match="convention 'norse'"):
        load(DATA / "lif_norse.nir", convention="norse", dt=1e-4)


# ------------------------------------------------------------------------------------------- paper/03_rnn
BRAILLE = ["braille_noDelay_bias_zero.nir", "braille_noDelay_noBias_subtract.nir",
           "braille_noDelay_bias_zero_subgraph.nir", "braille_noDelay_noBias_subtract_subgraph.nir"]


@pytest.mark.parametrize("filename", BRAILLE)
def test_paper_braille_models_load_and_run(filename):
    reset = "zero" if "zero" in filename else "subtract"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = load(DATA / filename, convention="snntorch", reset=reset)
    if "subgraph" in filename:  # the file's edges name 'lif' inside subgraph 'lif1', whose node is 'lif1'
        assert any("is taken for it" in str(w.message) for w in caught)
    assert graph.is_recurrent()
    x = (torch.rand(50, 2, 12, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    run = get("torch").compile(graph).run(x)
    assert run.output.shape == (50, 2, 7)


def test_braille_subgraph_file_equals_the_flat_file():
    x = (torch.rand(50, 2, 12, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = load(DATA / "braille_noDelay_bias_zero.nir", convention="snntorch", reset="zero")
        nested = load(DATA / "braille_noDelay_bias_zero_subgraph.nir", convention="snntorch", reset="zero")
    assert torch.equal(get("torch").compile(flat).run(x).output, get("torch").compile(nested).run(x).output)


@pytest.mark.parametrize("filename", ["lif_rockpool.nir", "two_lif_neurons.nir"])
def test_other_paper_files_load_and_run(filename):
    graph = load(DATA / filename, convention="nir", dt=1e-4)
    x = torch.ones(30, 1, *graph.shapes[graph.inputs[0]][1])
    assert torch.isfinite(get("torch").compile(graph).run(x).output).all()
