"""The benchmark workloads of issue 3 (time-major, float32, CPU) and their cost models.

W1 lif-train   700 -> 1024 LIF -> 20 LIF, batch 32, T = 100, Bernoulli(0.05) input spikes, decay 0.9,
               threshold 1, subtractive reset, fast-sigmoid surrogate (slope 25); one step = forward
               over T + cross-entropy on the output spike counts + backward + Adam.
W2 lif-infer   W1's network, forward only (no autograd), batch 1 and batch 32.
W3 cuba-train  W1 with current-based LIF (synaptic decay 0.8).
W4 long-seq    W1 with T = 1000, batch 8: time per step and peak memory.
W1-p01, W1-p20 W1 with input density 0.01 and 0.2: the event-driven synapses' advantage shrinks as the
               density approaches their measured dense crossover (neuromap.synapses.LINEAR_CROSSOVER).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class Workload:
    key: str
    name: str
    train: bool
    neuron: str  # "lif" | "cuba"
    T: int
    batch: int
    n_in: int = 700
    n_hidden: int = 1024
    n_out: int = 20
    p_in: float = 0.05
    beta: float = 0.9
    alpha: float = 0.8
    v_th: float = 1.0
    slope: float = 25.0
    lr: float = 1e-3

    @property
    def neurons(self) -> int:
        return self.n_hidden + self.n_out

    @property
    def neuron_timesteps(self) -> int:
        """Neuron updates per step: (hidden + output neurons) x T x batch."""
        return self.neurons * self.T * self.batch

    def to_dict(self) -> dict:
        return {**asdict(self), "flops": flops(self), "bytes": min_bytes(self)}


WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in (
        Workload("W1", "lif-train", True, "lif", T=100, batch=32),
        Workload("W2-b1", "lif-infer batch 1", False, "lif", T=100, batch=1),
        Workload("W2-b32", "lif-infer batch 32", False, "lif", T=100, batch=32),
        Workload("W3", "cuba-train", True, "cuba", T=100, batch=32),
        Workload("W1-p01", "lif-train input density 0.01", True, "lif", T=100, batch=32, p_in=0.01),
        Workload("W1-p20", "lif-train input density 0.2", True, "lif", T=100, batch=32, p_in=0.2),
        Workload("W4", "long-seq", True, "lif", T=1000, batch=8),
    )
}


def make_data(w: Workload, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Input spikes ``[T, B, n_in]`` (Bernoulli(p_in), float32) and labels ``[B]``, from a fixed seed."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(w.T, w.batch, w.n_in, generator=g) < w.p_in).float()
    y = torch.randint(0, w.n_out, (w.batch,), generator=g)
    return x, y


def make_linears(w: Workload, seed: int = 0) -> tuple[torch.nn.Linear, torch.nn.Linear]:
    """The two projections, identically initialised for every library (torch's default init)."""
    torch.manual_seed(seed)
    return torch.nn.Linear(w.n_in, w.n_hidden), torch.nn.Linear(w.n_hidden, w.n_out)


def loss_fn(out_spikes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the output spike counts (summed over time)."""
    return torch.nn.functional.cross_entropy(out_spikes.sum(0), y)


def flops(w: Workload) -> int:
    """Matmul FLOPs of one step (2 per multiply-add).

    forward:  2 T B (n_in n_hidden + n_hidden n_out)
    training: + weight gradients of both layers (same again) + the input gradient of layer 2
              (2 T B n_hidden n_out); layer 1 needs no input gradient (the input is data).
    """
    tb = w.T * w.batch
    fwd = 2 * tb * (w.n_in * w.n_hidden + w.n_hidden * w.n_out)
    if not w.train:
        return fwd
    return 2 * fwd + 2 * tb * w.n_hidden * w.n_out


def min_bytes(w: Workload, elem: int = 4) -> int:
    """Memory traffic of one step when every layer-sized tensor is written once and read once.

    Per neuron-timestep (hidden and output neurons, ``T B (n_hidden + n_out)`` of them):
      inference: projection output (write + read) + spikes (write + read)                 = 4 words
      training:  + saved membrane (write + read) + spike gradient (write + read)
                 + current gradient (write + read) + spikes re-read for the weight grad  = 11 words
    plus the input spikes (read once; twice when training, for the layer-1 weight gradient) and the
    parameters (read once; training adds their gradient write and Adam's read of param, grad,
    two moments and write of param and two moments: 8 words per parameter).
    """
    params = w.n_in * w.n_hidden + w.n_hidden + w.n_hidden * w.n_out + w.n_out
    per_neuron_step = 11 if w.train else 4
    acts = w.T * w.batch * w.neurons * per_neuron_step
    inputs = w.T * w.batch * w.n_in * (2 if w.train else 1)
    return elem * (acts + inputs + params * (8 if w.train else 1))


def event_cost(w: Workload, activity: dict, elem: int = 4) -> tuple[int, int]:
    """FLOPs and bytes of one step when every synaptic layer is event-driven, from the measured activity.

    ``activity``: ``in_nnz`` / ``hidden_nnz`` (non-zero input / hidden spikes over the whole
    ``[T, B, .]`` tensor) and ``in_rows`` / ``hidden_rows`` (distinct inputs / hidden neurons that
    spike at least once: the weight rows touched).

    FLOPs: 2 per active synapse event: forward ``in_nnz n_hidden + hidden_nnz n_out``; training adds
    the same for the weight gradients (accumulated only over active inputs) and the dense input
    gradient of layer 2 (``2 T B n_hidden n_out``; layer 1 needs none).
    Bytes: :func:`min_bytes` with the parameter traffic replaced by the weight rows touched
    (``in_rows n_hidden + hidden_rows n_out`` words, read once; training also writes their gradient
    and runs Adam over all parameters, 8 words each as in :func:`min_bytes`).
    """
    syn = activity["in_nnz"] * w.n_hidden + activity["hidden_nnz"] * w.n_out
    fl = 2 * syn
    if w.train:
        fl += 2 * syn + 2 * w.T * w.batch * w.n_hidden * w.n_out
    params = w.n_in * w.n_hidden + w.n_hidden + w.n_hidden * w.n_out + w.n_out
    touched = activity["in_rows"] * w.n_hidden + activity["hidden_rows"] * w.n_out
    acts = w.T * w.batch * w.neurons * (11 if w.train else 4) + w.T * w.batch * w.n_in * (2 if w.train else 1)
    words = acts + (touched * 2 + params * 8 if w.train else touched)
    return fl, elem * words
