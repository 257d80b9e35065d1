"""backends.spinnaker2 on the zoo's EGRU character LM, traced (EGRU once: the normal path)."""

import torch

from neuromap import backends
from neuromap.energy import estimate_run
from neuromap.networks.egru import CharLM


def test_pruned_egru_lm_fp32_equals_zoo_module_and_fixed_point_is_close():
    """The traced core of a pruned LM: graded embeddings (recorded by the tracer) go to the MAC array,
    the pruned recurrent rows are event-driven; fp32 equals the module, s16.15 is close."""
    from torch import nn

    from neuromap.graph import trace

    torch.manual_seed(0)
    model = CharLM(20, hidden_size=48, embedding_size=16, cell="egru", num_layers=2, thr_mean=0.05).eval()
    with torch.no_grad():  # prune 80 % of the recurrent weights (CSR rows on the PEs)
        for layer in model.rnn.layers:
            w = layer.weight_hh
            w.mul_((w.abs() > w.abs().flatten().kthvalue(int(0.8 * w.numel())).values).float())
    tokens = torch.randint(0, 20, (40, 3))
    emb = model.embedding(tokens).detach()
    graph = trace(nn.Sequential(model.rnn, model.drop, model.decoder), emb)
    assert graph.graded_inputs() == {"input"}
    with torch.no_grad():
        ref = model(tokens)
    be = backends.get("spinnaker2")
    c = be.compile(graph)
    res = c.run(emb)
    assert torch.equal(res.output, ref)
    assert torch.equal(res.records["0.1"], model.rnn._last[1].y)
    assert c.mla_projections == {f"input->0.0/input/{g}" for g in "zrg"}
    assert res.counters["mla_macs"].sum() > 0 and res.counters["synops"].sum() > 0
    fix = be.compile(graph, numerics="s16.15").run(emb)
    p_ref, p_fix = ref.log_softmax(-1), fix.output.log_softmax(-1)
    assert (p_ref.argmax(-1) == p_fix.argmax(-1)).float().mean() > 0.9
    est = estimate_run(c, res)
    assert any(t.name == "MAC-array MACs" for t in est.energy_terms)


def test_traced_charlm_core_runs_through_the_normal_path():
    """EGRU once: the traced core (EGRU layers + decoder on the host's embeddings) lowers to the
    same populations and gate projections and runs on SpiNNaker2 with the zoo module's numbers."""
    from torch import nn

    from neuromap.graph import trace

    torch.manual_seed(0)
    model = CharLM(20, hidden_size=32, embedding_size=12, cell="egru", num_layers=2, thr_mean=0.05).eval()
    tokens = torch.randint(0, 20, (30, 2))
    emb = model.embedding(tokens).detach()
    graph = trace(nn.Sequential(model.rnn, model.drop, model.decoder), emb)
    with torch.no_grad():
        ref = model(tokens)  # after tracing: the zoo module keeps its last run's events
    be = backends.get("spinnaker2")
    assert be.unsupported(graph) == []
    assert [p.kind for p in graph.lower().populations] == ["input", "egru", "egru", "identity"]
    res = be.compile(graph).run(emb)
    assert torch.equal(res.output, ref)
    assert torch.equal(res.records["0.1"], model.rnn._last[1].y)


def test_an_egru_fed_by_two_paths_gets_its_bias_once():
    """x + Linear(x) into an EGRU: two incoming paths, each lowered with the gate weights; the layer's
    own bias rides on the first only, so SpiNNaker2 (fp32) equals the module."""
    from torch import nn

    from neuromap.graph import trace
    from neuromap.networks.egru import EGRU

    class TwoPaths(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin, self.egru = nn.Linear(6, 6), EGRU(6, [10], thr_mean=0.05)

        def forward(self, x):
            return self.egru(x + self.lin(x))

    torch.manual_seed(0)
    model = TwoPaths().eval()
    x = torch.randn(12, 2, 6)
    graph = trace(model, x)
    into = [p for p in graph.lower().projections if p.dst == "egru.0" and p.meta.get("role") == "input"]
    assert len(into) == 6 and sum(p.bias is not None for p in into) == 6  # the Linear's bias rides on its own path
    with torch.no_grad():
        ref = model(x)
    assert torch.allclose(backends.get("spinnaker2").compile(graph).run(x).output, ref, atol=1e-5)
