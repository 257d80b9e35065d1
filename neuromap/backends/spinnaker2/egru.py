"""The zoo's character EGRU LM (``networks/egru.py`` ``CharLM``) as a netlist for the SpiNNaker2 model.

The Graph has no EGRU node yet (``nm.trace`` cannot express the gates), so the LM's weights are
mapped directly: the embedding lookup is done by the host (an ``input`` population of graded values,
``meta["graded"]``: its dense projections run on the MAC array), each EGRU layer is an ``egru``
population whose gate projections (z, r, g; ``meta = {"gate", "role"}``) are dense or CSR (pruned),
the recurrent ones self-loops that deliver the previous step's events, and the decoder is a dense
projection into an ``identity`` population (the logits).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from neuromap.netlist import Netlist, Population, Projection


def _w(t, sparse: bool):
    a = t.detach().cpu().numpy().astype(np.float32)
    return sp.csr_matrix(a) if sparse else a


def charlm_netlist(model, sparse_recurrent: bool = True, sparse_input: bool = False) -> Netlist:
    """Netlist of a ``CharLM(cell="egru")`` in eval mode (zoneout as its expectation)."""
    if getattr(model, "cell", None) != "egru":
        raise ValueError("charlm_netlist needs a CharLM with cell='egru'")
    net = Netlist("charlm_egru")
    E = model.embedding.embedding_dim
    net.add_population(Population("embedding", "input", (E,), {}, False, {"graded": True}))
    src, src_graded = "embedding", True
    for k, layer in enumerate(model.rnn.layers):
        H = layer.hidden_size
        name = f"egru{k}"
        theta = layer.threshold.detach().clamp(0.0, 1.0).cpu().numpy().astype(np.float32)
        net.add_population(Population(name, "egru", (H,), {"theta": theta, "zoneout": layer.zoneout}, False,
                                      {"graded_events": True}))
        for role, W, b, s in (("input", layer.weight_ih, layer.bias_ih, src), ("recurrent", layer.weight_hh,
                                                                                 layer.bias_hh, name)):
            sparse = sparse_recurrent if role == "recurrent" else (sparse_input and not src_graded)
            for gate, Wg, bg in zip("zrg", W.chunk(3, 0), (b.chunk(3, 0) if b is not None else (None,) * 3)):
                net.add_projection(Projection(f"{s}->{name}/{role}/{gate}", s, name, "sparse" if sparse else "dense",
                                              weight=_w(Wg, sparse),
                                              bias=None if bg is None else bg.detach().cpu().numpy().astype(np.float32),
                                              meta={"gate": gate, "role": role}))
        src, src_graded = name, False
    V = model.decoder.out_features
    net.add_population(Population("logits", "identity", (V,), {}, False))
    net.add_projection(Projection(f"{src}->logits", src, "logits", "dense", weight=_w(model.decoder.weight, False),
                                  bias=model.decoder.bias.detach().cpu().numpy().astype(np.float32)))
    return net
