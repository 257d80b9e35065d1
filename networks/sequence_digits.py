"""Sequential versions of scikit-learn's digits for the sequence models (built on ``neuromap.data.digits``).

* :func:`rowwise_digits` — 8 steps of 8 pixels (one image row per step): ``x [T=8, B, 8]``.
* :func:`pixel_digits` — 64 steps of 1 pixel (``permute=True``: a fixed random pixel order, "psDigits").
"""

from __future__ import annotations

import torch

from neuromap.data import SequenceData, digits


def _images(seed: int) -> SequenceData:
    return digits(encoding="current", steps=1, seed=seed)  # x [T=1, N, 64] in [0, 1]


def rowwise_digits(seed: int = 0) -> SequenceData:
    """Digits as sequences of rows: step t holds row t (8 pixels / 16)."""
    d = _images(seed)
    return SequenceData(
        name="digits-rowwise",
        x_train=d.x_train[0].reshape(-1, 8, 8).transpose(0, 1).contiguous(),  # [T=8 rows, N, 8]
        y_train=d.y_train,
        x_test=d.x_test[0].reshape(-1, 8, 8).transpose(0, 1).contiguous(),
        y_test=d.y_test,
        n_classes=10,
        description="scikit-learn digits, one 8-pixel row per step (T=8)",
    )


def pixel_digits(permute: bool = True, seed: int = 0, perm_seed: int = 1234) -> SequenceData:
    """Digits pixel by pixel (T=64, 1 input); ``permute`` applies one fixed random permutation."""
    d = _images(seed)
    order = torch.randperm(64, generator=torch.Generator().manual_seed(perm_seed)) if permute else torch.arange(64)
    return SequenceData(
        name="digits-psmnist-style" if permute else "digits-pixelwise",
        x_train=d.x_train[0][:, order].T.unsqueeze(-1).contiguous(),  # [T=64 pixels, N, 1]
        y_train=d.y_train,
        x_test=d.x_test[0][:, order].T.unsqueeze(-1).contiguous(),
        y_test=d.y_test,
        n_classes=10,
        description="scikit-learn digits, one pixel per step (T=64)" + (", fixed permutation" if permute else ""),
    )
