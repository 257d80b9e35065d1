"""Swap the synaptic layers of an ``nn.Module`` (e.g. ``SpikingMLP``) for crossbar layers.

    xmodel = to_crossbar(model, CrossbarConfig.from_target("crossbar-pcm"), seed=3)
    xmodel.eval(); out = xmodel(x)                 # runs on programmed PCM tiles
    read_at(xmodel, 86400.0)                       # one day later (same devices)
    layer_counters(xmodel)                         # {"0": {...}, "2": {...}}
"""

from __future__ import annotations

import copy

from torch import nn

from .config import CrossbarConfig
from .layers import CrossbarConv2d, CrossbarLinear, CrossbarModule


def crossbar_layers(model: nn.Module) -> list[tuple[str, CrossbarModule]]:
    """``(name, layer)`` of every crossbar layer of ``model``, in module order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, CrossbarModule)]


def to_crossbar(model: nn.Module, config: CrossbarConfig, seed: int = 0, t_inference: float = 0.0,
                program: bool = True) -> nn.Module:
    """A deep copy of ``model`` with every ``nn.Linear`` (and ``nn.Conv2d``) replaced by a crossbar
    layer sharing ``config``; programmed with per-layer seeds derived from ``seed`` unless
    ``program=False`` (e.g. before hardware-aware training). The original model is untouched."""
    new = copy.deepcopy(model)
    k = 0
    for _name, module in list(new.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                rep = CrossbarLinear.from_linear(child, config, hwa_seed=seed * 977 + k)
            elif isinstance(child, nn.Conv2d):
                rep = CrossbarConv2d.from_conv(child, config, hwa_seed=seed * 977 + k)
            else:
                continue
            rep.train(child.training)
            setattr(module, child_name, rep)
            k += 1
    if k == 0:
        raise ValueError(f"{type(model).__name__} has no nn.Linear / nn.Conv2d layer to put on a crossbar")
    if program:
        program_model(new, seed, t_inference)
    return new


def program_model(model: nn.Module, seed: int = 0, t_inference: float = 0.0) -> nn.Module:
    """(Re-)program every crossbar layer from its current weights; layer ``i`` uses seed ``seed * 1009 + i``."""
    for i, (_, layer) in enumerate(crossbar_layers(model)):
        layer.program(seed * 1009 + i, t_inference)
    return model


def read_at(model: nn.Module, t_inference: float, read_seed: int = 0) -> nn.Module:
    """Re-read every programmed crossbar layer ``t_inference`` s after programming."""
    for _, layer in crossbar_layers(model):
        layer.read_at(t_inference, read_seed)
    return model


def set_config(model: nn.Module, config: CrossbarConfig) -> nn.Module:
    """Give every crossbar layer a new config (re-program afterwards)."""
    for _, layer in crossbar_layers(model):
        layer.config = config
    return model


def layer_counters(model: nn.Module) -> dict[str, dict[str, int]]:
    """Per-layer activity counts (MVMs, tile reads, ADC/DAC conversions, MACs, ...)."""
    return {name: layer.counters.as_dict() for name, layer in crossbar_layers(model)}


def reset_counters(model: nn.Module) -> None:
    for _, layer in crossbar_layers(model):
        layer.reset_counters()


def tile_summary(model: nn.Module) -> dict[str, dict]:
    """Per-layer tile layouts (tile count, utilisation) of a programmed model."""
    return {name: [a.layout.as_dict() for a in layer.arrays] for name, layer in crossbar_layers(model)}
