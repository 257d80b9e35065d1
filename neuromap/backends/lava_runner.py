"""Run a :class:`~neuromap.backends.loihi.emulator.LoihiNetwork` in Lava (lava-nc 0.10.0).

Builds one Lava process per element (``RingBuffer`` spike sources, ``Dense``/``Sparse``
connections, ``DelayDense`` for connections with synaptic delays, ``LIF`` / ``LIFReset``
populations with their initial ``u``/``v``, ``SigmaDelta`` / ``Delta`` / ``Sigma`` for graded
spikes, ``Monitor`` probes), runs them under
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

from .loihi.emulator import LoihiLIF, LoihiNetwork, LoihiRecord, LoihiSigmaDelta


def _lif(p: LoihiLIF, x: np.ndarray | None):
    """Lava's LIF (``LIFReset`` with a reset schedule); a direct input is the bias mantissa, constant
    over the run (Lava holds ``bias_mant`` fixed)."""
    from lava.proc.lif.process import LIF, LIFReset

    bias = p.bias_mant.copy()
    if x is not None:
        if np.any(x != x[:1]):
            raise ValueError(f"population {p.name!r}: Lava takes its direct input as a fixed bias_mant; the input "
                             "must not change over time (run it on the emulator, backend loihi)")
        bias = bias + x[0].astype(np.int64)
    kw = dict(shape=(p.size,), du=p.du.copy(), dv=p.dv.copy(), vth=p.vth.copy(), bias_mant=bias,
              bias_exp=p.bias_exp.copy(), u=p.u0.copy(), v=p.v0.copy(), name=p.name)
    if p.reset_interval:  # Lava counts steps from 1
        return LIFReset(reset_interval=p.reset_interval, reset_offset=(p.reset_phase + 1) % p.reset_interval, **kw)
    return LIF(**kw)


def _sigma_delta(p: LoihiSigmaDelta):
    from lava.proc.sdn.process import ActivationMode, Delta, Sigma, SigmaDelta

    if p.mode == "sigma":  # (Sigma and Delta take no name)
        return Sigma(shape=(p.size,))
    kw = dict(shape=(p.size,), vth=int(p.vth), cum_error=p.cum_error, spike_exp=p.spike_exp, state_exp=p.state_exp)
    if p.mode == "delta":
        return Delta(**kw)
    return SigmaDelta(bias=p.bias.copy(), act_mode=ActivationMode.RELU if p.relu else ActivationMode.UNIT,
                      name=p.name, **kw)


def _build(network: LoihiNetwork, inputs: dict[str, np.ndarray], steps: int):
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor
    from lava.proc.sparse.process import Sparse

    procs = {}
    feeds = set(network.direct.values())
    for name, spikes in inputs.items():  # spikes [T, N]
        if name not in feeds or any(network.direct.get(p.name) == name and isinstance(p, LoihiSigmaDelta)
                                    for p in network.populations):
            procs[name] = RingBuffer(data=spikes.T.astype(np.int32))
    for p in network.populations:
        x = inputs[network.direct[p.name]] if p.name in network.direct else None
        procs[p.name] = _lif(p, x) if isinstance(p, LoihiLIF) else _sigma_delta(p)
        if x is not None and isinstance(p, LoihiSigmaDelta):
            procs[network.direct[p.name]].s_out.connect(procs[p.name].a_in)
    from lava.utils.weightutils import SignMode

    graded = {p.name for p in network.populations if isinstance(p, LoihiSigmaDelta)}
    for c in network.connections:
        w = c.weights
        kw = {} if c.sign_mode is None else {"sign_mode": SignMode[c.sign_mode.upper()]}
        if c.src in graded:  # graded spikes: Lava's 24-bit messages
            kw["num_message_bits"] = 24
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
        for var in ("u", "v") if isinstance(p, LoihiLIF) else (("sigma",) if p.mode != "delta" else ()):
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

    feeds = set(network.direct.values())  # integers read by neurons directly; the rest are spikes
    arrays = {k: np.asarray(v).astype(np.int64 if k in feeds else bool) for k, v in inputs.items()}
    T, B = next(iter(arrays.values())).shape[:2]
    rec = LoihiRecord()
    for p in network.populations:
        lif = isinstance(p, LoihiLIF)
        rec.spikes[p.name] = np.zeros((T, B, p.size), bool if lif else np.int32)
        for d in (rec.u, rec.v) if lif else (rec.sigma,):
            d[p.name] = np.zeros((T, B, p.size), np.int64)
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    for b in tqdm(range(B), desc="lava (one sample per run)", disable=B < 2 or not sys.stderr.isatty(), leave=False):
        procs, monitors = _build(network, {k: a[:, b] for k, a in arrays.items()}, T)
        anchor = procs[network.populations[0].name]
        try:
            anchor.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            for p in network.populations:
                mons = monitors[p.name]
                for var, d in (("u", rec.u), ("v", rec.v), ("sigma", rec.sigma)):
                    if var in mons:
                        d[p.name][:, b] = _read(mons[var], procs[p.name], var)
                sent = _read(mons["s_out"], procs[p.name], "s_out")
                rec.spikes[p.name][:, b] = sent > 0 if isinstance(p, LoihiLIF) else sent
        finally:
            anchor.stop()
    rec.wall_seconds = time.perf_counter() - t0
    return rec
