"""One adapter per library. Each exposes ``NAME``, ``version()``, ``SEMANTICS`` (how it realises the
workload and where it differs from neuromap's reference semantics) and
``build(workload, variant) -> Model``: the network as the library documents it, with its input
projections applied to the whole sequence at once (``nn.Linear`` on ``[T, B, F]``), the fastest
documented form for every library."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

ADAPTERS = ("neuromap", "snntorch", "norse", "spikingjelly")


@dataclass
class Model:
    forward: Callable[[torch.Tensor], torch.Tensor]  # [T, B, n_in] -> output spikes [T, B, n_out]
    parameters: list[torch.nn.Parameter]
    reset: Callable[[], None] = field(default=lambda: None)  # clear hidden state between steps
    notes: str = ""


def load(name: str):
    import importlib

    if name not in ADAPTERS:
        raise ValueError(f"unknown library {name!r}; known: {list(ADAPTERS)}")
    return importlib.import_module(f"benchmarks.peers.{name}_adapter")
