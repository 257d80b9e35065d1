"""Data sets that need no download, as time-major spike / value sequences.

* :func:`digits` — scikit-learn's bundled 8x8 handwritten digits (1,797 images), encoded as spikes.
* :func:`delayed_recall`, :func:`adding_problem` — synthetic sequence tasks.

Each returns a :class:`SequenceData` whose :meth:`~SequenceData.batches` yields ``(x [T, B, ...], y [B])``.
Everything is deterministic under ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from . import encoding as enc

SPLITS = ("train", "test")


@dataclass
class SequenceData:
    """Train/test tensors stored sample-major ``[N, T, ...]``; batches come out time-major."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int | None  # None for regression
    description: str = ""

    @property
    def steps(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[2:])

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def task(self) -> str:
        return "regression" if self.n_classes is None else "classification"

    def split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is not one of {list(SPLITS)}")
        return (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)

    def batches(
        self, split: str = "train", batch_size: int = 64, shuffle: bool = False, seed: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x [T, B, ...], y [B])`` mini-batches."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        x, y = self.split(split)
        n = x.shape[0]
        if shuffle:
            g = torch.Generator().manual_seed(seed)
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield x[idx].transpose(0, 1).contiguous(), y[idx]

    def num_batches(self, split: str = "train", batch_size: int = 64) -> int:
        return -(-self.split(split)[0].shape[0] // batch_size)

    def __repr__(self) -> str:
        return (
            f"SequenceData({self.name!r}, train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)}, "
            f"classes={self.n_classes})"
        )


def _stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=y)
    return np.sort(tr), np.sort(te)


def digits(
    encoding: str = "rate",
    steps: int = 25,
    test_fraction: float = 0.25,
    seed: int = 0,
    gain: float = 1.0,
    flatten: bool = True,
) -> SequenceData:
    """scikit-learn's 8x8 digits as spike sequences (no download).

    ``encoding``: ``"rate"`` (Bernoulli with p = gain * pixel/16), ``"latency"`` or ``"current"``
    (pixel/16 repeated each step). Images are flattened to 64 inputs unless ``flatten=False``
    (then ``[1, 8, 8]``). A stratified split with ``test_fraction`` of the 1,797 images for test.
    """
    from sklearn.datasets import load_digits

    if not (0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if encoding not in ("rate", "latency", "current"):
        raise ValueError(f"encoding={encoding!r} is not one of ['rate', 'latency', 'current']")
    bunch = load_digits()
    images = torch.tensor(bunch.images / 16.0, dtype=torch.float32)  # [N, 8, 8] in [0, 1]
    labels = torch.tensor(bunch.target, dtype=torch.long)
    x = images.reshape(len(images), 64) if flatten else images.unsqueeze(1)
    if encoding == "rate":
        seq = enc.rate(x, steps, gain=gain, seed=seed)
    else:
        seq = enc.encode(x, encoding, steps)
    seq = seq.transpose(0, 1).contiguous()  # [N, T, ...]
    tr, te = _stratified_split(bunch.target, test_fraction, seed)
    return SequenceData(
        name=f"digits-{encoding}-T{steps}",
        x_train=seq[tr],
        y_train=labels[tr],
        x_test=seq[te],
        y_test=labels[te],
        n_classes=10,
        description="scikit-learn load_digits (8x8, 10 classes), stratified split",
    )


def digits_inputs(samples: int, steps: int = 25, seed: int = 0, split: str = "test",
                  test_fraction: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``samples`` of ``digits(encoding="rate", steps=steps, seed=seed, test_fraction=...)``'s
    ``split``, time-major ``[steps, samples, 64]``, with their labels: the same spikes, but only these
    samples are encoded (:func:`~neuromap.data.encoding.rate_rows`; memory ``steps x samples x 64`` floats,
    checked against :mod:`neuromap.memory` first). More samples than the split holds are refused."""
    from sklearn.datasets import load_digits

    from neuromap import memory
    from neuromap.errors import InputError

    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {list(SPLITS)}")
    bunch = load_digits()
    tr, te = _stratified_split(bunch.target, test_fraction, seed)
    rows = te if split == "test" else tr
    if samples > len(rows):
        raise InputError(f"--samples {samples}: the digits {split} split has {len(rows)} samples")
    memory.check(4 * steps * samples * 64, f"--dataset digits: {samples} samples x {steps} steps x 64 inputs")
    images = torch.tensor(bunch.images / 16.0, dtype=torch.float32).reshape(len(bunch.images), 64)
    x = enc.rate_rows(images, steps, torch.as_tensor(rows[:samples]), seed=seed)
    return x, torch.tensor(bunch.target[rows[:samples]], dtype=torch.long)


def delayed_recall(
    n_samples: int = 2000,
    delay: int = 20,
    n_symbols: int = 4,
    noise: float = 0.0,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> SequenceData:
    """Delayed recall: a one-hot symbol at step 0, silence (optionally noise) for ``delay`` steps,
    then a cue on the last channel at the final step; the label is the symbol. Input channels:
    ``n_symbols + 1``; sequence length ``delay + 1``."""
    if delay < 1 or n_symbols < 2 or n_samples < 2:
        raise ValueError("delayed_recall needs delay >= 1, n_symbols >= 2 and n_samples >= 2")
    g = torch.Generator().manual_seed(seed)
    steps = delay + 1
    y = torch.randint(0, n_symbols, (n_samples,), generator=g)
    x = torch.zeros(n_samples, steps, n_symbols + 1)
    if noise > 0:
        x[:, 1:-1, :n_symbols] = (torch.rand(n_samples, steps - 2, n_symbols, generator=g) < noise).float()
    x[torch.arange(n_samples), 0, y] = 1.0
    x[:, -1, n_symbols] = 1.0
    n_test = max(1, int(round(n_samples * test_fraction)))
    return SequenceData(
        name=f"delayed-recall-d{delay}",
        x_train=x[n_test:],
        y_train=y[n_test:],
        x_test=x[:n_test],
        y_test=y[:n_test],
        n_classes=n_symbols,
        description=f"recall a symbol shown {delay} steps earlier",
    )


def adding_problem(
    n_samples: int = 2000, length: int = 50, test_fraction: float = 0.25, seed: int = 0
) -> SequenceData:
    """Adding problem (Hochreiter & Schmidhuber 1997): channel 0 holds uniform values in [0, 1],
    channel 1 marks two positions (one in each half); the target is the sum of the two marked
    values. Predicting 1.0 always gives MSE ~= 0.167; success is MSE < 0.01."""
    if length < 4 or n_samples < 2:
        raise ValueError("adding_problem needs length >= 4 and n_samples >= 2")
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(n_samples, length, generator=g)
    first = torch.randint(0, length // 2, (n_samples,), generator=g)
    second = torch.randint(length // 2, length, (n_samples,), generator=g)
    markers = torch.zeros(n_samples, length)
    rows = torch.arange(n_samples)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)
    y = values[rows, first] + values[rows, second]
    n_test = max(1, int(round(n_samples * test_fraction)))
    return SequenceData(
        name=f"adding-L{length}",
        x_train=x[n_test:],
        y_train=y[n_test:],
        x_test=x[:n_test],
        y_test=y[:n_test],
        n_classes=None,
        description="sum of two marked values",
    )
