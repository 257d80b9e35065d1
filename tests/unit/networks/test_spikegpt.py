"""SpikeGPT (networks/spikegpt.py): the WKV recurrence, the block, tracing, save/load, backends.torch."""

import math

import pytest
import torch

import neuromap as nm
from neuromap.backends import get
from neuromap.networks.spikegpt import (
    SpikeGPT,
    SpikeGPTLM,
    TimeMix,
    token_shift,
    wkv_naive,
    wkv_sequence,
)


def _lm(seed=0, n_embd=16, n_layer=2, vocab=11, gain=3.0):
    """A small LM whose weights are large enough that every LIF layer spikes."""
    torch.manual_seed(seed)
    lm = SpikeGPTLM(vocab, n_embd=n_embd, n_layer=n_layer, init="torch")
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if name.endswith("weight") and p.dim() == 2:
                p.mul_(gain)
    return lm.eval()


def _tokens(T=12, B=3, vocab=11, seed=1):
    return torch.randint(0, vocab, (T, B), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("T", [1, 7, 40])
def test_wkv_stable_recurrence_equals_the_naive_sum(T):
    g = torch.Generator().manual_seed(T)
    k = torch.randn(T, 2, 5, generator=g, dtype=torch.float64) * 3
    v = torch.randn(T, 2, 5, generator=g, dtype=torch.float64)
    decay = torch.randn(5, generator=g, dtype=torch.float64)
    first = torch.randn(5, generator=g, dtype=torch.float64)
    y, _ = wkv_sequence(decay, first, k, v)
    assert torch.allclose(y, wkv_naive(decay, first, k, v), rtol=1e-12, atol=1e-12)


def test_wkv_is_stable_where_the_naive_sum_overflows_and_carries_state():
    k = torch.full((6, 1, 3), 200.0)  # e^200 overflows float32
    v = torch.arange(18.0).reshape(6, 1, 3)
    decay, first = torch.zeros(3), torch.zeros(3)
    y, st = wkv_sequence(decay, first, k, v)
    assert torch.isfinite(y).all()
    assert not torch.isfinite(wkv_naive(decay, first, k, v)).all()
    y1, s1 = wkv_sequence(decay, first, k[:4], v[:4])  # two windows with the state carried = one window
    y2, _ = wkv_sequence(decay, first, k[4:], v[4:], s1)
    assert torch.allclose(torch.cat([y1, y2]), y, rtol=1e-6)


def test_token_shift_is_causal_and_uses_the_carried_input():
    x = torch.randn(5, 2, 4)
    mix = torch.rand(4)
    y = token_shift(x, mix, None)
    assert torch.allclose(y[0], x[0] * mix)
    assert torch.allclose(y[3], x[3] * mix + x[2] * (1 - mix))
    x2 = x.clone()
    x2[4] += 1.0  # a later input changes nothing earlier
    assert torch.equal(token_shift(x2, mix, None)[:4], y[:4])
    assert torch.allclose(token_shift(x[3:], mix, x[2]), y[3:])


def test_reference_initialisation():
    tm = TimeMix(8, layer_id=0, n_layer=2)
    decay, first = tm.time_decay.detach(), tm.time_first.detach()
    assert float(decay[0]) == -5.0 and float(decay[-1]) == pytest.approx(3.0)
    zigzag = [0.0, 0.5, -0.5, 0.0]  # ((i + 1) % 3 - 1) / 2
    assert first[:4].tolist() == pytest.approx([math.log(0.3) + z for z in zigzag])
    lm = SpikeGPTLM(11, n_embd=8, n_layer=2)
    att = lm.core.blocks[0].att
    assert all(float(m.weight.detach().abs().sum()) == 0 for m in (att.key, att.receptance, att.output))
    assert float(att.value.weight.detach().abs().sum()) > 0


def test_binary_embedding_and_spiking_residual():
    lm = _lm()
    tok = _tokens()
    x = lm.encode(tok)
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    with torch.no_grad():
        logits = lm(tok)
    assert logits.shape == (12, 3, 11)
    rates = lm.core.spike_rates()
    assert len(rates) == 4 and all(0 < r < 1 for r in rates)
    for block in lm.core.blocks:
        assert all(set(s.unique().tolist()) <= {0.0, 1.0} for s in block.last_spikes)


def test_state_carried_across_windows_equals_one_window():
    lm = _lm()
    tok = _tokens(T=16)
    with torch.no_grad():
        full = lm(tok)
        a, st = lm.forward_with_state(tok[:9])
        b, _ = lm.forward_with_state(tok[9:], st)
    assert torch.allclose(torch.cat([a, b]), full, atol=1e-5)


def test_trace_save_load_and_torch_backend_identical(tmp_path):
    lm = _lm()
    x = lm.encode(_tokens())
    with torch.no_grad():
        ref = lm.core(x)
    graph = nm.trace(lm.core, x)
    types = {type(n).__name__ for n in graph.nodes.values()}
    assert {"WKV", "TokenShift", "LayerNorm", "SigmoidGate", "SquaredReLU", "LIF"} <= types
    loaded = nm.load(nm.save(graph, tmp_path / "spikegpt.nir"))
    assert loaded.diff(graph) == []
    run = get("torch").compile(loaded).run(x)
    assert torch.equal(run.output, ref)
    lifs = [n for n, v in loaded.nodes.items() if type(v).__name__ == "LIF"]
    assert len(lifs) == 4 and all(run.records[n].sum() > 0 for n in lifs)


def test_lowering_units_and_ports():
    lm = _lm(n_layer=1, n_embd=8)
    net = nm.trace(lm.core, lm.encode(_tokens())).lower()
    pops = {p.name: p for p in net.populations}
    assert pops["blocks.0.att.wkv"].kind == "other" and pops["blocks.0.att.wkv"].params.to_dict() == {"function": "wkv"}
    assert pops["blocks.0.ffn.relu2"].shape == (32,) and pops["blocks.0.lif1"].kind == "lif"
    into = {(p.src, p.meta.get("port")): p for p in net.projections if p.dst == "blocks.0.att.wkv"}
    assert set(into) == {("blocks.0.att.key_shift", "k"), ("blocks.0.att.value_shift", "v")}
    assert all(p.kind == "dense" and p.weight.shape == (8, 8) for p in into.values())
    gate = {p.meta.get("port"): p.src for p in net.projections if p.dst == "blocks.0.att.gate"}
    assert gate == {"r": "blocks.0.att.receptance_shift", "y": "blocks.0.att.wkv"}
    ffn = [p for p in net.projections if p.dst == "blocks.0.ffn.relu2"]
    assert len(ffn) == 1 and ffn[0].weight.shape == (32, 8)


def test_invalid_input_is_a_clear_error():
    lm = _lm()
    with pytest.raises(ValueError, match="token ids"):
        lm(torch.full((3, 2), 11))
    with pytest.raises(ValueError, match=r"\[T, B, 16\]"):
        lm.core(torch.zeros(3, 2, 5))
    with pytest.raises(ValueError, match="n_layer"):
        SpikeGPT(11, n_layer=0)


def test_gradients_reach_every_parameter():
    lm = _lm().train()
    tok = _tokens(T=10)
    logits = lm(tok[:-1])
    torch.nn.functional.cross_entropy(logits.reshape(-1, 11), tok[1:].reshape(-1)).backward()
    missing = [n for n, p in lm.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
               or float(p.grad.abs().sum()) == 0]
    assert missing == []


def test_loss_decreases_on_a_tiny_batch():
    torch.manual_seed(0)
    lm = SpikeGPTLM(11, n_embd=16, n_layer=2)
    tok = _tokens(T=16, B=2)
    opt = torch.optim.Adam(lm.parameters(), lr=2e-2)
    losses = []
    for _ in range(20):
        loss = torch.nn.functional.cross_entropy(lm(tok[:-1]).reshape(-1, 11), tok[1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
