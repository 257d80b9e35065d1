"""``backends.crossbar``: any Graph with its synaptic layers on memristive crossbar tiles.

The float reference schedule (:mod:`neuromap.backends.torch`) runs the graph; every Affine / Linear
/ Conv node is replaced by a programmed crossbar (:mod:`neuromap.crossbar`: weights as conductance
pairs on tiles of the target's size, device noise, drift to ``t_inference`` seconds after
programming, DAC / ADC quantisation); neurons stay digital. Spiking inputs drive the rows as binary
DAC pulses. ``RunResult.counters`` holds, per synaptic node (= netlist projection name), the tile
reads, DAC and ADC conversions and cell MACs that the crossbar energy model prices.

    compiled = backends.get("crossbar").compile(graph, "crossbar-pcm", seed=0, t_inference=3600.0)
    result = compiled.run(x)

``CrossbarConfig.ideal`` (``ideal=True``) gives a noise-free, infinite-precision crossbar whose
outputs equal ``backends.torch`` exactly.

Quantisation-aware-trained nodes (:mod:`neuromap.quantize`: the node records a bit width and an
integer grid ``W = q x step_row``) on a target that stores quantised weights (``weight_bits``, bit
slices of ``cell_bits``): the integers ``q`` are programmed as they are (magnitude codes ``|q|``,
``weight_step = 1``), in the fewest sign-magnitude bits that hold the recorded range (so fewer bit
slices than the target's full width), and each output is multiplied by its row's step after the ADC,
then the bias is added (both digital). A range wider than the target's ``weight_bits`` raises
:class:`~neuromap.backends.base.BackendError` naming the node. Analog targets map weights
proportionally (no rounding), so the grid needs nothing there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch

from neuromap.graph.matrices import conv_geometry
from neuromap.netlist import ConvGeometry
from neuromap.quantize import GridError, grid_integers, sign_magnitude_bits

from .base import BackendError, RunResult, load_target
from .torch import NodeOp, TorchCompiled, graph_problems

NAME = "crossbar"
DEFAULT_TARGET = "crossbar-pcm"


@dataclass
class CrossbarRunResult(RunResult):
    counters: dict[str, dict[str, int]] = field(default_factory=dict)


class _CrossbarOp(NodeOp):
    """One synaptic node on crossbar tiles: ``x [T, B, *in] -> y [T, B, *out]``."""

    def __init__(self, name, fi, fo, engine, conv: bool, conv1d: bool = False,
                 row_scale: torch.Tensor | None = None, row_bias: torch.Tensor | None = None) -> None:
        super().__init__(name, fi, fo)
        self.engine, self.conv, self.conv1d = engine, conv, conv1d
        self.row_scale, self.row_bias = row_scale, row_bias  # digital, after the ADC (integer-grid weights)

    def _digital(self, y: torch.Tensor, axis: int) -> torch.Tensor:
        if self.row_scale is None:
            return y
        shape = [1] * y.dim()
        shape[axis] = -1
        y = y * self.row_scale.to(y.dtype).reshape(shape)
        return y if self.row_bias is None else y + self.row_bias.to(y.dtype).reshape(shape)

    def forward(self, x: torch.Tensor, state: Any):
        if not self.conv:
            return self._digital(self.engine(x), -1), state
        xm = self.merged(x)
        if self.conv1d:
            xm = xm.unsqueeze(2)  # [N, C, 1, L]
        y = self._digital(self.engine(xm), 1)
        if self.conv1d:
            y = y.squeeze(2)
        return self.split(y, x), state

    def counters(self) -> dict[str, int]:
        arrays = [self.engine] if not self.conv else list(self.engine.arrays)
        total: dict[str, int] = {}
        for arr in arrays:
            for k, v in arr.counters.as_dict().items():
                total[k] = total.get(k, 0) + v
        return total

    def reset(self) -> None:
        for arr in ([self.engine] if not self.conv else list(self.engine.arrays)):
            arr.counters.reset()


def _geometry(node, fi, fo) -> tuple[ConvGeometry, torch.Tensor, bool]:
    geo, w = conv_geometry(node, fi, fo)
    return geo, torch.from_numpy(np.asarray(w, dtype=np.float32)), isinstance(node, nir.Conv1d)


def _grid(name: str, node, config) -> tuple[np.ndarray, np.ndarray, Any] | None:
    """``(integers, row steps, config)`` of a quantisation-aware-trained node on a target that stores
    quantised weights, or None (no grid recorded, or an analog target: nothing is rounded there)."""
    if config.weight_bits is None:
        return None
    try:
        found = grid_integers(node.weight, node.metadata, f"node {name!r}")
    except GridError as exc:
        raise BackendError(f"crossbar backend: {exc}") from exc
    if found is None:
        return None
    ints, grid = found
    need = sign_magnitude_bits(grid["qmin"], grid["qmax"])
    if need > config.weight_bits:
        raise BackendError(
            f"crossbar backend: node {name!r} has {grid['bits']}-bit QAT weights (integers in [{grid['qmin']}, "
            f"{grid['qmax']}]), which need {need} sign-magnitude bits; the target stores {config.weight_bits} "
            "(train with fewer bits or symmetric=True)")
    return ints, grid["scale"], config.replace(weight_bits=need, weight_step=1.0)


class CrossbarCompiled(TorchCompiled):
    """The graph with its synaptic nodes programmed onto crossbars."""

    def __init__(self, graph, config, seed: int = 0, t_inference: float = 0.0) -> None:
        from neuromap.crossbar import compile_conv, compile_matrix

        super().__init__(graph)
        self.config = config
        self.seed, self.t_inference = int(seed), float(t_inference)
        self.crossbar_nodes: list[str] = []
        for k, name in enumerate(self.order):
            node = graph.nodes[name]
            fi, fo = graph.shapes[name]
            if not isinstance(node, (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d)):
                continue
            cfg, weight, scale = config, np.asarray(node.weight, dtype=np.float32), None
            b = np.asarray(node.bias, dtype=np.float32) if getattr(node, "bias", None) is not None else None
            grid = _grid(name, node, config)
            if grid is not None:  # the integers on the tiles; step and bias applied digitally
                ints, scale, cfg = grid
                weight = ints.astype(np.float32)
            dense = isinstance(node, (nir.Affine, nir.Linear))
            skip_zero = not dense and b is not None and np.all(b == 0)  # as before: a zero conv bias is omitted
            bias = None if b is None or skip_zero or scale is not None else torch.as_tensor(b)
            post = {} if scale is None else {"row_scale": torch.as_tensor(scale, dtype=torch.float32),
                                             "row_bias": None if b is None else torch.as_tensor(b)}
            if dense:
                engine = compile_matrix(torch.as_tensor(weight), cfg, bias=bias, seed=self.seed + 1009 * k,
                                        t_inference=self.t_inference, name=name)
                self.ops[name] = _CrossbarOp(name, fi, fo, engine, conv=False, **post)
            else:
                geo, _, conv1d = _geometry(node, fi, fo)
                kernel = torch.as_tensor(weight.reshape(geo.out_shape[0], -1, *geo.kernel))
                engine = compile_conv(kernel, geo, cfg, bias=bias, seed=self.seed + 1009 * k,
                                      t_inference=self.t_inference)
                self.ops[name] = _CrossbarOp(name, fi, fo, engine, conv=True, conv1d=conv1d, **post)
            self.crossbar_nodes.append(name)

    def run(self, inputs: Any) -> CrossbarRunResult:
        for name in self.crossbar_nodes:
            self.ops[name].reset()
        base = super().run(inputs)
        counters = {}
        for name in self.crossbar_nodes:
            c = self.ops[name].counters()
            counters[name] = {**c, "cell_macs": c.get("macs", 0)}
        return CrossbarRunResult(outputs=base.outputs, records=base.records, wall_seconds=base.wall_seconds,
                                 backend=NAME, counters=counters)


class CrossbarBackend:
    """``backends.get("crossbar")``."""

    name = NAME
    default_target = DEFAULT_TARGET
    target_kinds = ("crossbar",)

    def unsupported(self, graph) -> list[str]:
        return graph_problems(graph)

    def compile(self, graph, target: Any = None, seed: int = 0, t_inference: float = 0.0,
                ideal: bool = False, **overrides: Any) -> CrossbarCompiled:
        from neuromap.crossbar import CrossbarConfig

        problems = self.unsupported(graph)
        if problems:
            raise BackendError("crossbar backend cannot run this graph:\n  " + "\n  ".join(problems))
        if t_inference < 0:
            raise ValueError(f"t_inference must be >= 0 seconds after programming, got {t_inference}")
        t = load_target(self, target)
        if ideal:
            config = CrossbarConfig.ideal(int(t.get("tile.rows")), int(t.get("tile.cols")), **overrides)
        else:
            config = CrossbarConfig.from_target(t, **overrides)
        return CrossbarCompiled(graph, config, seed, t_inference)


BACKEND = CrossbarBackend()
