"""backends.torch: protocol, records, errors, registry of node builders."""

import nir
import numpy as np
import pytest
import torch

import neuromap as nm
from neuromap import backends
from neuromap.backends.base import BackendError, RunResult
from neuromap.backends.torch import BUILDERS
from neuromap.graph import Graph
from neuromap.graph.neuron import LIFSpec, spec_to_nir
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams


def test_protocol_and_result():
    be = backends.get("torch")
    assert isinstance(be, backends.Backend) and "torch" in backends.available()
    model = SpikingMLP(4, [6], 2)
    x = torch.rand(10, 3, 4) * 3
    compiled = be.compile(nm.trace(model, x))
    assert isinstance(compiled, backends.Compiled)
    res = compiled.run({"input": x})
    assert isinstance(res, RunResult) and set(res.outputs) == {"output"} and set(res.records) == {"1", "3"}
    assert res.records["1"].shape == (10, 3, 6)
    assert torch.equal(res.output, model(x))
    with pytest.raises(ValueError, match="shape"):
        compiled.run(torch.rand(10, 3, 5))
    with pytest.raises(ValueError, match="unknown backend"):
        backends.get("nope")


def test_unsupported_nodes_fail_at_compile_time_with_name():
    n = 2
    nodes = {"input": nir.Input(np.array([n])), "iaf": nir.IF(r=np.ones(n), v_threshold=np.ones(n)),
             "raw": nir.LIF(tau=np.ones(n), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n)),
             "output": nir.Output(np.array([n]))}
    g = Graph(nodes, [("input", "iaf"), ("iaf", "raw"), ("raw", "output")])
    problems = backends.get("torch").unsupported(g)
    assert any("'iaf' (IF)" in p for p in problems) and any("'raw' (LIF)" in p and "convention" in p for p in problems)
    with pytest.raises(BackendError, match="'iaf'"):
        backends.get("torch").compile(g)
    assert nir.Affine in BUILDERS and nir.Conv2d in BUILDERS


def test_delay_node_shifts_spikes():
    n = 2
    nodes = {"input": nir.Input(np.array([n])), "d": nir.Delay(delay=np.full(n, 3e-3)),
             "lif": spec_to_nir(LIFSpec((n,), LIFParams(v_th=0.5))), "output": nir.Output(np.array([n]))}
    g = Graph(nodes, [("input", "d"), ("d", "lif"), ("lif", "output")], {"dt": 1e-3})
    x = torch.zeros(8, 1, n)
    x[0] = 1.0
    out = backends.get("torch").compile(g).run(x).output
    assert out[:, 0, 0].tolist() == [0, 0, 0, 1, 0, 0, 0, 0]
