"""Distillation from a float teacher, as a loss for :func:`neuromap.train.fit`.

    with Distiller(student, teacher, readout="mean", temperature=2.0, alpha=0.5) as kd:
        nm.train.fit(student, data, loss=kd, ...)

The QSD-Transformer (Qiu et al., ICLR 2025) trains its quantised student with a *fine-grained
distillation* that aligns the distribution of the quantised spike-driven self-attention with that of
the float (ANN) counterpart (its abstract; its review names it a mutual-information objective). That
loss is not in the released code (bollossom/QSD-Transformer) and its equations were not available
here, so this module implements the standard **logits distillation** of Hinton, Vinyals & Dean
("Distilling the Knowledge in a Neural Network", 2015), labelled as such, not the paper's loss::

    L = (1 - alpha) CE(z_s, y) + alpha tau^2 KL(softmax(z_t / tau) || softmax(z_s / tau))

with ``z = readout(output [T, B, C])`` (``neuromap.train.READOUTS``: ``"mean"`` membrane for the SDT)
for the student ``s`` and the teacher ``t``. The teacher runs in eval mode without gradients on the
same batch: a forward pre-hook on the student captures each input, so ``fit`` needs no change.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .train import READOUTS


class Distiller:
    """A ``loss(out, y)`` callable for ``fit`` (see the module docstring); :meth:`close` (or leaving
    the ``with`` block) removes the hook from the student.

    Args:
        student, teacher: models of the same input and output shape.
        readout: name in ``neuromap.train.READOUTS`` turning ``[T, B, C]`` into class scores.
        temperature: ``tau > 0``.
        alpha: weight of the distillation term in ``[0, 1]`` (0: plain cross-entropy).
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, readout: str = "mean", temperature: float = 2.0,
                 alpha: float = 0.5) -> None:
        if readout not in READOUTS:
            raise ValueError(f"readout={readout!r} is not one of {sorted(READOUTS)}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
        if student is teacher:
            raise ValueError("the student and the teacher must be different modules")
        self.student, self.teacher = student, teacher
        self.readout, self.temperature, self.alpha = READOUTS[readout], float(temperature), float(alpha)
        self._teacher_out: torch.Tensor | None = None
        self._hook = student.register_forward_pre_hook(self._capture)

    @torch.no_grad()
    def _capture(self, module: nn.Module, args: tuple) -> None:
        was = self.teacher.training
        self.teacher.eval()
        try:
            self._teacher_out = self.teacher(*args)
        finally:
            self.teacher.train(was)

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self._teacher_out is None or self._teacher_out.shape != out.shape:
            raise RuntimeError("Distiller: no teacher output for this batch (call the student before the loss)")
        z_s, z_t = self.readout(out), self.readout(self._teacher_out)
        ce = F.cross_entropy(z_s, y)
        if self.alpha == 0.0:
            return ce
        tau = self.temperature
        kd = F.kl_div(F.log_softmax(z_s / tau, -1), F.log_softmax(z_t / tau, -1), reduction="batchmean",
                      log_target=True) * tau**2
        return (1.0 - self.alpha) * ce + self.alpha * kd

    def close(self) -> None:
        self._hook.remove()
        self._teacher_out = None

    def __enter__(self) -> Distiller:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
