"""Training and evaluation loops with progress bars, metrics history, checkpoints and seeds.

    history = nm.train.fit(model, nm.data.digits(), epochs=10)
    metrics = nm.train.evaluate(model, data, split="test")

Models map ``x [T, B, ...]`` to an output sequence ``[T, B, C]`` (spikes or membrane); ``loss``
names how that sequence becomes a prediction (spike-count cross-entropy by default).
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .atomic import atomic_path
from .data import SequenceData
from .errors import InputError
from .neurons.modules import SpikingNeuron

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU) so that a run is repeatable."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --- readouts and losses ------------------------------------------------------------------------

def spike_count(out: torch.Tensor) -> torch.Tensor:
    """Class scores from an output spike sequence ``[T, B, C]``: spikes per class."""
    return out.sum(0)


def membrane_mean(out: torch.Tensor) -> torch.Tensor:
    """Class scores from a non-spiking readout membrane ``[T, B, C]``: mean over time."""
    return out.mean(0)


def membrane_max(out: torch.Tensor) -> torch.Tensor:
    """Class scores: maximum membrane over time."""
    return out.max(0).values


def last_step(out: torch.Tensor) -> torch.Tensor:
    """The last time step's output (sequence regression, last-step readout)."""
    return out[-1]


READOUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "count": spike_count,
    "mean": membrane_mean,
    "max": membrane_max,
    "last": last_step,
}

# loss name -> (readout, criterion)
LOSSES: dict[str, tuple[str, str]] = {
    "count_ce": ("count", "ce"),        # cross-entropy on output spike counts
    "membrane_ce": ("mean", "ce"),      # cross-entropy on the mean readout membrane
    "membrane_max_ce": ("max", "ce"),   # cross-entropy on the max readout membrane
    "last_mse": ("last", "mse"),        # regression on the last step
    "mean_mse": ("mean", "mse"),
}


def _resolve_loss(loss: str | LossFn) -> tuple[Callable[[torch.Tensor], torch.Tensor], LossFn]:
    if callable(loss):
        return spike_count, loss
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not one of {sorted(LOSSES)} (or pass a callable)")
    readout_name, criterion = LOSSES[loss]
    readout = READOUTS[readout_name]
    if criterion == "ce":
        return readout, lambda out, y: nn.functional.cross_entropy(readout(out), y)
    return readout, lambda out, y: nn.functional.mse_loss(readout(out).squeeze(-1), y)


def count_cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on spike counts of an output spike sequence ``[T, B, C]``."""
    return nn.functional.cross_entropy(spike_count(out), y)


def membrane_cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the time-mean of a non-spiking readout membrane ``[T, B, C]``."""
    return nn.functional.cross_entropy(membrane_mean(out), y)


# --- spike counting -----------------------------------------------------------------------------

@contextlib.contextmanager
def record_spikes(model: nn.Module) -> Iterator[dict[str, float]]:
    """Within the block, sum the spikes emitted by every spiking neuron layer of ``model``.
    Yields a dict ``{layer_name: spikes}`` and ``"total"``, filled as forwards run on the CPU; on an
    accelerator the sums stay on the device (reading one back per forward would wait for it) and
    the dict is filled when the block exits."""
    counts: dict[str, float] = {"total": 0.0}
    on_device: dict[str, torch.Tensor] = {}
    handles = []

    def make_hook(name: str):
        def hook(_module, _inp, out):
            s = (out[0] if isinstance(out, tuple) else out).detach()
            if s.device.type != "cpu":
                n = s.sum(dtype=torch.float64)
                on_device[name] = on_device[name] + n if name in on_device else n
                return
            n = float(s.sum())
            counts[name] = counts.get(name, 0.0) + n
            counts["total"] += n

        return hook

    for name, module in model.named_modules():
        if isinstance(module, SpikingNeuron):
            handles.append(module.register_forward_hook(make_hook(name or "neuron")))
    try:
        yield counts
    finally:
        for h in handles:
            h.remove()
        for name, n in on_device.items():  # one read-back per layer for the whole block
            counts[name] = counts.get(name, 0.0) + float(n)
            counts["total"] += float(n)


# --- history and checkpoints --------------------------------------------------------------------

@dataclass
class History:
    """Per-epoch metrics (``loss``, ``train_acc``, ``test_acc``, ``seconds``, ...)."""

    epochs: list[dict[str, float]] = field(default_factory=list)

    def append(self, row: dict[str, float]) -> None:
        self.epochs.append(row)

    def __getitem__(self, key: str) -> list[float]:
        return [row[key] for row in self.epochs if key in row]

    def __len__(self) -> int:
        return len(self.epochs)

    @property
    def last(self) -> dict[str, float]:
        return self.epochs[-1] if self.epochs else {}

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs}


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through a temporary file and a rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_checkpoint(path, model: nn.Module, optimizer=None, epoch: int = 0, history: History | None = None) -> None:
    atomic_save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "epoch": epoch,
            "history": history.to_dict() if history is not None else None,
        },
        path,
    )


def load_checkpoint(path, model: nn.Module, optimizer=None) -> dict[str, Any]:
    """Restore model (and optimizer) state; returns the checkpoint dict (epoch, history).

    Read with ``torch.load(weights_only=True)``: tensors, numbers, strings and containers only, never
    arbitrary pickled objects (unpickling one can run any code the file's author chose). A file that
    holds anything else is refused with an :class:`~neuromap.errors.InputError`."""
    import pickle

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not loaded: it holds objects other than tensors, numbers, strings and containers, "
                         f"and unpickling them could run code from the file ({first})") from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise InputError(f"{path}: cannot read it as a checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"{path} is not a neuromap checkpoint (no 'model' entry)")
    model.load_state_dict(ckpt["model"])
    if optimizer is not None and ckpt.get("optimizer") is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt


# --- loops --------------------------------------------------------------------------------------

def _distributed() -> tuple[int, int]:
    """``(rank, world_size)`` of an initialised torch.distributed process group, else ``(0, 1)``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _progress(total: int, desc: str, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if enabled:
        from tqdm.auto import tqdm  # a widget in notebooks, text in terminals
    else:
        from tqdm import tqdm  # disabled: avoid tqdm.auto's widget check (and its warning) in notebooks
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


def evaluate(
    model: nn.Module,
    data: SequenceData,
    split: str = "test",
    loss: str | LossFn = "count_ce",
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Loss, accuracy (classification) and spikes per sample on one split, without gradients.
    ``device``: where to run (the model is moved there); default: where the model's parameters are."""
    readout, criterion = _resolve_loss(loss)
    device = _place(model, device)
    model_was_training = model.training
    model.eval()
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    correct, n = torch.zeros((), dtype=torch.int64, device=device), 0
    with torch.no_grad(), record_spikes(model) as spikes:
        for x, y in data.batches(split, batch_size):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            out = model(x)
            total_loss += criterion(out, y).double() * len(y)  # summed on the device: no read-back per batch
            if data.n_classes is not None:
                correct += (readout(out).argmax(-1) == y).sum()
            n += len(y)
    model.train(model_was_training)
    metrics = {"loss": float(total_loss) / n, "spikes_per_sample": spikes["total"] / n}
    if data.n_classes is not None:
        metrics["accuracy"] = int(correct) / n
    return metrics


def _place(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """Move ``model`` to ``device`` (when given) and return the device training runs on."""
    if device is not None:
        device = torch.device(device)
        model.to(device)
        return device
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def fit(
    model: nn.Module,
    data: SequenceData,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 64,
    loss: str | LossFn = "count_ce",
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    progress: bool | None = None,
    evaluate_every: int = 1,
    grad_clip: float | None = None,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    device: str | torch.device | None = None,
) -> History:
    """Train with Adam (or ``optimizer``) on ``data``; returns the per-epoch :class:`History`.

    ``checkpoint``: a path written (atomically) after every epoch with model, optimizer and
    history. ``progress``: show a progress bar (default: when stderr is a terminal).
    ``device``: where to train (the model is moved there before the optimizer is made, each batch
    as it comes); default: where the model's parameters are. Loss and accuracy are summed on the
    device, so without a progress bar a step never waits for the device; with one, the bar's
    running loss is read back once per batch.

    Under ``torch.distributed`` (process group initialised, ``model`` wrapped in
    ``DistributedDataParallel``) every rank trains on its share of each mini-batch
    (``rank::world_size``) and DDP averages the gradients, so the run follows the single-process
    trajectory with the same global batch size.
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    set_seed(seed)
    readout, criterion = _resolve_loss(loss)
    device = _place(model, device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    n_batches = data.num_batches("train", batch_size)
    rank, world = _distributed()
    for epoch in range(epochs):
        model.train()
        t0 = time.perf_counter()
        total = torch.zeros((), dtype=torch.float64, device=device)
        correct, n = torch.zeros((), dtype=torch.int64, device=device), 0
        bar = _progress(n_batches, f"epoch {epoch + 1}/{epochs}", progress)
        for x, y in data.batches("train", batch_size, shuffle=True, seed=seed * 100003 + epoch):
            if world > 1:
                x, y = x[:, rank::world], y[rank::world]
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            out = model(x)
            batch_loss = criterion(out, y)
            batch_loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            total += batch_loss.detach().double() * len(y)
            n += len(y)
            if data.n_classes is not None:
                correct += (readout(out.detach()).argmax(-1) == y).sum()
            bar.update(1)
            if not bar.disable:
                bar.set_postfix(loss=f"{float(total) / n:.4f}", acc=f"{int(correct) / n:.3f}" if data.n_classes else "-")
        bar.close()
        total, correct = float(total), int(correct)
        if scheduler is not None:
            scheduler.step()
        row = {"epoch": epoch + 1, "loss": total / n, "seconds": time.perf_counter() - t0}
        if data.n_classes is not None:
            row["train_acc"] = correct / n
        if evaluate_every and ((epoch + 1) % evaluate_every == 0 or epoch + 1 == epochs):
            test = evaluate(model, data, "test", loss)
            row["test_loss"] = test["loss"]
            if "accuracy" in test:
                row["test_acc"] = test["accuracy"]
            row["test_spikes_per_sample"] = test["spikes_per_sample"]
        history.append(row)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, epoch + 1, history)
        if callback is not None:
            callback(epoch + 1, row)
    return history
