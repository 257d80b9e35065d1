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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch

from neuromap.graph.synapses import conv_geometry
from neuromap.netlist import ConvGeometry

from .base import RunResult
from .torch import NodeOp, TorchCompiled, graph_problems

NAME = "crossbar"
DEFAULT_TARGET = "crossbar-pcm"


@dataclass
class CrossbarRunResult(RunResult):
    counters: dict[str, dict[str, int]] = field(default_factory=dict)


class _CrossbarOp(NodeOp):
    """One synaptic node on crossbar tiles: ``x [T, B, *in] -> y [T, B, *out]``."""

    def __init__(self, name, fi, fo, engine, conv: bool, conv1d: bool = False) -> None:
        super().__init__(name, fi, fo)
        self.engine, self.conv, self.conv1d = engine, conv, conv1d

    def forward(self, x: torch.Tensor, state: Any):
        if not self.conv:
            return self.engine(x), state
        xm = self.merged(x)
        if self.conv1d:
            xm = xm.unsqueeze(2)  # [N, C, 1, L]
        y = self.engine(xm)
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
            if isinstance(node, (nir.Affine, nir.Linear)):
                bias = torch.as_tensor(np.asarray(node.bias, dtype=np.float32)) if isinstance(node, nir.Affine) else None
                engine = compile_matrix(torch.as_tensor(np.asarray(node.weight, dtype=np.float32)), config, bias=bias,
                                        seed=self.seed + 1009 * k, t_inference=self.t_inference, name=name)
                self.ops[name] = _CrossbarOp(name, fi, fo, engine, conv=False)
            elif isinstance(node, (nir.Conv1d, nir.Conv2d)):
                geo, kernel, conv1d = _geometry(node, fi, fo)
                b = np.asarray(node.bias, dtype=np.float32)
                bias = None if np.all(b == 0) else torch.as_tensor(b)
                engine = compile_conv(kernel, geo, config, bias=bias, seed=self.seed + 1009 * k,
                                      t_inference=self.t_inference)
                self.ops[name] = _CrossbarOp(name, fi, fo, engine, conv=True, conv1d=conv1d)
            else:
                continue
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

    def unsupported(self, graph) -> list[str]:
        return graph_problems(graph)

    def compile(self, graph, target: Any = DEFAULT_TARGET, seed: int = 0, t_inference: float = 0.0,
                ideal: bool = False, **overrides: Any) -> CrossbarCompiled:
        from neuromap.crossbar import CrossbarConfig

        from .base import BackendError

        problems = self.unsupported(graph)
        if problems:
            raise BackendError("crossbar backend cannot run this graph:\n  " + "\n  ".join(problems))
        if t_inference < 0:
            raise ValueError(f"t_inference must be >= 0 seconds after programming, got {t_inference}")
        if ideal:
            from neuromap import hardware

            t = hardware.load(target or DEFAULT_TARGET)
            config = CrossbarConfig.ideal(int(t.get("tile.rows")), int(t.get("tile.cols")), **overrides)
        else:
            config = CrossbarConfig.from_target(target or DEFAULT_TARGET, **overrides)
        return CrossbarCompiled(graph, config, seed, t_inference)


BACKEND = CrossbarBackend()
