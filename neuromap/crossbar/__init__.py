"""Memristive crossbars: device models (PCM, RRAM), tiling, periphery (DAC/ADC, IR drop, ramp-ADC
activation), crossbar layers with per-layer activity counters, and hardware-aware training.

    from neuromap.crossbar import CrossbarConfig, to_crossbar
    cfg = CrossbarConfig.from_target("crossbar-pcm")
    xmodel = to_crossbar(model, cfg, seed=0, t_inference=3600.0).eval()

Modules: :mod:`.devices` (PCMModel, RRAMModel, stuck-at faults), :mod:`.tiles` (layout, differential
pairs, quantisation, im2col), :mod:`.periphery`, :mod:`.config`, :mod:`.array` (one programmed
matrix: ``compile_matrix``), :mod:`.layers` (nn.Modules, ``compile_conv``), :mod:`.convert`.
"""

from .array import Counters, CrossbarArray, compile_matrix
from .config import CrossbarConfig
from .convert import crossbar_layers, layer_counters, program_model, read_at, reset_counters, tile_summary, to_crossbar
from .devices import PCMModel, RRAMModel, device_from_target, stuck_at
from .layers import CrossbarConv2d, CrossbarLinear, compile_conv, hwa_weight_noise
from .periphery import RampADC, adc, input_planes, ir_drop_mvm
from .tiles import ConductanceMap, TileLayout, conv_matrix, to_conductances

__all__ = [
    "CrossbarConfig", "CrossbarArray", "Counters", "compile_matrix", "compile_conv",
    "CrossbarLinear", "CrossbarConv2d", "hwa_weight_noise",
    "PCMModel", "RRAMModel", "device_from_target", "stuck_at",
    "TileLayout", "ConductanceMap", "to_conductances", "conv_matrix",
    "RampADC", "adc", "input_planes", "ir_drop_mvm",
    "to_crossbar", "program_model", "read_at", "layer_counters", "reset_counters", "crossbar_layers", "tile_summary",
]
