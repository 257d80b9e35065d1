"""Low-bit weights with quantization-aware training (QAT) for any model, recorded in the traced Graph.

    import neuromap as nm
    from neuromap import quantize
    quantize.quantize(model, bits=4)             # every Linear / Conv1d / Conv2d: LSQ quantise-dequantise weight
    nm.train.fit(model, data, ...)               # QAT: straight-through rounding, learned step sizes
    graph = nm.trace(model, example)             # weights = integer x scale; node.metadata["weight_bits"] = 4
    quantize.model_size_bits(model)              # {"weight_bits": ..., "float32_bits": ..., ...}

**Method** (Qiu et al., "Quantized Spike-driven Transformer", ICLR 2025, code bollossom/QSD-Transformer
``classification/quan_w.py``, which implements LSQ: Esser et al., "Learned Step Size Quantization",
ICLR 2020). For a weight ``W`` and a learned step ``s > 0`` (one per layer, or one per output channel)::

    W_q = s * round(clip(W / s, Q_n, Q_p))        Q_n = -2^(b-1), Q_p = 2^(b-1) - 1   (b bits, signed)

in the forward pass; backward: straight-through for ``round`` (gradient 1 inside ``[Q_n, Q_p]``, 0
outside, so a clipped weight gets no gradient) and LSQ's step gradient, scaled by
``g = 1 / sqrt(numel(W) * Q_p)``. ``s`` starts at ``2 mean|W| / sqrt(Q_p)`` (the reference code's
initialisation; it does so on the first training batch, here at :func:`quantize` time, from the same
weights; with per-channel steps the mean is over each channel, where the reference starts every
channel from the whole weight's mean). The reference's default is one step per output channel
(``kernel_wise``); the default here is one per layer, which Loihi's single weight exponent per
projection can take as it is (``per_channel=True`` for the reference's mode). Activations are not
quantised: the reference's activation quantiser is a no-op because spikes are already low-bit.

Options beyond the reference code, labelled as ours:

* ``symmetric=True``: ``Q_n = -Q_p`` (e.g. [-7, 7] at 4 bits). A sign-magnitude store (crossbar
  differential pairs, :mod:`neuromap.crossbar`) then needs ``b`` bits instead of ``b + 1``.
* ``bits=1``: the reference's formula gives the degenerate range [-1, 0] (and ``sqrt(Q_p) = 0``), so
  1 bit is binary ``W_q = s * sign(W)`` (``sign(0) = +1``; BinaryConnect, Courbariaux et al. 2015)
  with the straight-through estimator clipped to ``|W / s| <= 1`` and ``s`` initialised to
  ``mean|W|`` (the L2-optimal binary scale of XNOR-Net, Rastegari et al. 2016); integers {-1, +1}.

**In the Graph.** :func:`quantize` registers the quantiser as a ``torch.nn.utils.parametrize``
parametrization of ``weight``, so the module keeps its class (and its forward, e.g. the event-driven
:mod:`neuromap.synapses` layers) and ``module.weight`` *is* the de-quantised tensor. The tracer copies
the parametrization's :meth:`LSQWeight.graph_metadata` into the synaptic node's metadata::

    weight_bits   b                     weight_qmin / weight_qmax   the integer range
    weight_scale  [C_out] float64       one step per output row (per-layer: repeated)
    weight_quantizer "lsq" | "binary"

so that ``node.weight == integers * weight_scale`` row by row (a BatchNorm folded into the layer
multiplies its row's scale too: the integers stay). It survives ``save`` / ``load`` and reaches the
netlist (``Projection.meta["node_metadata"]``); :func:`grid_integers` recovers the integers there, and
the Loihi and crossbar backends consume them as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

QUANTIZABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)
BITS = (1, 2, 3, 4, 5, 6, 7, 8)
# node.metadata keys (see the module docstring)
BITS_KEY, QMIN_KEY, QMAX_KEY, SCALE_KEY, KIND_KEY = (
    "weight_bits", "weight_qmin", "weight_qmax", "weight_scale", "weight_quantizer")
GRID_TOLERANCE = 1e-3  # |W / scale - integer| allowed (float32 rounding of integer x scale is ~1e-7)


class GridError(ValueError):
    """Weights that should lie on their recorded integer grid do not (or the record is malformed)."""


def quant_range(bits: int, symmetric: bool = False) -> tuple[int, int]:
    """The integer range ``(Q_n, Q_p)`` of ``bits``-bit weights (1 bit: binary ``(-1, 1)``, no zero)."""
    if isinstance(bits, bool) or bits not in BITS:
        raise ValueError(f"bits must be one of {list(BITS)}, got {bits!r}")
    if bits == 1:
        return -1, 1
    qp = 2 ** (bits - 1) - 1
    return (-qp if symmetric else -qp - 1), qp


def _grad_scale(x: torch.Tensor, g: float) -> torch.Tensor:
    """``x`` in the forward pass, gradient times ``g`` in the backward pass (LSQ)."""
    return (x - x * g).detach() + x * g


def _round_pass(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` forward, identity backward (straight-through)."""
    return (x.round() - x).detach() + x


def _sign_pass(x: torch.Tensor) -> torch.Tensor:
    """``sign(x)`` with ``sign(0) = +1`` forward; gradient 1 where ``|x| <= 1`` (clipped STE)."""
    hard = torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))
    soft = x.clamp(-1.0, 1.0)
    return (hard - soft).detach() + soft


class LSQWeight(nn.Module):
    """The weight quantiser (a ``parametrize`` parametrization; see the module docstring).

    Args:
        weight: the float weight ``[C_out, ...]`` it will quantise (sets the initial step).
        bits: 1..8.
        per_channel: one step per output channel (the reference's ``kernel_wise`` mode) or one per layer.
        symmetric: ``Q_n = -Q_p`` (ours; see the module docstring).
    """

    def __init__(self, weight: torch.Tensor, bits: int = 4, per_channel: bool = False, symmetric: bool = False) -> None:
        super().__init__()
        self.bits, self.per_channel, self.symmetric = int(bits), bool(per_channel), bool(symmetric)
        self.qmin, self.qmax = quant_range(bits, symmetric)
        w = weight.detach().float()
        mean_abs = w.abs().reshape(w.shape[0], -1).mean(1) if per_channel else w.abs().mean().reshape(1)
        init = mean_abs if bits == 1 else 2.0 * mean_abs / math.sqrt(self.qmax)
        self.scale = nn.Parameter(init.clamp_min(1e-8))
        self.rows = int(w.shape[0])
        self.grad_factor = 1.0 / math.sqrt(w.numel() * self.qmax)

    def _step(self, w: torch.Tensor, grad: bool = True) -> torch.Tensor:
        s = self.scale.abs().clamp_min(1e-12)  # a step never crosses zero
        s = _grad_scale(s, self.grad_factor) if grad else s.detach()
        return s.reshape(-1, *([1] * (w.dim() - 1))) if self.per_channel else s.reshape(())

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        s = self._step(w)
        q = _sign_pass(w / s) if self.bits == 1 else _round_pass((w / s).clamp(self.qmin, self.qmax))
        return q * s

    @torch.no_grad()
    def integers(self, w: torch.Tensor) -> torch.Tensor:
        """The integer weights (int64, same shape as ``w``): ``W_q = integers * step``."""
        s = self._step(w, grad=False)
        if self.bits == 1:
            return torch.where(w >= 0, 1, -1).to(torch.int64)
        return (w / s).clamp(self.qmin, self.qmax).round().to(torch.int64)

    @torch.no_grad()
    def row_scale(self, rows: int) -> np.ndarray:
        """The step of every output row (float64 ``[rows]``)."""
        s = self.scale.detach().abs().clamp_min(1e-12).double().cpu().numpy()
        return np.broadcast_to(s, (rows,)).copy() if not self.per_channel else s.copy()

    def graph_metadata(self) -> dict[str, Any]:
        """What the tracer records on the synaptic node (see the module docstring)."""
        return {BITS_KEY: self.bits, QMIN_KEY: self.qmin, QMAX_KEY: self.qmax, SCALE_KEY: self.row_scale(self.rows),
                KIND_KEY: "binary" if self.bits == 1 else "lsq"}

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, range=[{self.qmin}, {self.qmax}], "
                f"{'per-channel' if self.per_channel else 'per-layer'} step")


# --------------------------------------------------------------------------------------------- models
def quantizer(module: nn.Module) -> LSQWeight | None:
    """The :class:`LSQWeight` of ``module.weight``, or None."""
    if not parametrize.is_parametrized(module, "weight"):
        return None
    return next((p for p in module.parametrizations.weight if isinstance(p, LSQWeight)), None)


def quantized_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module, LSQWeight]]:
    """``(name, module, quantiser)`` of every quantised layer of ``model``, in module order."""
    for name, m in model.named_modules():
        q = quantizer(m)
        if q is not None:
            yield name, m, q


def quantize(model: nn.Module, bits: int | Mapping[str, int] = 4, per_channel: bool = False, symmetric: bool = False,
             skip: tuple[str, ...] = ()) -> nn.Module:
    """Quantise every ``Linear`` / ``Conv1d`` / ``Conv2d`` weight of ``model`` in place (QAT).

    Args:
        bits: one width for all layers, or ``{layer name: bits}`` (layers not named stay float).
        per_channel: one learned step per output channel instead of one per layer.
        symmetric: integer range ``[-Q_p, Q_p]`` instead of ``[-Q_p - 1, Q_p]`` (see the module docstring).
        skip: layer names to leave in float (e.g. the first or the last layer).

    Returns ``model`` (its layers keep their classes; ``layer.weight`` is the de-quantised weight).
    Raises ``ValueError`` for a layer that is already quantised, a bit width outside 1..8, or a model
    without a layer to quantise.
    """
    named = dict(model.named_modules())
    if isinstance(bits, Mapping):
        unknown = sorted(set(bits) - set(named))
        if unknown:
            raise ValueError(f"quantize: no layer named {unknown}; layers: {sorted(n for n in named if n)}")
        plan = {n: b for n, b in bits.items() if n not in skip}
    else:
        plan = {n: bits for n, m in named.items() if isinstance(m, QUANTIZABLE) and n not in skip}
    done = 0
    for name, b in plan.items():
        m = named[name]
        if not isinstance(m, QUANTIZABLE):
            raise ValueError(f"quantize: layer {name!r} is a {type(m).__name__}; only {[c.__name__ for c in QUANTIZABLE]}")
        if quantizer(m) is not None:
            raise ValueError(f"quantize: layer {name!r} is already quantised ({quantizer(m).extra_repr()})")
        q = LSQWeight(m.weight, b, per_channel, symmetric).to(m.weight.device)
        parametrize.register_parametrization(m, "weight", q)
        done += 1
    if done == 0:
        raise ValueError(f"quantize: {type(model).__name__} has no Linear / Conv1d / Conv2d layer to quantise")
    return model


def model_size_bits(model: nn.Module) -> dict[str, int | float]:
    """Weight storage of ``model``: ``weight_bits`` (quantised layers at their width, the rest of the
    parameters - float layers, biases, BatchNorm, steps - at 32 bits), ``float32_bits`` (everything at
    32 bits) and their ratio ``compression``. Counts parameters only (no running statistics)."""
    quant_ids, quant_bits = set(), 0
    for _, m, q in quantized_layers(model):
        original = m.parametrizations.weight.original
        quant_ids.add(id(original))
        quant_bits += original.numel() * q.bits
    total = sum(p.numel() for p in model.parameters())
    other = sum(p.numel() for p in model.parameters() if id(p) not in quant_ids)
    scales = sum(q.scale.numel() for _, _, q in quantized_layers(model))
    float_bits = 32 * (total - scales)  # the float model has no steps
    bits = quant_bits + 32 * other
    return {"weight_bits": int(bits), "float32_bits": int(float_bits), "compression": float_bits / bits,
            "quantized_parameters": int(sum(m.parametrizations.weight.original.numel()
                                            for _, m, _ in quantized_layers(model)))}


# --------------------------------------------------------------------------------------------- graphs
def grid_of(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The recorded grid ``{bits, qmin, qmax, scale}`` of a node's / projection's metadata, or None.
    A projection's metadata is looked up under ``"node_metadata"`` (see :func:`neuromap.graph.lower`)."""
    if not metadata:
        return None
    md = metadata.get("node_metadata", metadata)
    if not isinstance(md, Mapping) or BITS_KEY not in md:
        return None
    try:
        return {"bits": int(md[BITS_KEY]), "qmin": int(md[QMIN_KEY]), "qmax": int(md[QMAX_KEY]),
                "scale": np.asarray(md[SCALE_KEY], dtype=np.float64).reshape(-1)}
    except (KeyError, TypeError, ValueError) as exc:
        raise GridError(f"malformed weight-grid metadata {sorted(md)}: {exc}") from exc


def sign_magnitude_bits(qmin: int, qmax: int) -> int:
    """Bits of a sign-magnitude store that holds every integer of ``[qmin, qmax]``
    (``1 + ceil(log2(max|q| + 1))``: 4-bit ``[-8, 7]`` needs 5, symmetric ``[-7, 7]`` 4, binary 2)."""
    return 1 + math.ceil(math.log2(max(abs(qmin), abs(qmax)) + 1))


def grid_integers(weight: Any, metadata: Mapping[str, Any] | None, name: str = "?") -> tuple[np.ndarray, dict] | None:
    """``(integers, grid)`` of a weight whose metadata records a grid (None when it records none):
    ``integers = rint(W / scale_row)`` (int64, shape of ``W``; rows = axis 0). Raises :class:`GridError`
    naming ``name`` when ``W`` is not within :data:`GRID_TOLERANCE` of that grid or leaves ``[qmin, qmax]``."""
    grid = grid_of(metadata)
    if grid is None:
        return None
    w = np.asarray(weight.toarray() if hasattr(weight, "toarray") else weight, dtype=np.float64)
    scale = grid["scale"]
    if scale.size != w.shape[0] or np.any(~np.isfinite(scale)) or np.any(scale <= 0):
        raise GridError(f"{name}: {scale.size} recorded weight steps for {w.shape[0]} rows (or a step <= 0)")
    ratio = w / scale.reshape(-1, *([1] * (w.ndim - 1)))
    ints = np.rint(ratio)
    dev = float(np.max(np.abs(ratio - ints))) if w.size else 0.0
    if dev > GRID_TOLERANCE:
        raise GridError(f"{name}: weights are not on their recorded {grid['bits']}-bit grid (max |W/step - integer| "
                        f"= {dev:.3g} > {GRID_TOLERANCE}); was the graph edited after tracing?")
    if w.size and (ints.min() < grid["qmin"] or ints.max() > grid["qmax"]):
        raise GridError(f"{name}: integers [{int(ints.min())}, {int(ints.max())}] leave the recorded range "
                        f"[{grid['qmin']}, {grid['qmax']}]")
    return ints.astype(np.int64), grid


def graph_weight_bits(graph: Any) -> dict[str, int]:
    """``{node name: bits}`` of the synaptic nodes of a Graph that record a weight grid."""
    return {n: int(node.metadata[BITS_KEY]) for n, node in graph.nodes.items()
            if isinstance(getattr(node, "metadata", None), dict) and BITS_KEY in node.metadata}
