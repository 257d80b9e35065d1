"""neuromap: train spiking models in PyTorch, map them onto neuromorphic hardware models, and
estimate their energy and latency per target."""

from . import neurons
from .graph import Graph, load, save, trace  # noqa: F401  (the IR: nm.trace / nm.save / nm.load)

__version__ = "0.1.0"
__all__ = ["neurons", "data", "train", "__version__"]
