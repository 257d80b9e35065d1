"""Spikformer / Spikformer V2: SSA formula, spike-level residual value sets, audit, gradients, and the
graph path (trace -> save/load -> backends.torch identical -> lower with each bias once -> partition)."""

import numpy as np
import pytest
import torch
from torch import nn

import neuromap as nm
from neuromap.audit import spike_driven_audit
from neuromap.backends import get
from neuromap.graph.nodes import type_name
from neuromap.networks import SSA, Spikformer, SpikingConvStem
from neuromap.partition import partition


def _lively(model: nn.Module) -> nn.Module:
    """Eval mode with every BatchNorm ``y = 4 x + 0.5`` (statistics 0 / 1, eps 0) and zero conv biases,
    so that the untrained network fires at every depth; folding such a BN into its conv is exact (a
    power-of-two scale, and the shift becomes the conv's whole bias), so the graph can match exactly."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps = 0.0
                m.weight.fill_(4.0)
                m.bias.fill_(0.5)
            elif isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.zero_()
    return model.eval()


def _images(seed: int = 0, T: int = 4, B: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, 1, 8, 8, generator=g) * 2


def test_ssa_is_lif_of_qkt_v_times_scale():
    torch.manual_seed(0)
    ssa = SSA(16, heads=4)
    x = (torch.rand(4, 2, 16, 4, 4) < 0.5).float()
    _lively(ssa)
    with torch.no_grad():
        y = ssa(x)

        def spikes(lin, lif):
            return lif(lin(x)).flatten(3).transpose(2, 3)  # [T, B, N, C]

        q, k, v = spikes(ssa.q_linear, ssa.q_lif), spikes(ssa.k_linear, ssa.k_lif), spikes(ssa.v_linear, ssa.v_lif)
        qh, kh, vh = (ssa.attn.split_heads(t) for t in (q, k, v))
        pre = ((qh @ kh.transpose(-2, -1)) @ vh) * 0.125  # the paper's order: the N x N map first, no softmax
        pre = pre.transpose(2, 3).reshape(q.shape)
        attn = ssa.attn.neuron(pre)  # LIF with threshold 0.5
        expected = ssa.proj_lif(ssa.proj_linear(attn.transpose(2, 3).reshape(x.shape)))
    assert torch.equal(pre / 0.125, torch.round(pre / 0.125)) and pre.abs().sum() > 0  # integer counts
    assert torch.equal(y, expected) and y.shape == x.shape
    assert set(y.unique().tolist()) <= {0.0, 1.0} and y.sum() > 0


def test_shapes_and_spike_level_residual_value_sets():
    torch.manual_seed(0)
    model = Spikformer.tiny(depth=2)
    x = _images()
    _lively(model)
    with torch.no_grad():
        stem = model.stem(x)
        feats = model.forward_features(x)
        out = model(x)
    assert out.shape == (4, 6, 10)
    assert stem.shape == (4, 6, 64, 4, 4) and set(stem.unique().tolist()) <= {0.0, 1.0, 2.0} and stem.max() == 2
    values = set(feats.unique().tolist())  # integers 0 .. 2 + 2 * depth
    assert values <= set(range(7)) and max(values) > 2
    # V1's SPS has one conv per stage, V2's SCS adds `supplementary` per stage
    assert len(SpikingConvStem(1, (8, 16), (False, True), supplementary=0).convs) == 2
    assert len(SpikingConvStem(1, (8, 16), (False, True), supplementary=2).convs) == 6
    assert Spikformer.tiny().stem.downsample == 2


def test_audit_says_which_products_are_spike_driven():
    torch.manual_seed(0)
    model = Spikformer.tiny()
    x = _images()
    _lively(model)
    rep = spike_driven_audit(model, x)
    kind = {la.name: la.kind for la in rep.layers}
    assert kind["stem.convs.0.layers.0"] == "real"  # pixels
    for name in ("q", "k", "v"):
        assert kind[f"blocks.0.attn.{name}_linear.layers.0"] == "integer"  # spike counts of the residual stream
    assert kind["blocks.0.mlp.fc1_linear.layers.0"] == "integer"
    assert kind["head"] == "real"  # the token mean of spike counts
    binary = {"stem.convs.1.layers.0", "stem.rpe.layers.0", "blocks.0.attn.attn", "blocks.0.attn.proj_linear.layers.0",
              "blocks.0.mlp.fc2_linear.layers.0"}
    assert binary <= set(rep.spike_driven)
    assert rep["blocks.0.attn.attn"].layer_type == "SDSA3"
    assert rep["blocks.0.attn.q_linear.layers.0"].max == 2


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = Spikformer.tiny()
    x = _images(B=8)
    model.train()
    loss = nn.functional.cross_entropy(model(x).mean(0), torch.arange(8) % 10)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    for name in ("stem.convs.0.layers.0.weight", "blocks.0.attn.q_linear.layers.0.weight",
                 "blocks.0.mlp.fc2_linear.layers.0.weight", "head.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name


def test_trace_save_load_torch_backend_identical_and_lowering(tmp_path):
    torch.manual_seed(0)
    model = Spikformer.tiny()
    x = _images(1)
    _lively(model)
    graph = nm.trace(model, x)
    assert {"SDSA3", "Permute", "Mean", "MaxPool2d", "Conv2d", "LIF", "Affine"} <= {
        type_name(v).removeprefix("neuromap.") for v in graph.nodes.values()}
    loaded = nm.load(nm.save(graph, tmp_path / "spikformer.nir"))
    assert loaded.diff(graph) == []
    run = get("torch").compile(loaded).run(x)
    with torch.no_grad():
        ref = model(x)
    assert torch.equal(run.output, ref) and ref.abs().sum() > 0
    assert run.records["blocks.0.attn.attn"].sum() > 0  # the attention fired: the check is not vacuous

    net = loaded.lower()
    pops = {p.name: p for p in net.populations}
    assert pops["blocks.0.attn.attn"].kind == "other"
    assert {p.meta.get("port") for p in net.projections if p.dst == "blocks.0.attn.attn"} == {"q", "k", "v"}
    # the residual stream is several sources summed into one Linear: one projection per source, the
    # Linear's bias on exactly one of them (the target receives it once, as in the graph)
    for dst, node in (("blocks.0.attn.q_lif", "blocks.0.attn.q_linear.layers.0"), ("output", "head")):
        incoming = [p for p in net.projections if p.dst == dst]
        assert len(incoming) >= 2
        total = sum(np.asarray(p.bias, dtype=np.float64) for p in incoming if p.bias is not None)
        bias = np.asarray(loaded.nodes[node].bias, dtype=np.float64)
        assert np.allclose(total, np.repeat(bias, pops[dst].size // bias.size))

    mapping = partition(net, "loihi2", method="sequential")
    assert mapping.metrics["cores"] > 0 and mapping.feasible


def test_bad_configuration_errors():
    with pytest.raises(ValueError, match="heads=3 does not divide"):
        Spikformer.tiny(heads=3)
    with pytest.raises(ValueError, match="supplementary must be an integer >= 0"):
        Spikformer.tiny(supplementary=-1)
    with pytest.raises(ValueError, match="same, non-zero length"):
        SpikingConvStem(1, (8, 16), (False,))
    with pytest.raises(ValueError, match="dimension 3"):
        Spikformer.tiny()(torch.rand(2, 2, 1, 7, 8))
    with pytest.raises(ValueError, match="SSA expects x of shape"):
        SSA(8, 2)(torch.rand(2, 2, 4, 3, 3))


def test_fused_batchnorm_module_and_graph_identical_with_trained_statistics():
    """Real (non-foldable-exactly) BN statistics: the BN-folded module is close to the trained one,
    and the traced graph of the folded module reproduces it exactly."""
    torch.manual_seed(0)
    model = Spikformer.tiny()
    x = _images(2, B=8)
    model.train()
    with torch.no_grad():
        for _ in range(3):  # running statistics from data
            model(x)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(2.0, 4.0)
                m.bias.uniform_(0.0, 1.0)
        model.eval()
        ref = model(x)
        model.fuse_batchnorm()
        fused = model(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert (fused - ref).abs().max() <= 0.05 * ref.abs().max()
    run = get("torch").compile(nm.trace(model, x)).run(x)
    assert torch.equal(run.output, fused) and run.records["blocks.0.attn.attn"].sum() > 0
