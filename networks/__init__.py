"""neuromap's model zoo (installed as ``neuromap.networks``)."""

from .egru import EGRU, CharLM, EGRUCell
from .lmu import L2MU, LMU, LMUClassifier, LMUFormer, LMUMemory
from .lsm import (
    LiquidStateMachine,
    Readout,
    Reservoir,
    column_scan_encode,
    maass_connectivity,
    random_connectivity,
    time_binned_counts,
)
from .metaspikformer import SDSA3, MetaSpikeFormer, RepConv, Stage
from .mlp import SpikingMLP
from .qsd import qsd_sdt, use_ielif_attention
from .sdt import SDSA, SpikeDrivenTransformer
from .sequence_digits import pixel_digits, rowwise_digits
from .spikegpt import SpikeGPT, SpikeGPTLM
from .spikformer import SSA, Spikformer, SpikingConvStem

__all__ = [
    "SpikingMLP",
    "SpikeDrivenTransformer",
    "SDSA",
    "qsd_sdt",
    "use_ielif_attention",
    "MetaSpikeFormer",
    "Stage",
    "SDSA3",
    "RepConv",
    "Spikformer",
    "SSA",
    "SpikingConvStem",
    "LMUMemory",
    "LMU",
    "LMUClassifier",
    "LMUFormer",
    "L2MU",
    "rowwise_digits",
    "pixel_digits",
    "EGRU",
    "EGRUCell",
    "CharLM",
    "SpikeGPT",
    "SpikeGPTLM",
    "Reservoir",
    "LiquidStateMachine",
    "Readout",
    "maass_connectivity",
    "random_connectivity",
    "time_binned_counts",
    "column_scan_encode",
]
