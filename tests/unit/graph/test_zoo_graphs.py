"""Zoo models -> trace -> save/load -> backends.torch (identical outputs) -> lower; sparse reservoir storage."""

import h5py
import numpy as np
import pytest
import torch
from torch import nn

import neuromap as nm
from neuromap.backends import get
from neuromap.graph import UnsupportedNodeError
from neuromap.graph.extension_nodes import SparseLinear
from neuromap.graph.nodes import type_name
from neuromap.networks.egru import EGRU
from neuromap.networks.lmu import LMUClassifier, LMUFormer, LMUMemory
from neuromap.networks.lsm import Reservoir, maass_connectivity
from neuromap.networks.metaspikformer import MetaSpikeFormer
from neuromap.networks.sdt import SpikeDrivenTransformer
from neuromap.neurons import LIFParams


def _identity_bn(model: nn.Module) -> nn.Module:
    """eps = 0 with the default statistics: BN is exactly the identity, so folding it is exact too."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.eps = 0.0
    return model.eval()


def _roundtrip_run(model, x, tmp_path, ext):
    graph = nm.trace(model, x)
    assert set(ext) <= {type_name(n).removeprefix("neuromap.") for n in graph.nodes.values()}
    path = nm.save(graph, tmp_path / "m.nir")
    loaded = nm.load(path)
    assert loaded.diff(graph) == []
    with pytest.raises(UnsupportedNodeError, match="neuromap"):
        loaded.to_nir(strict=True)
    run = get("torch").compile(loaded).run(x)
    with torch.no_grad():
        ref = model(x)
    netlist = loaded.lower()
    assert netlist.n_neurons > 0 and netlist.n_synapses > 0
    return loaded, run, ref, netlist


def _images(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(4, 2, 1, 8, 8, generator=g) < 0.5).float() * 2


@pytest.mark.parametrize("cls,ext", [(SpikeDrivenTransformer, {"SDSA", "MaxPool2d", "Permute", "Mean"}),
                                     (MetaSpikeFormer, {"SDSA3", "Permute", "Mean"})])
def test_transformers_exact(tmp_path, cls, ext):
    torch.manual_seed(0)
    model = _identity_bn(cls.tiny())
    x = _images()
    graph, run, ref, net = _roundtrip_run(model, x, tmp_path, ext)
    assert torch.equal(run.output, ref) and ref.abs().sum() > 0
    attn = [n for n, v in graph.nodes.items() if type_name(v).startswith("neuromap.SDSA")]
    pops = {p.name: p for p in net.populations}
    assert all(pops[a].kind == "other" for a in attn)
    ports = {p.meta.get("port") for p in net.projections if p.dst in attn}
    assert ports == {"q", "k", "v"}


def test_transformer_with_batchnorm_statistics_is_close(tmp_path):
    """Folding real BN statistics re-associates float operations: spikes may flip, rarely."""
    torch.manual_seed(1)
    model = SpikeDrivenTransformer.tiny().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.8, 1.2)
    x = _images(1)
    run = get("torch").compile(nm.trace(model, x)).run(x)
    with torch.no_grad():
        ref = model(x)
    assert (run.output - ref).abs().max() < 0.05 * ref.abs().max()


def test_lmu_classifier_and_memory_exact(tmp_path):
    torch.manual_seed(0)
    model = LMUClassifier(3, 4, hidden=8, order=6, theta=10.0, readout="sequence").eval()
    x = torch.randn(12, 2, 3)
    graph, run, ref, net = _roundtrip_run(model, x, tmp_path, {"LMUMemory", "Activation"})
    assert torch.equal(run.output, ref)
    mem = LMUMemory(5, 8.0, 2, mode="recurrent")
    u = torch.randn(12, 2, 2)
    graph, run, ref, net = _roundtrip_run(mem, u, tmp_path, {"LMUMemory"})
    assert graph.nodes["layer"].mode == "recurrent" and torch.equal(run.output, ref)
    loop = [p for p in net.projections if p.src == p.dst]
    assert len(loop) == 1 and loop[0].meta["lmu"] == "A_bar" and loop[0].weight.shape == (10, 10)


@pytest.mark.parametrize("spiking", [True, False])
def test_lmuformer_exact(tmp_path, spiking):
    torch.manual_seed(0)
    model = _identity_bn(LMUFormer(3, 4, dim=8, theta=16.0, spiking=spiking, rpe=spiking))
    x = torch.randn(12, 2, 3) * 2
    graph, run, ref, net = _roundtrip_run(model, x, tmp_path, {"LMUMemory", "TemporalConv1d", "Place"})
    assert torch.equal(run.output, ref)
    assert any("tap" in p.meta for p in net.projections)


def test_egru_exact_and_gate_projections(tmp_path):
    torch.manual_seed(0)
    model = EGRU(5, [8, 6]).eval()
    x = torch.randn(10, 2, 5)
    graph, run, ref, net = _roundtrip_run(model, x, tmp_path, {"EGRU"})
    assert torch.equal(run.output, ref) and (ref != 0).any()
    egru = [p for p in net.populations if p.kind == "egru"]
    assert len(egru) == 2
    gates = {(p.meta["gate"], p.meta["role"]) for p in net.projections if "gate" in p.meta}
    assert gates == {(g, r) for g in "zrg" for r in ("input", "recurrent")}


def test_reservoir_exact_and_stored_sparsely(tmp_path):
    conn = maass_connectivity((25, 20, 20), lam=1.5, seed=0)  # 10,000 neurons
    res = Reservoir(4, conn, LIFParams(tau_mem=20e-3, dt=1e-3), input_weight=20.0, seed=0)
    u = (torch.rand(6, 2, 4, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    graph = nm.trace(res, u)
    path = nm.save(graph, tmp_path / "lsm.nir")
    loaded = nm.load(path)
    assert loaded.diff(graph) == []
    nnz = conn.n_synapses
    with h5py.File(path, "r") as f:
        grp = f["node/nodes"][[k for k in f["node/nodes"] if k.endswith("w_rec")][0]]
        stored = sum(grp[k].size for k in ("indptr", "indices", "data"))
    assert stored <= 2 * nnz + conn.n + 1 and stored < conn.n ** 2 / 100
    assert any(isinstance(v, SparseLinear) and v.nnz == conn.n_synapses for v in loaded.nodes.values())
    run = get("torch").compile(loaded).run(u)
    ref = res.simulate(u, method="csr").spikes
    assert torch.equal(run.output, ref) and ref.sum() > 0
    net = loaded.lower()
    loop = [p for p in net.projections if p.src == p.dst]
    assert len(loop) == 1 and loop[0].kind == "sparse" and loop[0].synapses == nnz


def test_cli_info_on_traced_zoo_model(tmp_path, capsys):
    from neuromap import cli

    torch.manual_seed(0)
    path = nm.save(nm.trace(_identity_bn(SpikeDrivenTransformer.tiny()), _images()), tmp_path / "sdt.nir")
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "neuromap.SDSA" in out and "torch: yes" in out


def test_zoo_modules_register_their_own_handlers():
    from neuromap.graph import trace_handlers
    from neuromap.networks import egru, lmu, lsm, metaspikformer, sdt

    expected = {sdt.SDSA: sdt.trace_sdsa, metaspikformer.SDSA3: metaspikformer.trace_sdsa3,
                metaspikformer.RepConv: metaspikformer.trace_repconv, lmu.LMUMemory: lmu.trace_lmu_memory,
                lmu.CausalConv1d: lmu.trace_causal_conv, lmu.SeqBN: lmu.trace_seq_bn, lmu.L2MU: lmu.trace_l2mu,
                egru.EGRU: egru.trace_egru, egru.EGRUCell: egru.trace_egru, lsm.Reservoir: lsm.trace_reservoir}
    for cls, fn in expected.items():
        assert trace_handlers.HANDLERS[cls] is fn, cls


def test_register_handler_traces_a_new_module_and_its_subclasses(monkeypatch):
    import nir
    import numpy as np

    from neuromap.graph import trace_handlers

    class Twice(nn.Module):  # torch.sin is not traceable: only the handler can trace these modules
        def forward(self, x):
            return torch.sin(x) * 0 + 2 * x

    class Thrice(Twice):
        def forward(self, x):
            return torch.sin(x) * 0 + 3 * x

    model = nn.Sequential(nn.Linear(4, 3), Twice())
    with pytest.raises(nm.graph.GraphError, match="sin"):
        nm.trace(model, torch.zeros(5, 1, 4))
    monkeypatch.setattr(trace_handlers, "HANDLERS", dict(trace_handlers.HANDLERS))

    @trace_handlers.register_handler(Twice)
    def _trace_twice(tr, m, name, args, out):
        factor = 2.0 if type(m) is Twice else 3.0
        node = nir.Scale(scale=np.full(tr.feature(out, name), factor, dtype=np.float32))
        tr.bind(out, [tr.add_node(name, node, trace_handlers.single_input(tr, name, args))])

    for module, factor in ((Twice(), 2.0), (Thrice(), 3.0)):
        graph = nm.trace(nn.Sequential(nn.Linear(4, 3), module), torch.zeros(5, 1, 4))
        scales = [n for n in graph.nodes.values() if isinstance(n, nir.Scale)]
        assert len(scales) == 1 and np.all(scales[0].scale == factor)
    with pytest.raises(TypeError, match="at least one module class"):
        trace_handlers.register_handler()


def test_a_saved_zoo_graph_loads_without_importing_the_zoo(tmp_path):
    """The zoo's nodes live next to their models; ``load`` finds them through the package's
    ``neuromap.extensions`` entry point in a fresh interpreter that never imported the zoo."""
    import subprocess
    import sys

    torch.manual_seed(0)
    path = nm.save(nm.trace(_identity_bn(MetaSpikeFormer.tiny()), _images()), tmp_path / "msf.nir")
    code = ("import sys, neuromap.graph as g; assert 'neuromap.networks' not in sys.modules; "
            f"gr = g.load({str(path)!r}); print(sorted(type(n).__name__ for n in gr.nodes.values() "
            "if type(n).__module__.startswith('neuromap.networks')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "SDSA3Node" in out.stdout


def test_max_pooling_lowers_so_the_sdt_partitions_and_reports_on_digital_targets():
    """A conv into a max pool keeps its geometry: the pool's population holds the values it pools and
    its outgoing path carries the window map (marked ``reduce: max``); the SDT then partitions on
    Loihi 2 and SpiNNaker2 and gets a report from its torch run."""
    from neuromap.deploy import records_with_inputs
    from neuromap.energy import collect
    from neuromap.energy.report import build_report
    from neuromap.partition import partition

    torch.manual_seed(0)
    model = _identity_bn(SpikeDrivenTransformer.tiny())
    x = _images()
    graph = nm.trace(model, x)
    net = graph.lower()
    pools = [p for p in net.populations if p.meta.get("type") == "neuromap.MaxPool2d"]
    assert pools
    for pool in pools:
        node = pool.meta["node"]
        assert pool.shape == tuple(graph.shapes[node][0])  # the pooled values, not the output
        assert all(p.kind == "conv" and p.conv.out_shape == pool.shape for p in net.incoming(pool.name))
        outs = list(net.outgoing(pool.name))
        assert outs and all(p.meta.get("reduce") == "max" for p in outs)
        k = int(np.prod(graph.nodes[node].kernel_size))
        direct = [p for p in outs if not p.meta["ops"]]  # straight into a neuron: each output sees its window
        assert direct and all(p.kind == "sparse" and p.fan_in().max() == k for p in direct)
    for target in ("loihi2", "spinnaker2"):  # (Loihi 1's 4096 input axons cannot take the head's fan-in)
        assert partition(net, target).feasible
    run = get("torch").compile(graph).run(x)
    rep = build_report(net, collect(net, records_with_inputs(graph, run, x)), ["loihi2", "spinnaker2"])
    assert all(e.energy_J > 0 for e in rep.estimates.values())
    assert all(any("reductions" in o for o in e.omitted) for e in rep.estimates.values())  # said, not priced
