"""Regenerate the small NIR fixture files in this directory (run from the repo root).

* ``spiking_mlp_lif.nir``: ``neuromap.save(trace(SpikingMLP(4, [3], 2)))`` with seed 0.
* ``norse_lifbox.nir``: ``norse.torch.to_nir`` of Linear(4, 3) -> LIFBoxCell -> Linear(3, 2) -> LIFCell
  (seed 0, dt = 1e-3). Norse's graph holds 0-d torch tensors, which ``nir.write`` cannot store, so the
  parameters are converted to per-neuron NumPy arrays first (values unchanged, Norse's convention).
"""

import dataclasses
from pathlib import Path

import nir
import numpy as np
import torch

HERE = Path(__file__).parent


def main() -> None:
    import norse.torch as norse

    import neuromap as nm
    from neuromap.networks import SpikingMLP

    torch.manual_seed(0)
    nm.save(nm.trace(SpikingMLP(4, [3], 2), torch.rand(2, 1, 4)), HERE / "spiking_mlp_lif.nir")
    torch.manual_seed(0)
    net = norse.SequentialState(torch.nn.Linear(4, 3), norse.LIFBoxCell(), torch.nn.Linear(3, 2), norse.LIFCell())
    g = norse.to_nir(net, torch.randn(1, 4))
    sizes = {"1": 3, "3": 2}
    for name, node in g.nodes.items():
        for f in dataclasses.fields(node):
            v = getattr(node, f.name)
            if isinstance(v, torch.Tensor):
                v = v.detach().numpy()
                if name in sizes and v.ndim == 0:
                    v = np.full(sizes[name], v, dtype=v.dtype)
                setattr(node, f.name, v)
            elif name in sizes and isinstance(v, np.ndarray) and v.ndim == 0:
                setattr(node, f.name, np.full(sizes[name], v))
    g.nodes["input"] = nir.Input(input_type=np.array([4]))
    g.nodes["output"] = nir.Output(output_type=np.array([2]))
    nir.write(HERE / "norse_lifbox.nir", g)


if __name__ == "__main__":
    main()
