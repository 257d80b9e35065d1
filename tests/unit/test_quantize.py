"""neuromap.quantize (LSQ QAT for any model, the grid recorded in the Graph), the IE-LIF neuron, the
distillation loss, and the Loihi / crossbar backends consuming QAT weights as they are."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import neuromap as nm
from neuromap import backends
from neuromap import quantize as Q
from neuromap.backends.base import BackendError
from neuromap.backends.loihi.float_to_fixed import QuantizationError
from neuromap.backends.loihi.float_to_fixed import quantize as loihi_quantize
from neuromap.distill import Distiller
from neuromap.networks import SpikingMLP, qsd_sdt
from neuromap.networks.sdt import SpikeDrivenTransformer
from neuromap.neurons import IELIF, IELIFParams, LIFParams
from neuromap.neurons.ielif import ielif_sequence, virtual_spikes


def _mlp(bits: int = 4, **kw) -> SpikingMLP:
    torch.manual_seed(0)
    m = SpikingMLP(16, [12], 5, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    return Q.quantize(m, bits=bits, **kw)


# --- the quantiser ------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_weights_are_integers_times_the_step(bits):
    m = _mlp(bits)
    lin = m[0]
    q = Q.quantizer(lin)
    w = lin.weight.detach()
    ints = q.integers(lin.parametrizations.weight.original)
    qmin, qmax = Q.quant_range(bits)
    assert ints.min() >= qmin and ints.max() <= qmax
    assert torch.equal(w, ints.float() * q.scale.detach().abs())  # float32 exactly: integer x step
    assert len(torch.unique(w)) <= 2**bits
    if bits == 1:
        assert set(ints.unique().tolist()) <= {-1, 1}


def test_ranges_and_bad_input():
    assert Q.quant_range(4) == (-8, 7) and Q.quant_range(4, symmetric=True) == (-7, 7) and Q.quant_range(1) == (-1, 1)
    assert Q.sign_magnitude_bits(-8, 7) == 5 and Q.sign_magnitude_bits(-7, 7) == 4 and Q.sign_magnitude_bits(-1, 1) == 2
    with pytest.raises(ValueError, match="bits must be one of"):
        Q.quant_range(9)
    m = _mlp(4)
    with pytest.raises(ValueError, match="already quantised"):
        Q.quantize(m, bits=4)
    with pytest.raises(ValueError, match="no Linear"):
        Q.quantize(torch.nn.ReLU())
    with pytest.raises(ValueError, match="no layer named"):
        Q.quantize(SpikingMLP(4, [3], 2), bits={"nope": 4})


def test_straight_through_gradients_and_the_step_learns():
    m = _mlp(2)
    lin = m[0]
    q = Q.quantizer(lin)
    w = lin.parametrizations.weight.original
    with torch.no_grad():
        w[0, 0] = 100 * q.scale.item()  # far outside [Qn, Qp]: clipped
    lin.weight.sum().backward()
    assert w.grad[0, 0] == 0  # no gradient through the clip
    assert (w.grad != 0).sum() > w.numel() // 2  # straight-through inside the range
    assert q.scale.grad is not None and q.scale.grad.abs().item() > 0


def test_per_channel_and_model_size():
    m = _mlp(4, per_channel=True)
    assert Q.quantizer(m[0]).scale.shape == (12,)
    size = Q.model_size_bits(m)
    n_w = 16 * 12 + 12 * 5
    assert size["quantized_parameters"] == n_w
    other = sum(p.numel() for p in m.parameters()) - n_w
    assert size["weight_bits"] == 4 * n_w + 32 * other
    assert size["compression"] > 1


# --- the graph -----------------------------------------------------------------------------------------
def test_trace_records_the_grid_through_save_load_and_lowering(tmp_path):
    m = _mlp(3)
    x = (torch.rand(4, 2, 16) < 0.5).float()
    g = nm.trace(m, x)
    assert Q.graph_weight_bits(g) == {"0": 3, "2": 3}
    nm.save(g, tmp_path / "q.nir")
    g2 = nm.load(tmp_path / "q.nir")
    assert Q.graph_weight_bits(g2) == {"0": 3, "2": 3}
    ints, grid = Q.grid_integers(g2.nodes["0"].weight, g2.nodes["0"].metadata)
    assert torch.equal(torch.from_numpy(ints), Q.quantizer(m[0]).integers(m[0].parametrizations.weight.original))
    projs = {p.name: p for p in g2.lower().projections}
    assert all(Q.grid_of(p.meta)["bits"] == 3 for p in projs.values())
    with torch.no_grad():
        ref = m(x)
    out = backends.get("torch").compile(g2).run(x).outputs
    assert torch.equal(next(iter(out.values())), ref)


def test_batchnorm_folding_keeps_the_integers_and_the_grid_is_checked():
    torch.manual_seed(1)
    s = SpikeDrivenTransformer.tiny()
    s.train()
    s(torch.rand(2, 4, 1, 8, 8))  # BN running statistics away from (0, 1)
    Q.quantize(s, bits=4)
    s.eval()
    x = torch.rand(2, 2, 1, 8, 8)
    g = nm.trace(s, x)
    node = g.nodes["blocks.0.attn.q_conv.layers.0"]
    scale = node.metadata["weight_scale"]
    assert np.ptp(scale) > 0  # the folded BN made the steps per channel
    ints, _ = Q.grid_integers(node.weight, node.metadata)
    conv = s.blocks[0].attn.q_conv.layers[0]
    assert np.array_equal(ints, Q.quantizer(conv).integers(conv.parametrizations.weight.original).numpy())
    with pytest.raises(Q.GridError, match="not on their recorded"):
        Q.grid_integers(node.weight * 1.01, node.metadata, "edited")


# --- IE-LIF ---------------------------------------------------------------------------------------------
def test_ielif_is_the_released_multispike_in_one_step():
    x = torch.tensor([-0.1, 0.1, 0.13, 0.5, 2.0], requires_grad=True)
    p = IELIFParams(v_th=0.25, levels=4, out_scale=0.25, decay_input=False)
    out, _, _ = ielif_sequence(x.reshape(1, 1, 5), p)
    assert out.flatten().tolist() == [0.0, 0.0, 0.25, 0.5, 1.0]
    out.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # rectangular window 0 < 4x < 4


def test_ielif_membrane_keeps_the_residual_and_virtual_spikes_sum_to_the_count():
    p = IELIFParams(v_th=1.0, levels=3, decay_input=False, tau_mem=1e9, dt=1e-3)  # beta ~ 1: no leak
    out, v, _ = ielif_sequence(torch.tensor([[[1.4]], [[0.3]], [[9.0]]]), p)
    assert out.flatten().tolist() == [1.0, 1.0, 3.0]  # 1.4 -> 1 (0.4 left); 0.7 -> 1 (round half up); 9 -> 3
    assert abs(v[1].item() + 0.3) < 1e-4
    k = torch.tensor([0.0, 1.0, 3.0])
    vs = virtual_spikes(k, 3)
    assert set(vs.unique().tolist()) <= {0.0, 1.0} and torch.equal(vs.sum(0), k)
    with pytest.raises(ValueError):
        virtual_spikes(torch.tensor([4.0]), 3)
    with pytest.raises(ValueError, match="levels"):
        IELIFParams(levels=0)


def test_ielif_in_the_sdt_attention_traces_and_runs_identically(tmp_path):
    torch.manual_seed(0)
    student = qsd_sdt(SpikeDrivenTransformer.tiny(), bits=4, levels=4).eval()
    assert isinstance(student.blocks[0].attn.attn.neuron, IELIF)
    x = torch.rand(3, 2, 1, 8, 8) * 2
    g = nm.trace(student, x)
    nm.save(g, tmp_path / "qsd.nir")
    g2 = nm.load(tmp_path / "qsd.nir")
    with torch.no_grad():
        ref = student(x)
        a = student.blocks[0].attn.attn.neuron(torch.rand(3, 2, 1, 64) * 8)
    assert len(a.unique()) > 2  # integer spikes, not binary
    out = backends.get("torch").compile(g2).run(x).outputs
    assert torch.equal(next(iter(out.values())), ref)
    # standalone: a registry kind of its own
    m = torch.nn.Sequential(torch.nn.Linear(5, 7), IELIF(levels=3))
    net = nm.trace(m, torch.rand(3, 2, 5)).lower()
    assert [p.kind for p in net.populations if p.kind == "ielif"] == ["ielif"]


# --- distillation ---------------------------------------------------------------------------------------
def test_distiller_is_cross_entropy_plus_the_teacher_term():
    torch.manual_seed(0)
    teacher, student = SpikingMLP(6, [5], 3, readout="membrane"), SpikingMLP(6, [5], 3, readout="membrane")
    x, y = torch.rand(4, 8, 6), torch.randint(0, 3, (8,))
    with Distiller(student, teacher, readout="mean", temperature=2.0, alpha=0.0) as kd:
        out = student(x)
        assert torch.allclose(kd(out, y), torch.nn.functional.cross_entropy(out.mean(0), y))
    with Distiller(student, teacher, readout="mean", alpha=1.0) as kd:
        assert kd(student(x), y) > 0
    assert not student._forward_pre_hooks  # the hook is gone
    with Distiller(teacher, copy.deepcopy(teacher), alpha=1.0) as kd:
        assert kd(teacher(x), y).abs() < 1e-6  # an identical teacher: no distillation loss
    with pytest.raises(RuntimeError, match="no teacher output"):
        Distiller(student, teacher)(torch.zeros(4, 8, 3), y)


# --- backends consume the QAT integers as they are ---------------------------------------------------------
def test_loihi_uses_the_qat_integers_times_a_power_of_two():
    m = _mlp(4)
    net = nm.trace(m, torch.rand(4, 2, 16)).lower()
    loihi, report = loihi_quantize(net)
    for c in loihi.connections:
        proj = next(p for p in net.projections if (p.src, p.dst) == (c.src, c.dst))
        ints, _ = Q.grid_integers(proj.weight, proj.meta)
        w = c.weights.toarray() if hasattr(c.weights, "toarray") else np.asarray(c.weights)
        assert np.array_equal(w, ints * 16)  # 4-bit [-8, 7] x 16 fills Loihi's 8-bit mixed-sign range
    assert all(q.weight_rel_rms_error < 1e-6 for q in report.layers.values())  # float rounding only
    with pytest.raises(QuantizationError, match="do not fit"):
        loihi_quantize(nm.trace(_mlp(8), torch.rand(4, 2, 16)).lower())
    loihi_quantize(nm.trace(_mlp(8, symmetric=True), torch.rand(4, 2, 16)).lower())  # [-127, 127] x 2 fits
    with pytest.raises(QuantizationError, match="different steps"):
        loihi_quantize(nm.trace(_mlp(4, per_channel=True), torch.rand(4, 2, 16)).lower())


def test_crossbar_programs_the_qat_integers_in_fewer_slices():
    m = _mlp(4)
    x = (torch.rand(4, 2, 16) < 0.5).float()
    g = nm.trace(m, x)
    compiled = backends.get("crossbar").compile(g, "crossbar-rram")  # 8-bit weights in 1-bit cells: 7 slices
    for name in compiled.crossbar_nodes:
        arr = compiled.ops[name].engine
        ints, _ = Q.grid_integers(g.nodes[name].weight, g.nodes[name].metadata)
        assert np.allclose(arr.cmap.weight().numpy(), ints, atol=1e-5)  # the integers, not re-rounded
        assert arr.config.weight_bits == 5 and arr.layout.slices == 4
    ideal = backends.get("crossbar").compile(g, "crossbar-rram", ideal=True).run(x).outputs
    ref = backends.get("torch").compile(g).run(x).outputs
    assert all(torch.equal(ideal[k], ref[k]) for k in ref)
    with pytest.raises(BackendError, match="need 5 sign-magnitude bits"):
        backends.get("crossbar").compile(g, "crossbar-rram", weight_bits=4)


def test_distiller_plugs_into_fit():
    from neuromap import train
    from neuromap.data import SequenceData

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (96,), generator=g)
    x = (torch.rand(96, 4, 64, generator=g) < 0.1 + 0.2 * (torch.arange(64) % 3 == y[:, None, None])).float()
    d = SequenceData("toy", x[:64], y[:64], x[64:], y[64:], 3)
    train.set_seed(0)
    teacher = SpikingMLP(64, [16], 3, readout="membrane")
    train.fit(teacher, d, epochs=1, loss="membrane_ce", progress=False, evaluate_every=0)
    student = Q.quantize(copy.deepcopy(teacher), bits=2)
    with Distiller(student, teacher, readout="mean", alpha=0.5) as kd:
        hist = train.fit(student, d, epochs=1, loss=kd, progress=False, evaluate_every=0)
    assert np.isfinite(hist.epochs[-1]["loss"]) and 0 <= hist.epochs[-1]["train_acc"] <= 1
