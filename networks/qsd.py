"""Quantized Spike-driven Transformer (QSD-Transformer; Qiu et al., ICLR 2025, code bollossom/QSD-Transformer)
on neuromap's Spike-driven Transformer V1.

The QSD recipe on a float SDT, each piece in the library where it applies to any model:

* low-bit weights with QAT (LSQ) on every Linear / Conv: :func:`neuromap.quantize.quantize`;
* the information-enhanced LIF (integer spikes in training, binary over virtual steps at inference) as
  the neuron of the quantised spike-driven self-attention (Q-SDSA): :class:`neuromap.neurons.IELIF`,
  put into the SDT's SDSA modules by :func:`use_ielif_attention`;
* distillation from the float teacher: :mod:`neuromap.distill`.

The reference code builds QSD on Meta-SpikeFormer (SDT V2, SDSA-3 with RepConv); here it is applied
to neuromap's SDT V1 (SDSA-1: ``Y = Q * N(sum_n K[n] V[n])``), whose attention neuron ``N`` becomes
the IE-LIF. :func:`qsd_sdt` does all of it on a copy of a (trained) float SDT.
"""

from __future__ import annotations

import copy

from torch import nn

from neuromap.neurons import IELIF
from neuromap.quantize import quantize

from .sdt import SDSA, SpikeDrivenTransformer

ATTENTION_LEVELS = 4  # virtual time steps per attention spike in the reference implementation


def use_ielif_attention(model: nn.Module, levels: int = ATTENTION_LEVELS, out_scale: float = 1.0) -> nn.Module:
    """Replace the neuron of every :class:`~networks.sdt.SDSA` in ``model`` by an IE-LIF with the same
    membrane (decay, gain; its threshold becomes the spike quantum) and ``levels`` integer spike
    levels; in place, returns ``model``. Raises ``ValueError`` when ``model`` has no SDSA."""
    found = 0
    for m in model.modules():
        if isinstance(m, SDSA):
            if isinstance(m.neuron, IELIF):
                raise ValueError("use_ielif_attention: the attention neuron is already an IE-LIF")
            m.neuron = IELIF.like(m.neuron, levels=levels, out_scale=out_scale)
            found += 1
    if not found:
        raise ValueError(f"use_ielif_attention: {type(model).__name__} has no SDSA module")
    return model


def qsd_sdt(teacher: SpikeDrivenTransformer, bits: int = 4, levels: int | None = ATTENTION_LEVELS,
            per_channel: bool = False, symmetric: bool = False) -> SpikeDrivenTransformer:
    """A QSD student from a float SDT: a deep copy (the teacher is untouched) with ``bits``-bit LSQ
    weights initialised from the teacher's and, unless ``levels`` is None, IE-LIF attention neurons."""
    student = copy.deepcopy(teacher)
    if levels is not None:
        use_ielif_attention(student, levels)
    return quantize(student, bits=bits, per_channel=per_channel, symmetric=symmetric)
