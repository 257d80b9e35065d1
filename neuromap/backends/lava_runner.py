"""Run a :class:`~neuromap.backends.loihi.emulator.LoihiNetwork` in Lava (lava-nc 0.10.0).

Builds one Lava process per element (``RingBuffer`` spike sources, ``Dense``/``Sparse``
connections, ``DelayDense`` for connections with synaptic delays, ``LIF`` populations with their
initial ``u``/``v``, ``Monitor`` probes), runs them under
``Loihi2SimCfg(select_tag="fixed_pt")`` (Lava's bit-accurate Loihi model) and returns the same
:class:`~neuromap.backends.loihi.emulator.LoihiRecord` the emulator returns. Lava simulates one
sample at a time, so a batch runs sample by sample. The Lava runtime is always stopped, also on
error and Ctrl-C, so no process is left behind.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import scipy.sparse as sp

from neuromap.compat.lava import ensure_lava

from .loihi.emulator import LoihiNetwork, LoihiRecord


def _build(network: LoihiNetwork, inputs: dict[str, np.ndarray], steps: int):
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor
    from lava.proc.sparse.process import Sparse

    procs = {}
    for name, spikes in inputs.items():  # spikes [T, N]
        procs[name] = RingBuffer(data=spikes.T.astype(np.int32))
    for p in network.populations:
        procs[p.name] = LIF(
            shape=(p.size,), du=p.du.copy(), dv=p.dv.copy(), vth=p.vth.copy(),
            bias_mant=p.bias_mant.copy(), bias_exp=p.bias_exp.copy(), u=p.u0.copy(), v=p.v0.copy(), name=p.name,
        )
    from lava.utils.weightutils import SignMode

    for c in network.connections:
        w = c.weights
        kw = {} if c.sign_mode is None else {"sign_mode": SignMode[c.sign_mode.upper()]}
        if c.max_delay > 0:  # Lava's DelayDense: dense weights and a delay per synapse
            dense = w.toarray() if sp.issparse(w) else np.asarray(w)
            delays = np.broadcast_to(np.asarray(c.delays, dtype=int), dense.shape).copy()  # Lava checks dtype int
            conn = DelayDense(weights=dense.astype(np.int32), delays=delays, weight_exp=c.weight_exp,
                              num_weight_bits=c.num_weight_bits, **kw)
        elif sp.issparse(w):
            conn = Sparse(weights=w.tocsr().astype(np.int32), weight_exp=c.weight_exp,
                          num_weight_bits=c.num_weight_bits, **kw)
        else:
            conn = Dense(weights=np.asarray(w, dtype=np.int32), weight_exp=c.weight_exp,
                         num_weight_bits=c.num_weight_bits, **kw)
        procs[c.src].s_out.connect(conn.s_in)
        conn.a_out.connect(procs[c.dst].a_in)
    monitors = {}
    for p in network.populations:
        lif = procs[p.name]
        mons = {}
        for var in ("u", "v"):
            m = Monitor()
            m.probe(getattr(lif, var), steps)
            mons[var] = m
        m = Monitor()
        m.probe(lif.s_out, steps)
        mons["s_out"] = m
        monitors[p.name] = mons
    return procs, monitors


def _read(mon, proc, var_name: str) -> np.ndarray:
    data = mon.get_data()
    return np.asarray(data[proc.name][var_name])


def run_lava(network: LoihiNetwork, inputs: dict[str, np.ndarray]) -> LoihiRecord:
    """Simulate ``network`` in Lava for input spikes ``{name: [T, B, N] bool}``."""
    ensure_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    arrays = {k: np.asarray(v).astype(bool) for k, v in inputs.items()}
    T, B = next(iter(arrays.values())).shape[:2]
    rec = LoihiRecord()
    for p in network.populations:
        rec.spikes[p.name] = np.zeros((T, B, p.size), bool)
        rec.u[p.name] = np.zeros((T, B, p.size), np.int64)
        rec.v[p.name] = np.zeros((T, B, p.size), np.int64)
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    for b in tqdm(range(B), desc="lava (one sample per run)", disable=B < 2 or not sys.stderr.isatty(), leave=False):
        procs, monitors = _build(network, {k: a[:, b] for k, a in arrays.items()}, T)
        anchor = procs[network.populations[0].name]
        try:
            anchor.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            for p in network.populations:
                mons = monitors[p.name]
                rec.u[p.name][:, b] = _read(mons["u"], procs[p.name], "u")
                rec.v[p.name][:, b] = _read(mons["v"], procs[p.name], "v")
                rec.spikes[p.name][:, b] = _read(mons["s_out"], procs[p.name], "s_out") > 0
        finally:
            anchor.stop()
    rec.wall_seconds = time.perf_counter() - t0
    return rec
