"""No host round trip per time step in the zoo's forward passes, a training step, or the step loops.

On a GPU, an operation whose result the host must read (``.item()``, ``bool(t)``, ``int(t)``,
``nonzero``, boolean-mask indexing, ``.tolist()``, ``.numpy()``, ``.cpu()``) makes Python wait for
the device: inside a loop over time steps it serialises every step. That cannot be timed on the
CPU, but it can be counted: a ``TorchDispatchMode`` sees every aten operation, including
``_local_scalar_dense`` (what ``.item()`` and ``bool()`` call) and the data-dependent-shape ops, and
the Python-level read-backs are counted by wrapping ``Tensor.tolist/numpy/cpu``. Each model runs at
two sequence lengths: the count must not grow with ``T`` (a constant number per forward, e.g. an
input check, is allowed and listed). The fused EGRU and reservoir paths run through the Triton
interpreter (``NEUROMAP_TRITON_INTERPRET=1``), the same Python code that launches them on CUDA.
With ``NEUROMAP_TEST_DEVICE=cuda`` (benchmarks/gpu_check.sh) the same tests run on a GPU, where
CUDA's own synchronisation report (``torch.cuda.set_sync_debug_mode("warn")``) is counted as well;
there the ``triton`` cases use the default (compiled Triton) paths and the ``torch`` cases force the
PyTorch loops with ``kernels.use("torch")``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from neuromap.networks.egru import EGRU, CharLM
from neuromap.networks.lmu import L2MU, LMU, LMUFormer
from neuromap.networks.lsm import LiquidStateMachine, Reservoir, maass_connectivity
from neuromap.networks.metaspikformer import MetaSpikeFormer
from neuromap.networks.mlp import SpikingMLP
from neuromap.networks.sdt import SpikeDrivenTransformer
from neuromap.networks.spikformer import Spikformer
from neuromap.neurons import LIFParams, kernels, triton_kernels
from tests.support import DEVICE

pytestmark = pytest.mark.gpu

# aten operations whose result (a value or an output size) the host must read from the device
SYNC_OPS = {
    "aten._local_scalar_dense", "aten.nonzero", "aten.masked_select", "aten._unique2", "aten.unique_dim",
    "aten.unique_consecutive", "aten.equal", "aten.is_nonzero", "aten.masked_scatter",
}  # fmt: skip


class HostSyncCounter(TorchDispatchMode):
    """Counts host read-backs: the aten ops in ``SYNC_OPS``, boolean-mask indexing, and the Python-level
    ``Tensor.tolist / numpy / cpu`` calls (which a CPU tensor answers without an aten op)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self._saved: dict[str, object] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket)
        if name in SYNC_OPS:
            self.counts[name] += 1
        elif name in ("aten.index", "aten.index_put_", "aten.index_put") and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in _flat(args[1:2])
        ):
            self.counts[f"{name} (boolean mask)"] += 1
        return func(*args, **(kwargs or {}))

    def __enter__(self):
        for meth in ("tolist", "numpy", "cpu"):
            orig = getattr(torch.Tensor, meth)
            self._saved[meth] = orig

            def wrapped(t, *a, _orig=orig, _name=meth, **k):
                self.counts[f"Tensor.{_name}"] += 1
                return _orig(t, *a, **k)

            setattr(torch.Tensor, meth, wrapped)
        return super().__enter__()

    def __exit__(self, *exc):
        for meth, orig in self._saved.items():
            setattr(torch.Tensor, meth, orig)
        return super().__exit__(*exc)


def _flat(items):
    for it in items:
        if isinstance(it, (list, tuple)):
            yield from _flat(it)
        else:
            yield it


def _count(fn) -> Counter:
    if DEVICE.type != "cuda":
        with HostSyncCounter() as c:
            fn()
        return c.counts
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught, HostSyncCounter() as c:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    n = sum("synchroniz" in str(w.message) for w in caught)
    if n:
        c.counts["cuda synchronisation (sync debug mode)"] += n
    return c.counts


def _sdt():
    return SpikeDrivenTransformer.tiny(), lambda T: torch.rand(T, 2, 1, 8, 8)


def _spikformer():
    return Spikformer.tiny(), lambda T: torch.rand(T, 2, 1, 8, 8)


def _meta():
    return MetaSpikeFormer.tiny(), lambda T: torch.rand(T, 2, 1, 8, 8)


def _lmu():
    return LMU(3, 8, order=4, theta=8.0, hidden_recurrent=True), lambda T: torch.randn(T, 2, 3)


def _lmu_fft():
    return LMU(3, 8, order=4, theta=8.0), lambda T: torch.randn(T, 2, 3)


def _lmuformer():
    return LMUFormer(3, 4, dim=8, theta=8.0, max_len=16), lambda T: torch.randn(T, 2, 3)


def _l2mu():
    return L2MU(3, order=4, theta=8.0, memory_size=4, hidden=6, n_out=3), lambda T: torch.randn(T, 2, 3)


def _egru():
    return EGRU(3, [6, 5], zoneout=0.2, dropconnect=0.1), lambda T: torch.randn(T, 2, 3)


def _charlm():
    return CharLM(11, hidden_size=8, embedding_size=4), lambda T: torch.randint(0, 11, (T, 2))


def _reservoir():
    res = Reservoir(3, maass_connectivity((4, 3, 3), seed=0), LIFParams(tau_mem=20e-3), input_weight=2.0)
    return res, lambda T: (torch.rand(T, 2, 3) < 0.3).float()


def _lsm():
    res, make = _reservoir()
    return LiquidStateMachine(res, bins=2), make


MODELS = {
    "sdt": _sdt, "spikformer": _spikformer, "metaspikformer": _meta,
    "lmu-recurrent": _lmu, "lmu-fft": _lmu_fft, "lmuformer": _lmuformer,
    "l2mu": _l2mu, "egru": _egru, "charlm": _charlm, "reservoir": _reservoir, "lsm": _lsm,
}  # fmt: skip
# Host read-backs a forward makes once, whatever T (none of them inside a loop over steps):
CONSTANT = {
    # neurons.check_sequence: one finiteness flag per spiking layer call
    "sdt", "spikformer", "metaspikformer", "lmuformer", "l2mu",
    # CharLM checks its token ids lie in the vocabulary (min/max)
    "charlm",
    # the reservoir's input projection picks dense or event-driven by the input's density
    "reservoir", "lsm",
}  # fmt: skip


# The fused Triton paths whose launch code loops over steps in Python (EGRU, reservoir, the per-step
# populations of L2MU) run through the interpreter; the multi-step LIF kernel is one launch per
# layer (no step loop on the host), so the transformers' Triton variants are only in the slow suite.
STEP_LOOPS = {"egru", "charlm", "reservoir", "lsm", "l2mu"}
CASES = [pytest.param(name, False, id=f"torch-{name}") for name in MODELS] + [
    pytest.param(name, True, id=f"triton-{name}", marks=() if name in STEP_LOOPS else pytest.mark.slow)
    for name in MODELS
]


def _use_triton(monkeypatch, triton: bool):
    """The kernel selection of a case: on the CPU the default, or the Triton paths through the
    interpreter; on CUDA the default (Triton), or the PyTorch loops."""
    if triton and triton_kernels.unavailable():
        pytest.skip(f"TRITON NOT INSTALLED - the fused paths were not checked: {triton_kernels.unavailable()}")
    if DEVICE.type == "cuda":
        return contextlib.nullcontext() if triton else kernels.use("torch")
    if triton:
        monkeypatch.setenv("NEUROMAP_TRITON_INTERPRET", "1")  # auto runs the kernels' launch code on the CPU
    return contextlib.nullcontext()


def _on_device(model, make):
    return model.to(DEVICE), lambda T: make(T).to(DEVICE)


@pytest.mark.parametrize("name,triton", CASES)
def test_forward_has_no_host_round_trip_per_step(name, triton, monkeypatch):
    use = _use_triton(monkeypatch, triton)
    torch.manual_seed(0)
    model, make = _on_device(*MODELS[name]())
    model.train()
    with use:
        short, long_ = (_count(lambda T=T: model(make(T))) for T in (2, 5))
    assert short == long_, f"{name}: host read-backs grow with T: T=2 {dict(short)}, T=5 {dict(long_)}"
    if name not in CONSTANT:
        assert not long_, f"{name}: host read-backs in the forward: {dict(long_)}"


@pytest.mark.parametrize("name,triton", [c for c in CASES if c.values[0] in ("sdt", "lmu-recurrent", "l2mu", "egru")])
def test_training_step_has_no_host_round_trip_per_step(name, triton, monkeypatch):
    """Forward, loss and backward of a training step (the backward of the recurrent models loops
    over steps too)."""
    use = _use_triton(monkeypatch, triton)
    torch.manual_seed(0)
    model, make = _on_device(*MODELS[name]())

    def step(T):
        out = model(make(T))
        out.float().pow(2).mean().backward()

    with use:
        short, long_ = (_count(lambda T=T: step(T)) for T in (2, 5))
    assert short == long_, f"{name}: host read-backs grow with T: T=2 {dict(short)}, T=5 {dict(long_)}"


def test_the_counter_sees_every_kind_of_read_back():
    x = torch.tensor([0.0, 1.0, 2.0])
    counts = _count(lambda: (x.sum().item(), bool(x.any()), x.nonzero(), x[x > 0], x.tolist(), x.numpy()))
    assert counts["aten._local_scalar_dense"] == 2
    assert counts["aten.nonzero"] == 1 and counts["aten.index (boolean mask)"] == 1
    assert counts["Tensor.tolist"] == 1 and counts["Tensor.numpy"] == 1


FIT_MODELS = {"mlp": lambda: SpikingMLP(8, [16], 3), "egru": lambda: EGRU(8, [6, 3], zoneout=0.1)}


@pytest.mark.parametrize("name,triton", [(n, t) for n in FIT_MODELS for t in (False, True)])
def test_fit_has_no_host_round_trip_per_step(name, triton, monkeypatch):
    """``train.fit`` (no progress bar) over an epoch: its read-backs (per batch and per epoch) do
    not grow with the sequence length."""
    from neuromap import train
    from neuromap.data import SequenceData

    use = _use_triton(monkeypatch, triton)

    def fit(T):
        g = torch.Generator().manual_seed(0)
        data = SequenceData("sync", (torch.rand(24, T, 8, generator=g) < 0.3).float(), torch.arange(24) % 3,
                            (torch.rand(12, T, 8, generator=g) < 0.3).float(), torch.arange(12) % 3, 3)
        torch.manual_seed(0)
        model = FIT_MODELS[name]()
        train.fit(model, data, epochs=1, batch_size=8, progress=False, device=DEVICE)

    with use:
        short, long_ = (_count(lambda T=T: fit(T)) for T in (2, 5))
    assert short == long_, f"{name}: host read-backs grow with T: T=2 {dict(short)}, T=5 {dict(long_)}"


# --- launches per step of the fused paths ------------------------------------------------------------

# aten operations that launch no kernel of their own (views, metadata, allocation without a fill)
NO_KERNEL = {
    "aten.view", "aten.t", "aten.select", "aten.slice", "aten.detach", "aten.unsqueeze", "aten.expand",
    "aten._unsafe_view", "aten.transpose", "aten.split", "aten.alias", "aten.permute", "aten.reshape",
    "aten.as_strided", "aten.squeeze", "aten.empty", "aten.new_empty", "aten.lift_fresh", "aten.split_with_sizes",
    "aten.unbind", "aten.empty_like", "aten.crow_indices", "aten.col_indices", "aten.values", "aten.set_",
    "aten._to_copy",
}  # fmt: skip


class LaunchCounter(TorchDispatchMode):
    """Counts aten operations that run a kernel, and the Triton launches (whose interpreter's own
    tensor operations are not counted)."""

    def __init__(self, monkeypatch) -> None:
        super().__init__()
        self.aten = self.triton = 0
        self._in_triton = False
        real = triton_kernels.launch

        def launch(*a, **k):
            self.triton += 1
            self._in_triton = True
            try:
                return real(*a, **k)
            finally:
                self._in_triton = False

        monkeypatch.setattr(triton_kernels, "launch", launch)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not self._in_triton and str(func.overloadpacket) not in NO_KERNEL:
            self.aten += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.cpu_only
def test_fused_paths_launch_a_fixed_few_kernels_per_step(monkeypatch):
    """Per time step: the fused EGRU training step runs 2 matmuls and 2 Triton kernels (forward and
    backward; the PyTorch cell about 65 operations), the fused reservoir step 1 Triton kernel and
    nothing else (the sparse-matmul loop 10 operations)."""
    if triton_kernels.unavailable():
        pytest.skip(f"TRITON NOT INSTALLED - launches not counted: {triton_kernels.unavailable()}")
    monkeypatch.setenv("NEUROMAP_TRITON_INTERPRET", "1")
    counter = LaunchCounter(monkeypatch)
    egru = EGRU(6, [8], zoneout=0.1)
    res, make = _reservoir()

    def per_step(fn):
        fn(2)  # warm-up: the one-time probe and cached constants
        counts = []
        for T in (4, 8):
            counter.aten = counter.triton = 0
            with counter:
                fn(T)
            counts.append((counter.aten, counter.triton))
        (a4, t4), (a8, t8) = counts
        return (a8 - a4) / 4, (t8 - t4) / 4

    assert per_step(lambda T: egru(torch.randn(T, 3, 6)).pow(2).sum().backward()) == (2.0, 2.0)
    assert per_step(lambda T: res.simulate(make(T))) == (0.0, 1.0)
    with kernels.use("torch"):
        ref_egru = per_step(lambda T: egru(torch.randn(T, 3, 6)).pow(2).sum().backward())
        ref_res = per_step(lambda T: res.simulate(make(T)))
    assert ref_egru[0] > 30 and ref_egru[1] == 0 and ref_res[0] >= 5
