"""Spike-driven audit: which conv / linear layers of a model really receive spikes.

A layer whose input is binary (values in {0, 1}) needs only additions (accumulate the weights of
the active inputs) — cheap on neuromorphic hardware. Integer inputs (e.g. Spikformer's spike
residuals, counts) need repeated additions or multi-bit events; real-valued inputs need
multiply-accumulates (the first layer on pixels, layers after a membrane shortcut)::

    report = nm.audit.spike_driven_audit(model, x)    # x: [T, B, ...]
    print(report)                                       # one line per layer
    report.non_spike_driven                             # names of layers that need MACs

Layers audited: every ``nn.Conv1d/2d/3d`` and ``nn.Linear``, plus any module with a class attribute
``spike_driven_op = True`` (the zoo's SDSA / SDSA-3 attention ops, whose inputs are Q, K, V). A
module with ``audit_as_unit = True`` (e.g. Meta-SpikeFormer's ``RepConv``, one 3x3 conv at
inference) is audited as one layer and its sub-layers are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
KINDS = ("binary", "integer", "real")
MAX_VALUES = 16  # distinct values listed per layer


@dataclass
class LayerAudit:
    """Value set of the input(s) of one layer over the audited batch."""

    name: str
    layer_type: str
    kind: str  # "binary" (all in {0, 1}), "integer" (all integers, not just 0/1), "real"
    min: float
    max: float
    nonzero_fraction: float  # firing rate for binary inputs
    n_values: int  # number of distinct values (capped count: exact up to MAX_VALUES + 1)
    values: list[float] = field(default_factory=list)  # the distinct values when there are few
    calls: int = 0
    elements: int = 0

    @property
    def spike_driven(self) -> bool:
        return self.kind == "binary"


def _combine(kinds: Iterable[str]) -> str:
    order = {k: i for i, k in enumerate(KINDS)}
    return max(kinds, key=order.__getitem__)


class _Acc:
    def __init__(self, name: str, layer_type: str) -> None:
        self.name, self.layer_type = name, layer_type
        self.kind = "binary"
        self.min, self.max = float("inf"), float("-inf")
        self.nonzero = 0
        self.elements = 0
        self.calls = 0
        self.values: set[float] | None = set()

    def add(self, x: torch.Tensor) -> None:
        x = x.detach()
        if not x.is_floating_point():
            x = x.to(torch.float64)
        if x.numel() == 0:
            return
        self.calls += 1
        self.elements += x.numel()
        self.nonzero += int((x != 0).sum())
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))
        if not bool(torch.isfinite(x).all()):
            kind = "real"
        elif bool(((x == 0) | (x == 1)).all()):
            kind = "binary"
        elif bool((x == torch.round(x)).all()):
            kind = "integer"
        else:
            kind = "real"
        self.kind = _combine([self.kind, kind])
        if self.values is not None:
            u = torch.unique(x)
            if u.numel() > MAX_VALUES or len(self.values) > MAX_VALUES:
                self.values = None
            else:
                self.values.update(float(v) for v in u)
                if len(self.values) > MAX_VALUES:
                    self.values = None

    def result(self) -> LayerAudit:
        vals = sorted(self.values) if self.values is not None else []
        n_values = len(vals) if self.values is not None else MAX_VALUES + 1
        return LayerAudit(
            name=self.name,
            layer_type=self.layer_type,
            kind=self.kind,
            min=self.min,
            max=self.max,
            nonzero_fraction=self.nonzero / self.elements if self.elements else 0.0,
            n_values=n_values,
            values=vals,
            calls=self.calls,
            elements=self.elements,
        )


@dataclass
class AuditReport:
    """Per-layer audits, in the order the layers were first called."""

    layers: list[LayerAudit]

    @property
    def spike_driven(self) -> list[str]:
        return [la.name for la in self.layers if la.kind == "binary"]

    @property
    def non_spike_driven(self) -> list[str]:
        return [la.name for la in self.layers if la.kind != "binary"]

    def __getitem__(self, name: str) -> LayerAudit:
        for la in self.layers:
            if la.name == name:
                return la
        raise KeyError(f"no audited layer named {name!r}; audited: {[la.name for la in self.layers]}")

    def __len__(self) -> int:
        return len(self.layers)

    def to_dict(self) -> dict:
        return {"layers": [asdict(la) for la in self.layers]}

    def table(self) -> str:
        w = max([len("layer")] + [len(la.name) for la in self.layers])
        lines = [f"{'layer':<{w}}  {'type':<10} {'input':<8} {'min':>9} {'max':>9} {'nonzero':>8}"]
        for la in self.layers:
            lines.append(
                f"{la.name:<{w}}  {la.layer_type:<10} {la.kind:<8} {la.min:>9.3g} {la.max:>9.3g} {la.nonzero_fraction:>8.3f}"
            )
        n = len(self.spike_driven)
        lines.append(f"{n}/{len(self.layers)} layers spike-driven (binary inputs)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def spike_driven_audit(
    model: nn.Module,
    *inputs,
    layer_types: tuple[type[nn.Module], ...] = LAYER_TYPES,
    eval_mode: bool = True,
) -> AuditReport:
    """Run ``model(*inputs)`` once (no gradients) and report the value set of every conv / linear
    layer's input (and of ``spike_driven_op`` modules' inputs) over the batch.

    ``eval_mode=True`` audits the inference network (BatchNorm running statistics); the model's
    training flag is restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    accs: dict[str, _Acc] = {}
    handles = []

    def make_hook(name: str, module: nn.Module):
        def hook(_mod, args, kwargs=None):
            acc = accs.get(name)
            if acc is None:
                acc = accs[name] = _Acc(name, type(module).__name__)
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            if kwargs:
                tensors += [v for v in kwargs.values() if isinstance(v, torch.Tensor)]
            for t in tensors:
                acc.add(t)

        return hook

    units: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(u + ".") for u in units):
            continue
        if getattr(type(module), "audit_as_unit", False):
            units.append(name)
        if (
            isinstance(module, layer_types)
            or getattr(type(module), "spike_driven_op", False)
            or getattr(type(module), "audit_as_unit", False)
        ):
            hook = make_hook(name or type(module).__name__, module)
            handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    was_training = model.training
    if eval_mode:
        model.eval()
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return AuditReport([acc.result() for acc in accs.values()])


__all__ = ["AuditReport", "LayerAudit", "spike_driven_audit"]
