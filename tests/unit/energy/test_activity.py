"""Activity counts on a small net equal hand counts (NeuroBench definitions included)."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from neuromap.energy import Activity, ActivityError, collect
from neuromap.netlist import ConvGeometry, Netlist, Population, Projection
from tests.support import small_net


def test_hand_counts():
    # T = 3 steps, B = 2 samples
    x = torch.tensor([[[1, 0, 1], [0, 0, 0]], [[0, 1, 0], [1, 1, 1]], [[0, 0, 0], [0, 0, 1]]], dtype=torch.float32)
    h = torch.tensor([[[1, 0], [0, 0]], [[0, 1], [1, 1]], [[0, 0], [0, 0]]], dtype=torch.float32)
    o = torch.tensor([[[0.0], [0.0]], [[3.0], [3.0]], [[1.5], [2.5]]])
    act = collect(small_net(), {"in": x, "h": h, "o": o})
    # w1 non-zero fan-out per input: [2, 1, 2]; input spikes per source over all (t, b): [2, 2, 3]
    assert act.synops["w1"] == 2 * 2 + 2 * 1 + 3 * 2
    # w2 non-zero fan-out per h neuron: [0, 1]; spikes of h: [2, 2]
    assert act.synops["w2"] == 2
    assert act.acs["w1"] == act.synops["w1"] and act.macs["w1"] == 0  # binary inputs -> AC
    assert act.dense_synops["w1"] == 3 * 2 * 6 and act.dense_synops["w2"] == 3 * 2 * 2
    assert act.spikes == {"h": 4.0, "o": 4.0}
    assert act.updates_dense == {"h": 12.0, "o": 6.0}
    # h neurons receive input whenever any connected source spiked: (t0,b0): both; (t1,b0): x1 -> h1 only;
    # (t1,b1): both; (t2,b1): x2 -> both  => 2 + 1 + 2 + 2
    assert act.updates_event["h"] == 7
    assert act.updates_event["o"] == 2  # h1 spikes at (t1,b0) and (t1,b1)
    assert act.activation_sparsity == pytest.approx((12 - 4 + 6 - 4) / 18)
    assert act.connection_sparsity == pytest.approx(round(2 / 8, 4))
    assert act.footprint_bytes == 4 * (6 + 2 + 2 + 2 + 1)  # weights + biases + per-neuron state
    assert act.rates()["h"] == pytest.approx(4 / (2 * 3 * 2))
    per = act.per_sample()
    assert per["Effective_ACs"] == (12 + 2) / 2 and per["Effective_MACs"] == 0 and per["Dense"] == (36 + 12) / 2


def test_real_valued_inputs_count_as_macs_and_conv_counts_exact_taps():
    nl = Netlist()
    nl.add_population(Population("in", "input", (1, 3, 3)))
    nl.add_population(Population("c", "lif", (1, 3, 3)))
    geom = ConvGeometry((1, 3, 3), (1, 3, 3), (3, 3), padding=(1, 1))
    kernel = np.ones((1, 1, 3, 3))
    kernel[0, 0, 0, 0] = 0.0
    nl.add_projection(Projection("k", "in", "c", "conv", weight=kernel, conv=geom))
    x = torch.zeros(1, 1, 1, 3, 3)
    x[0, 0, 0, 1, 1] = 0.7  # the centre pixel reaches 8 outputs (one tap is zero)
    act = collect(nl, {"in": x, "c": torch.zeros(1, 1, 1, 3, 3)})
    assert act.synops["k"] == 8 and act.macs["k"] == 8 and act.acs["k"] == 0
    assert act.dense_synops["k"] == geom.synapse_count()


def test_sparse_projection_and_round_trip(tmp_path):
    nl = Netlist()
    nl.add_population(Population("in", "input", (4,)))
    nl.add_population(Population("r", "lif", (4,)))
    w = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0], [1, 0, 0, 1.0]]))
    nl.add_projection(Projection("rec", "r", "r", "sparse", weight=w))
    nl.add_projection(Projection("inp", "in", "r", "dense", weight=np.eye(4)))
    s = torch.zeros(2, 1, 4)
    s[0, 0, 0] = s[1, 0, 3] = 1
    act = collect(nl, {"in": s, "r": s})
    assert act.synops["rec"] == 1 + 1  # neuron 0 -> 1 target, neuron 3 -> 1 target
    path = act.save(tmp_path / "run.npz")
    again = Activity.load(path)
    assert again.to_dict() == act.to_dict()
    again.check_matches(nl)


def test_bad_activity():
    with pytest.raises(ActivityError, match="no recording"):
        collect(small_net(), {"in": torch.zeros(2, 1, 3)})
    with pytest.raises(ActivityError, match="neurons per step"):
        collect(small_net(), {"in": torch.zeros(2, 1, 3), "h": torch.zeros(2, 1, 5), "o": torch.zeros(2, 1, 1)})
    act = collect(small_net(), {"in": torch.zeros(2, 1, 3), "h": torch.zeros(2, 1, 2), "o": torch.zeros(2, 1, 1)})
    other = Netlist()
    other.add_population(Population("in", "input", (3,)))
    other.add_population(Population("z", "lif", (2,)))
    other.add_projection(Projection("w", "in", "z", "dense", weight=np.ones((2, 3))))
    with pytest.raises(ActivityError, match="do not match"):
        act.check_matches(other)
    d = act.to_dict()
    d["spikes"] = {"h": -1.0, "o": 0.0}
    with pytest.raises(ActivityError, match="non-negative"):
        Activity.from_dict(d)
    with pytest.raises(ActivityError, match="not a neuromap activity"):
        Activity.load(__file__)


def test_per_neuron_counts_add_up():
    x = torch.tensor([[[1, 0, 1]], [[0, 1, 1]]], dtype=torch.float32)
    h = torch.tensor([[[1, 0]], [[1, 1]]], dtype=torch.float32)
    act = collect(small_net(), {"in": x, "h": h, "o": torch.zeros(2, 1, 1)})
    assert act.spikes_per_neuron["h"] == [2.0, 1.0]
    # w1 = [[1, 0, 2], [.5, .5, .5]]: h0 receives from x0, x2; h1 from all
    assert act.synops_per_neuron["h"] == [3.0, 4.0]
    assert sum(act.synops_per_neuron["h"]) == act.synops["w1"]
    assert act.synops_per_neuron["o"] == [1.0]  # only h1 connects (weight 3)
