"""Per-PE SRAM accounting (128 KB per PE on SpiNNaker2) and DRAM spilling of synapse rows.

What a PE holds (bytes; the layout is neuromap's model of a SpiNNaker-style PE program, the only
hardware figure is the SRAM size ``core.sram_bytes``):

* ``code``: the PE program (user-given ``code_bytes``; its size is not in the sources, default 0);
* ``neuron_state``: per neuron 4 bytes per word of the neuron registry's count
  (:meth:`neuromap.neurons.registry.NeuronModel.state_words`: v; + i for CuBa; + a for ALIF;
  + refractory counter; EGRU: c, y and the six gate pre-activations; + one word per parameter
  given per neuron) + 32 bytes of population constants per slice; an input neuron holds the one
  word the host writes each step;
* ``synapse_rows``: per incoming projection and source neuron with targets on the PE, a 4-byte row
  header plus either a dense row (``weight_bytes`` per local target) or a CSR row
  (``weight_bytes + 2`` index bytes per synapse), whichever is smaller (as the partitioner's
  memory model); MAC-array projections store the dense ``[local rows x sources]`` block;
* ``bias``: 4 bytes per local neuron per projection with a bias;
* ``routing``: 12 bytes (key, mask, row address) per source slice that sends to the PE (the master
  population table), plus 4 bytes per outgoing routing key;
* ``buffers``: the input ring buffers (4 bytes per local neuron per delay slot + 1) and a spike
  receive queue (``spike_queue`` packets of 4 bytes).

``weight_bytes`` is 4 in ``fp32`` mode (float weights, needed for bit-exactness) and 1 in ``s16.15``
mode (8-bit weights). When a PE's total exceeds the SRAM, synapse rows are moved to DRAM (largest
projection first) if ``allow_dram``; each received event then DMAs its row (bytes counted per step
for the timing model). Otherwise :class:`~neuromap.partition.DoesNotFit` is raised with the bytes.

:class:`PEMemoryModel` gives the partitioner the same layout per neuron and per slice (an upper
bound of what :func:`~.program.build` lays out), so a mapping made with it is one the program fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuromap.netlist import Netlist, Population, Projection
from neuromap.partition.errors import DoesNotFit
from neuromap.partition.split import Limits, synapses_per_neuron

from .neurons import dense_output

ROW_HEADER = 4
INDEX_BYTES = 2
MPT_ENTRY = 12
KEY_BYTES = 4
WORD = 4
SLICE_CONSTANTS = 32
SPIKE_QUEUE = 256  # packets a PE with neurons buffers (the receive queue)


def engine(proj: Projection, src: Population) -> str:
    """``"mla"``: a dense projection from graded values runs on the MAC array (dense block per step);
    ``"event"``: synaptic rows fetched per received event."""
    return "mla" if proj.kind == "dense" and dense_output(src) else "event"


@dataclass(frozen=True)
class PEMemoryModel:
    """The PE layout above as the partitioner's memory model (bits; see
    :class:`neuromap.partition.split.MemoryModel`).

    Per neuron: state words, input ring buffers, a bias word per projection with a bias, and per
    incoming projection its rows in the format that is cheaper for the whole projection (dense:
    ``weight_bytes`` per source with a synapse onto the population; CSR: ``weight_bytes + 2`` per
    synapse) or the MAC-array block. Both formats bound the row-wise minimum the program picks.
    Per slice: population constants, row headers (one per source neuron), code, the spike queue and
    a routing key. Per (source population slice, PE) pair sending to a PE: a master-population-table
    entry (the partitioner counts them from its exact connectivity).
    """

    weight_bytes: int
    code_bytes: int = 0

    def _row_bytes(self, net: Netlist, proj: Projection, pop: Population) -> np.ndarray:
        src = net.population(proj.src)
        if engine(proj, src) == "mla":
            return np.full(pop.size, src.size * self.weight_bytes, dtype=np.int64)
        fan_in = synapses_per_neuron(proj, pop)
        csr = fan_in * (self.weight_bytes + INDEX_BYTES)
        dense = np.full(pop.size, _sources(proj, src) * self.weight_bytes, dtype=np.int64)
        return dense if dense.sum() <= csr.sum() else csr

    def _bytes_per_neuron(self, net: Netlist, pop: Population) -> np.ndarray:
        out = np.full(pop.size, pop.model.state_words(pop.params) * WORD, dtype=np.int64)
        if pop.is_input:
            return out
        incoming = list(net.incoming(pop.name))
        out += WORD * (max((p.delay for p in incoming), default=0) + 1)
        for proj in incoming:
            out += self._row_bytes(net, proj, pop) + (WORD if proj.bias is not None else 0)
        return out

    def neuron_bits(self, net: Netlist, pop: Population, lim: Limits) -> np.ndarray:
        return 8 * self._bytes_per_neuron(net, pop)

    def _fixed_bytes(self, net: Netlist, pop: Population) -> int:
        b = self.code_bytes + (KEY_BYTES if any(True for _ in net.outgoing(pop.name)) else 0)
        if pop.is_input:  # a spike-source PE: its code and routing key only
            return b
        b += SLICE_CONSTANTS + SPIKE_QUEUE * WORD
        for proj in net.incoming(pop.name):
            if engine(proj, net.population(proj.src)) == "event":
                b += ROW_HEADER * _sources(proj, net.population(proj.src))
        return b

    def slice_bits(self, net: Netlist, pop: Population, lim: Limits) -> int:
        return 8 * self._fixed_bytes(net, pop)

    def source_bits(self, lim: Limits) -> int:
        return 8 * MPT_ENTRY


def _sources(proj: Projection, src: Population) -> int:
    """Source neurons with at least one synapse in ``proj`` (conv / identity: all of them)."""
    if proj.kind in ("dense", "sparse") and proj.weight is not None:
        fo = proj.fan_out()
        return int(np.count_nonzero(fo)) if not isinstance(fo, int) else src.size
    return src.size


@dataclass
class PEMemory:
    """SRAM use of one PE by part (bytes), what was spilled to DRAM, and the budget."""

    core: int
    parts: dict[str, int]
    budget: int
    synapse_rows_by_proj: dict[str, int] = field(default_factory=dict)
    spilled: list[str] = field(default_factory=list)
    dram_bytes: int = 0

    @property
    def sram_bytes(self) -> int:
        return int(sum(self.parts.values()))

    @property
    def fits(self) -> bool:
        return self.sram_bytes <= self.budget

    def to_dict(self) -> dict:
        return {"core": self.core, "sram_bytes": self.sram_bytes, "budget": self.budget, "parts": dict(self.parts),
                "spilled": list(self.spilled), "dram_bytes": self.dram_bytes}


def fit(mem: PEMemory, allow_dram: bool, who: str, target: str) -> PEMemory:
    """Spill synapse rows to DRAM until ``mem`` fits (if allowed), else raise ``DoesNotFit`` with the bytes."""
    if mem.fits:
        return mem
    if allow_dram:
        for proj, nbytes in sorted(mem.synapse_rows_by_proj.items(), key=lambda kv: -kv[1]):
            if mem.fits:
                break
            mem.parts["synapse_rows"] -= nbytes
            mem.spilled.append(proj)
            mem.dram_bytes += nbytes
        if mem.fits:
            return mem
    parts = ", ".join(f"{k} {v:,} B" for k, v in mem.parts.items() if v)
    hint = [f"PE {mem.core} holds {parts}"]
    if not allow_dram:
        hint.append("compile(..., allow_dram=True) to spill synapse rows to DRAM")
    hint.append("fewer neurons per PE (partition with a smaller core.memory_bits / more cores)")
    hint.append("numerics='s16.15' (8-bit weights)")
    raise DoesNotFit(who, "core.sram_bytes", float(mem.sram_bytes), float(mem.budget), hint, target)
