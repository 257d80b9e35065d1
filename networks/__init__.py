"""neuromap's model zoo (installed as ``neuromap.networks``)."""

from .mlp import SpikingMLP

__all__ = ["SpikingMLP"]
