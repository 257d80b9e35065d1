"""Time-stepped, event-driven simulation of the per-PE programs, vectorised per PE group.

Each timestep every PE (1) processes the packets it received (synaptic accumulation of the rows of
the source neurons that fired, or a MAC-array pass for dense graded inputs), (2) updates its neurons
and (3) sends one multicast packet per event, which the routers deliver to every PE holding a
target (dimension-order X-then-Y routes). The PEs holding one population are evaluated together:
one batched matmul per projection and one vectorised neuron update per population, never a Python
loop over packets or PEs. Per-PE counters (synaptic events, MAC-array MACs, packets in / out, neuron
updates, DRAM bytes) come from the neuron -> PE assignment with sparse products, per step.

Schedules (same results in exact arithmetic; chosen to reproduce the float reference bit for bit):

* ``scc``: populations in topological order of their strongly connected components; a component
  without recurrence runs over the whole sequence at once (population-major), a recurrent one
  step by step with its external inputs computed for all steps first (the zoo's EGRU arrangement);
* ``step``: everything step by step, ``[1, B, ...]`` per call (``backends.torch`` on recurrent graphs).

A projection that closes a cycle (a self-loop) delivers the source's output of the previous step;
a projection delay of ``d`` steps delivers it ``d`` steps later.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from neuromap.synapses import linear

from . import numerics as nx_
from .neurons import fp32_lif_params, model
from .program import Program, ProjPlan

COUNTERS = ("synops", "mla_macs", "packets_in", "packets_out", "neuron_updates", "dram_bytes")


# ------------------------------------------------------------------------------------------- projections
class _Proj:
    """A projection's weights in the run's numerics, with ``apply(src [t, B, n_src]) -> contribution``."""

    def __init__(self, plan: ProjPlan, n_src: int, n_dst: int, numerics: str, weight_bits: int) -> None:
        self.plan, self.n_src, self.n_dst, self.fix = plan, n_src, n_dst, numerics == "s16.15"
        w = plan.weight
        if plan.kind == "identity":
            self.W = None
        elif self.fix:
            dense = w if isinstance(w, np.ndarray) else None
            data = dense if dense is not None else w.data
            q, self.e = nx_.quantise_weights(data, weight_bits)
            if dense is not None:
                self.W = torch.from_numpy(q.astype(np.float64))
            else:
                m = sp.csr_matrix((q.astype(np.float64), w.indices, w.indptr), shape=w.shape)
                self.W = _torch_csr(m, torch.float64)
        else:
            self.W = torch.from_numpy(np.asarray(w, dtype=np.float32)) if isinstance(w, np.ndarray) else _torch_csr(
                w, torch.float32)
        b = plan.bias
        if b is None:
            self.b = None
        else:
            self.b = nx_.to_fix(np.asarray(b, dtype=np.float64)) if self.fix else torch.from_numpy(
                np.asarray(b, dtype=np.float32))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Contribution to the target: float32 (fp32) or int64 s16.15 (fixed point)."""
        if self.fix:
            return self._apply_fix(x)
        plan = self.plan
        if plan.kind == "identity":
            return _resize(x, self.n_dst)
        if plan.kind == "dense":
            return linear(x, self.W, self.b)  # the torch backend's synapses: the same float sums
        t, b = x.shape[:2]
        y = torch.sparse.mm(self.W, x.reshape(t * b, -1).t()).t().reshape(t, b, -1)
        return y if self.b is None else y + self.b

    def _apply_fix(self, x: torch.Tensor) -> torch.Tensor:
        plan = self.plan
        if plan.kind == "identity":
            return _resize(nx_.to_fix(x), self.n_dst)
        if plan.engine == "mla":
            q, e_in = nx_.quantise_vectors_int8(x)
            acc = F.linear(q, self.W).clamp_(nx_.I32_MIN, nx_.I32_MAX)  # 32-bit accumulator (saturating)
            y = torch.floor(acc * torch.exp2(e_in + (self.e + nx_.FRAC)) + 0.5).to(torch.int64)
        else:
            xq = nx_.to_fix(x).to(torch.float64)  # exact: |x q| < 2^53 for fan-in < 2^14 at full scale
            if plan.kind == "dense":
                acc = F.linear(xq, self.W)
            else:
                t, b = xq.shape[:2]
                acc = torch.sparse.mm(self.W, xq.reshape(t * b, -1).t()).t().reshape(t, b, -1)
            y = nx_.round_shift(acc.to(torch.int64), -self.e)
        return y if self.b is None else y + self.b


def _torch_csr(m: sp.csr_matrix, dtype) -> torch.Tensor:
    m = m.tocsr()
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(m.indptr.astype(np.int64)),
                                       torch.from_numpy(m.indices.astype(np.int64)),
                                       torch.from_numpy(np.asarray(m.data)).to(dtype), size=m.shape)


def _resize(x: torch.Tensor, n: int) -> torch.Tensor:
    if x.shape[-1] == n:
        return x
    if x.shape[-1] > n:
        return x[..., :n]
    return torch.cat([x, x.new_zeros(*x.shape[:-1], n - x.shape[-1])], -1)


# ------------------------------------------------------------------------------------------- EGRU gate groups
class _GateGroup:
    """The three gate projections (z, r, g) of one source and role into an EGRU layer, concatenated
    ``[3H, n_src]`` as the zoo's cell stores them (one matmul per step, same arithmetic)."""

    def __init__(self, projs: list[_Proj], role: str, fix: bool) -> None:
        by_gate = {p.plan.meta["gate"]: p for p in projs}
        if set(by_gate) != {"z", "r", "g"} or len(projs) != 3:
            raise ValueError(f"EGRU gate projections of one path must be z, r and g once each, got "
                             f"{sorted(p.plan.meta['gate'] for p in projs)}")
        self.parts = [by_gate[k] for k in ("z", "r", "g")]
        self.role, self.fix = role, fix
        self.plan = self.parts[0].plan
        if not fix:
            self.W = torch.cat([p.W.to_dense() if p.W.layout != torch.strided else p.W for p in self.parts])
            bs = [p.b for p in self.parts]
            self.b = None if all(b is None for b in bs) else torch.cat(
                [b if b is not None else torch.zeros(p.n_dst) for b, p in zip(bs, self.parts)])

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.fix:
            return torch.cat([nx_.to_float(nx_.sat32(p.apply(x))) for p in self.parts], -1)
        t, b = x.shape[:2]
        x2 = x.reshape(t * b, -1)
        if self.role == "input":
            y = torch.addmm(self.b, x2, self.W.t()) if self.b is not None else x2 @ self.W.t()
        else:
            y = x2 @ self.W.t()
            if self.b is not None:
                y = y + self.b
        return y.reshape(t, b, -1)


# ------------------------------------------------------------------------------------------- simulator
@dataclass
class SimResult:
    values: dict[str, torch.Tensor]  # population -> [T, B, n] float32
    counters: dict[str, np.ndarray]  # name -> [T, B, n_cores]
    flows: sp.csr_matrix  # [n_cores, n_cores] packets (source PE -> destination PE) over the run


class Simulator:
    def __init__(self, prog: Program) -> None:
        self.prog = prog
        net = prog.netlist
        self.fix = prog.numerics == "s16.15"
        wb = int(prog.target.get("numerics.weight_bits"))
        self.pops = {p.name: p for p in net.populations}
        self.projs = [_Proj(pl, self.pops[pl.src].size, self.pops[pl.dst].size, prog.numerics, wb)
                      for pl in prog.projections]
        self.models = {n: model(p, prog.numerics) for n, p in self.pops.items() if not p.is_input}
        # incoming units per population: _Proj, or _GateGroup for EGRU targets
        self.incoming: dict[str, list] = {n: [] for n in self.pops}
        for n in self.pops:
            mine = [q for q in self.projs if q.plan.dst == n]
            if not self._gated(n):
                self.incoming[n] = mine
                continue
            groups: dict[tuple[str, str, str], list] = {}
            for q in mine:  # one group per path (its name without the gate): two paths from one source stay apart
                role = q.plan.meta.get("role", "recurrent" if q.plan.prev else "input")
                groups.setdefault((q.plan.src, role, q.plan.name.rsplit("/", 1)[0]), []).append(q)
            self.incoming[n] = [_GateGroup(v, k[1], self.fix) for k, v in groups.items()]
        self.blocks = self._blocks()

    def _gated(self, n: str) -> bool:
        """Whether population ``n``'s PE code takes its inputs as gate groups (EGRU)."""
        return bool(getattr(self.models.get(n), "gated", False))

    def _blocks(self) -> list[tuple[list[str], bool]]:
        """Execution blocks: (populations, step_by_step)."""
        order = [n for n in self.prog.order if not self.pops[n].is_input]
        if self.prog.schedule == "step":
            return [(order, True)]
        g = nx.DiGraph()
        g.add_nodes_from(order)
        g.add_edges_from((q.plan.src, q.plan.dst) for q in self.projs if q.plan.src in g and q.plan.dst in g)
        cond = nx.condensation(g)
        pos = {n: i for i, n in enumerate(order)}
        blocks = []
        for comp in nx.lexicographical_topological_sort(cond, key=lambda c: min(pos[m] for m in cond.nodes[c]["members"])):
            members = sorted(cond.nodes[comp]["members"], key=pos.get)
            rec = len(members) > 1 or g.has_edge(members[0], members[0])
            blocks.append((members, rec))
        return blocks

    def _src(self, out: dict[str, torch.Tensor], unit, t: int | None) -> torch.Tensor:
        """Source values for ``unit`` at step ``t`` ([1, B, n]) or for all steps (``t`` None), delayed."""
        pl = unit.plan
        lag = pl.delay + (1 if pl.prev else 0)
        seq = out[pl.src]
        if t is None:
            if lag == 0:
                return seq
            return torch.cat([seq.new_zeros(min(lag, seq.shape[0]), *seq.shape[1:]), seq[:-lag]])
        i = t - lag
        return seq[i:i + 1] if i >= 0 else seq.new_zeros(1, *seq.shape[1:])

    def run(self, inputs: dict[str, torch.Tensor]) -> SimResult:
        T, B = next(iter(inputs.values())).shape[:2]
        out: dict[str, torch.Tensor] = {}
        for n, p in self.pops.items():
            out[n] = inputs[n].reshape(T, B, p.size).to(torch.float32) if p.is_input else torch.zeros(T, B, p.size)
        for members, stepwise in self.blocks:
            if not stepwise:
                n = members[0]
                total = self._sum([u.apply(self._src(out, u, None)) for u in self.incoming[n]], n, T, B)
                out[n], _ = self.models[n].run(total, None)
                continue
            inside = set(members)
            ext: dict[str, Any] = {}
            if self.prog.schedule == "scc":
                for n in members:
                    units = [u for u in self.incoming[n] if u.plan.src not in inside]
                    if self._gated(n):
                        ext[n] = [u.apply(self._src(out, u, None)) for u in units]
                    elif units:
                        ext[n] = self._sum([u.apply(self._src(out, u, None)) for u in units], n, T, B)
            if len(members) == 1 and self._compiled_loop(members[0], ext.get(members[0]), out, T, B):
                continue
            states: dict[str, Any] = {n: None for n in members}
            for t in range(T):
                for n in members:
                    units = [u for u in self.incoming[n] if self.prog.schedule == "step" or u.plan.src in inside]
                    if self._gated(n):
                        out[n][t], states[n] = self._egru_step(n, units, ext.get(n, []), out, t, states[n], B)
                        continue
                    parts = [u.apply(self._src(out, u, t)) for u in units]
                    if n in ext:
                        parts = [ext[n][t:t + 1], *parts]
                    total = self._sum(parts, n, 1, B)
                    y, states[n] = self.models[n].run(total, states[n])
                    out[n][t] = y[0]
        counters, flows = self._count(out, T, B)
        return SimResult(out, counters, flows)

    def _compiled_loop(self, n: str, ext: torch.Tensor | None, out: dict[str, torch.Tensor], T: int, B: int) -> bool:
        """Run a recurrent LIF / CuBa population with one event-driven self-loop projection (fp32, scalar
        parameters, no bias) through the compiled loop (:mod:`neuromap.neurons.recurrent`) in one call, its
        external input ``ext`` ``[T, B, n]`` precomputed; False (nothing done) when the block does not qualify.
        The PE counters and timing come from the spikes afterwards (:meth:`_count`), as for the step loop.

        s16.15 never qualifies: its PE code is integer arithmetic - state in s16.15 saturated to int32 after
        each operation, decays as u0.31 products rounded to nearest (ties up), weights quantised per projection
        to ``weight_bits`` with an exponent and each step's int64 sum shifted back with rounding - while the
        compiled loop computes ``v = beta v + ...`` in float32 / float64, whose rounding and missing
        saturation give other spikes. That would take an integer variant of the loop, which does not exist."""
        from neuromap.neurons import recurrent
        from neuromap.neurons.functional import initial_state

        params, units = fp32_lif_params(self.models[n]), self.incoming[n]
        loops = [u for u in units if u.plan.src == n]
        if (self.fix or self.prog.schedule != "scc" or params is None or len(loops) != 1
                or recurrent.unsupported(params, torch.float32, torch.device("cpu"))):
            return False
        plan = loops[0].plan
        lag = plan.delay + (1 if plan.prev else 0)
        if not isinstance(loops[0], _Proj) or plan.engine != "event" or plan.bias is not None or lag < 1:
            return False
        size = self.pops[n].size
        W = sp.identity(size, format="csr", dtype=np.float32) if plan.kind == "identity" else sp.csr_matrix(
            np.asarray(plan.weight, dtype=np.float32) if isinstance(plan.weight, np.ndarray) else plan.weight)
        fan = recurrent.FanOut.from_csr(W, None if lag == 1 else np.full(W.nnz, lag))
        drive = None if ext is None else ext.to(torch.float32).contiguous()
        run = recurrent.run(fan, params, initial_state(params, (B, size)), T, drive)
        out[n] = run.raster.to(torch.float32)
        return True

    def _egru_step(self, n, units, ext_parts, out, t, state, B):
        model = self.models[n]
        H = self.pops[n].size
        gx = [e[t] for e in ext_parts]
        gh = []
        for u in units:
            v = u.apply(self._src(out, u, t))[0]
            (gh if u.role == "recurrent" else gx).append(v)
        zero = torch.zeros(B, 3 * H)
        gx_t = _tree_sum(gx) if gx else zero
        gh_t = _tree_sum(gh) if gh else zero
        if state is None:
            state = (torch.zeros(B, H),)
        y, state = model.step(gx_t, gh_t, state)
        return y, state

    def _sum(self, parts: list[torch.Tensor], n: str, T: int, B: int) -> torch.Tensor:
        size = self.pops[n].size
        if not parts:
            return torch.zeros(T, B, size, dtype=torch.int64 if self.fix else torch.float32)
        total = _tree_sum(parts)
        return nx_.sat32(total) if self.fix else total

    # --------------------------------------------------------------------------------------- counters
    def _count(self, out: dict[str, torch.Tensor], T: int, B: int) -> tuple[dict[str, np.ndarray], sp.csr_matrix]:
        prog = self.prog
        C = prog.n_cores
        TB = T * B
        cnt = {k: np.zeros((TB, C)) for k in COUNTERS}
        flows = sp.csr_matrix((C, C))
        events = {}
        for n, p in self.pops.items():
            e = (out[n].reshape(TB, p.size) != 0).numpy()
            events[n] = sp.csr_matrix(e.astype(np.float32))
        for n, p in self.pops.items():
            cores = prog.core_of[n]
            hot = sp.csr_matrix((np.ones(p.size), (np.arange(p.size), cores)), shape=(p.size, C))
            if not p.is_input:
                cnt["neuron_updates"] += np.bincount(cores, minlength=C)[None, :]
            if n in prog.dest_cores:
                E = events[n]
                cnt["packets_out"] += (E @ hot).toarray()
                cnt["packets_in"] += (E @ prog.dest_cores[n]).toarray()
                per_neuron = np.asarray(E.sum(axis=0)).ravel()
                flows = flows + (hot.T @ sp.diags(per_neuron) @ prog.dest_cores[n])
        for q in self.projs:
            pl = q.plan
            lag = pl.delay + (1 if pl.prev else 0)
            if pl.engine == "mla":
                rows = np.bincount(prog.core_of[pl.dst], minlength=C) * q.n_src
                active = np.asarray(pl.synapses_to_core.sum(axis=0)).ravel() > 0
                cnt["mla_macs"] += (rows * active)[None, :]
                continue
            E = _lagged(events[pl.src], lag, T, B)
            cnt["synops"] += (E @ pl.synapses_to_core).toarray()
            if pl.name in prog.spilled_row_bytes:
                cnt["dram_bytes"] += (E @ prog.spilled_row_bytes[pl.name]).toarray()
        engines = {q.plan.name: q.plan.engine for q in self.projs}
        for pe in prog.pes:  # MAC-array blocks in DRAM are streamed in once per step
            for name in pe.memory.spilled:
                if engines.get(name) == "mla":
                    cnt["dram_bytes"][:, pe.core] += pe.memory.synapse_rows_by_proj[name]
        return {k: v.reshape(T, B, C) for k, v in cnt.items()}, flows.tocsr()


def _lagged(E: sp.csr_matrix, lag: int, T: int, B: int) -> sp.csr_matrix:
    """Events emitted at step t are processed at t + lag (rows are (t, b) pairs, t-major)."""
    if lag == 0:
        return E
    if lag >= T:
        return sp.csr_matrix(E.shape)
    return sp.vstack([sp.csr_matrix((lag * B, E.shape[1])), E[: (T - lag) * B]]).tocsr()


def _tree_sum(parts: list[torch.Tensor]) -> torch.Tensor:
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total
