"""Triton path of the fused neuron kernels: the LIF / CuBa recurrence on CUDA tensors.

:func:`neuromap.neurons.neuron_sequence` runs on a CUDA tensor through two Triton kernels
(``_triton_src.py``): the forward over all ``T`` steps and the hand-written BPTT backward, each one
launch over blocks of neurons with the state in registers (float32 for float32 and bfloat16
inputs). It supports every option of the PyTorch path: subtract / zero / no reset, delayed reset,
``>`` / ``>=``, ``decay_input``, learnable decays and thresholds (per-element gradients, summed by
the caller), refractoriness and every built-in surrogate. What the backward keeps: the pre-reset
membrane ``h`` (float32), the synaptic current when ``alpha`` (or ``beta`` with ``decay_input``)
needs a gradient, and with a refractory period a one-byte "not refractory" mask; spikes are
recomputed from ``h``. Inference (no gradient) keeps nothing.

Numerics: float32 forward results are bit-identical to the PyTorch loop (same operations in the
same order, launched with ``enable_fp_fusion=False``: no fused multiply-add); so are the gradients
for every surrogate but ``sigmoid`` (its ``exp`` differs from torch's in the last bits), divisions
being IEEE-rounded (``div_rn``) as torch's are. Pinned through the interpreter on the CPU by
tests/unit/neurons/test_triton_kernels.py; ``NEUROMAP_TEST_DEVICE=cuda`` runs the same tests on a GPU. bfloat16
inputs are integrated in float32 and each stored value rounded once (to nearest even), so they equal
the float32 result rounded, closer than the PyTorch bfloat16 loop. Each program loads the inputs
of 4 steps at once, a chunk ahead of their use, so the chain of dependent steps does not wait a
memory latency per step.

Selection (``kernels.use``): ``"auto"`` (default) uses Triton on CUDA float32 / bfloat16 tensors
when Triton imports, and falls back to the PyTorch loop, with one logged warning per reason, when
it is missing, cannot compile, or the call is unsupported (e.g. float64); ``"triton"`` forces it
(errors instead of falling back); ``"torch"`` forces the PyTorch loop; ``"triton_interpret"`` runs
these kernels through Triton's interpreter on CPU tensors (slow; for tests only; the environment
variable ``NEUROMAP_TRITON_INTERPRET=1`` makes ``"auto"`` do the same, fallback included).

Install: ``pip install neuromap[gpu]`` (the ``triton`` package; CUDA builds of torch bring it).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys
import threading
from pathlib import Path
from types import ModuleType

import torch

log = logging.getLogger("neuromap.neurons")

_SOURCE = Path(__file__).with_name("_triton_src.py")
BLOCK = 128  # neurons per program: 4 warps x 32 lanes, one neuron per lane
NUM_WARPS = 4
DTYPES = (torch.float32, torch.bfloat16)

_lock = threading.Lock()
_modules: dict[tuple[str, bool], ModuleType] = {}
_import_error: list[str] = []
_warned: set[str] = set()


def interpret_env() -> bool:
    """``NEUROMAP_TRITON_INTERPRET=1``: ``auto`` treats CPU tensors like CUDA ones and runs the Triton
    kernels through the interpreter (so tests exercise the GPU dispatch and fallback on a CPU)."""
    return os.environ.get("NEUROMAP_TRITON_INTERPRET", "").strip() not in ("", "0")


def warn_once(reason: str) -> None:
    """Log a fallback reason once per process (a training loop would repeat it every step)."""
    if reason not in _warned:
        _warned.add(reason)
        log.warning("neuromap: Triton neuron kernel not used, running the PyTorch loop instead: %s", reason)


def disable(reason: str) -> None:
    """Stop using the Triton kernels in this process (a kernel failed to compile or launch)."""
    if not _import_error:
        _import_error.append(reason)
    warn_once(reason)


def unavailable() -> str | None:
    """Why Triton cannot be used here (None when it imports and no kernel has failed)."""
    if _import_error:
        return _import_error[0]
    try:
        import triton  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install raising anything else
        _import_error.append(f"triton is not importable ({type(exc).__name__}: {exc}); pip install neuromap[gpu]")
        return _import_error[0]
    return None


def _load(interpret: bool) -> ModuleType:
    return kernel_module(_SOURCE, interpret)


def kernel_module(source: Path, interpret: bool) -> ModuleType:
    """The Triton kernel module in ``source`` (a file next to this one), compiled (``interpret=False``)
    or for Triton's interpreter; loaded once each."""
    key = (source.name, interpret)
    with _lock:
        if key not in _modules:
            name = f"neuromap.neurons.{source.stem}_{'interpret' if interpret else 'jit'}"
            spec = importlib.util.spec_from_file_location(name, source)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # the interpreter re-executes kernel source in the module's globals
            if interpret:  # every @triton.jit in the module becomes an interpreted function
                from triton import knobs

                with knobs.runtime.scope():
                    knobs.runtime.interpret = True
                    spec.loader.exec_module(module)
            else:
                spec.loader.exec_module(module)
            _modules[key] = module
    return _modules[key]


def device_problem(x: torch.Tensor, interpret: bool) -> str | None:
    """Why a Triton kernel cannot take a tensor on ``x``'s device (None when it can): the compiled
    kernels run on CUDA tensors, the interpreter on CPU tensors; Triton must import."""
    reason = unavailable()
    if reason:
        return reason
    if interpret:
        if x.device.type != "cpu":
            return f"device {x.device.type} (the interpreter runs on CPU tensors)"
    elif x.device.type != "cuda":
        return f"device {x.device.type} (the Triton kernels run on CUDA tensors)"
    return None


def use_interpreter(x: torch.Tensor, impl: str) -> bool:
    """Whether a call on ``x`` under ``kernels.use(impl)`` goes to Triton's interpreter."""
    return impl == "triton_interpret" or (impl == "auto" and x.device.type == "cpu" and interpret_env())


def wants_triton(x: torch.Tensor, impl: str) -> bool:
    """Whether ``kernels.use(impl)`` asks for a Triton kernel for a call on ``x`` (forced, or ``auto``
    on a CUDA tensor or under ``NEUROMAP_TRITON_INTERPRET=1``)."""
    if impl in ("triton", "triton_interpret"):
        return True
    return impl == "auto" and (x.device.type == "cuda" or use_interpreter(x, impl))


def unsupported(x: torch.Tensor, state, values: dict[str, torch.Tensor], interpret: bool) -> str | None:
    """Why the Triton kernels cannot run this call (None when they can)."""
    reason = device_problem(x, interpret)
    if reason:
        return reason
    if x.dtype not in DTYPES:
        return f"dtype {x.dtype} (the Triton kernels support float32 and bfloat16)"
    if state.refrac is not None and state.refrac.shape != x.shape[1:]:
        return f"state.refrac has shape {tuple(state.refrac.shape)}, not {tuple(x.shape[1:])}"
    return layout_problem(x, state, values)


def layout_problem(x: torch.Tensor, state, values: dict[str, torch.Tensor]) -> str | None:
    """Why a fused kernel (C++ or Triton) cannot take these operands: a state tensor whose shape or
    dtype differs from one step of ``x [T, ...]``, or a per-neuron value that does not broadcast to
    the neuron shape (None when they fit)."""
    for name, t in zip(("v", "i", "s"), (state.v, state.i, state.s)):
        if t is not None and (t.shape != x.shape[1:] or t.dtype != x.dtype):
            return f"state.{name} has shape/dtype {tuple(t.shape)}/{t.dtype}, not {tuple(x.shape[1:])}/{x.dtype}"
    for name, t in values.items():
        try:
            shape = torch.broadcast_shapes(t.shape, x.shape[1:])
        except RuntimeError:
            shape = None
        if shape != x.shape[1:]:
            return f"{name} of shape {tuple(t.shape)} does not broadcast to the neuron shape {tuple(x.shape[1:])}"
    return None


def _vals(t: torch.Tensor, neuron_shape: torch.Size) -> tuple[torch.Tensor, int]:
    """A per-neuron value as float32: ``(one element, stride 0)`` or ``(M elements, stride 1)``."""
    t = t.detach().to(torch.float32)
    if t.numel() == 1:
        return t.reshape(1).contiguous(), 0
    return t.broadcast_to(neuron_shape).reshape(-1).contiguous(), 1


def _flat(t: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """``t`` contiguous (the kernels index flat memory), or an empty tensor standing for None (a null pointer the
    kernel never reads)."""
    if t is None or not t.numel():
        return torch.empty(0, dtype=like.dtype, device=like.device)
    return t.contiguous()


def _launch(kernel, grid_m: int, interpret: bool, *args, **meta) -> None:
    launch(kernel, grid_m, interpret, *args, **meta)


def launch(kernel, n: int, interpret: bool, *args, block: int = BLOCK, **meta) -> None:
    """Launch ``kernel`` over ``n`` elements in programs of ``block`` (``BLOCK`` constexpr), without
    fused multiply-add on the GPU (the kernels mirror PyTorch's operation order)."""
    grid = (triton_cdiv(n, block),)
    if interpret:
        kernel[grid](*args, BLOCK=block, **meta)
    else:
        kernel[grid](*args, BLOCK=block, num_warps=NUM_WARPS, enable_fp_fusion=False, **meta)


@functools.lru_cache(maxsize=256)
def scalar_tensor(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Constants a kernel loads in its compute dtype (a Triton float argument is float32), made once per
    (values, dtype, device): no host-to-device copy per call, so a CUDA graph can capture the call
    (the cached tensor must not be written to)."""
    return torch.tensor(values, dtype=dtype, device=device)


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


def forward(x, v0, i0, s0, r0, beta, alpha, v_th, cfg, keep_h: bool, keep_current: bool, interpret: bool):
    """The fused forward. ``cfg`` carries the neuron options (functional's configuration record).
    Returns ``spikes, v_seq, v, i, refrac, s_last, h_seq, i_seq, active_seq`` like the PyTorch loop
    (``h_seq``/``i_seq`` float32 ``[T, M]``, ``active_seq`` uint8 ``[T, M]``)."""
    mod = _load(interpret)
    T, shape = x.shape[0], x.shape[1:]
    M = shape.numel()
    dev, dt = x.device, x.dtype
    f32 = dict(dtype=torch.float32, device=dev)
    be, sb = _vals(beta, shape)
    al, sa = _vals(alpha, shape)
    th, st = _vals(v_th, shape)
    keep_i = keep_current and cfg.cuba
    refrac = bool(cfg.refractory)
    spikes = torch.empty(x.shape, dtype=dt, device=dev)
    h_seq = torch.empty((T, M), **f32) if keep_h else torch.empty(0, **f32)
    i_seq = torch.empty((T, M), **f32) if keep_i else torch.empty(0, **f32)
    v_seq = torch.empty(x.shape, dtype=dt, device=dev) if cfg.return_membrane else torch.empty(0, dtype=dt, device=dev)
    u8 = dict(dtype=torch.uint8, device=dev)
    act = torch.empty((T, M), **u8) if (refrac and keep_h) else torch.empty(0, **u8)
    v_out = torch.empty(shape, dtype=dt, device=dev)
    i_out = torch.empty(shape, dtype=dt, device=dev) if cfg.cuba else None
    s_out = torch.empty(shape, dtype=dt, device=dev) if cfg.reset_delay else None
    r_out = torch.empty(shape, dtype=torch.int32, device=dev) if refrac else None
    r_in = r0.to(torch.int32) if refrac else None
    _launch(
        mod.lif_forward_kernel, M, interpret,
        x.detach().contiguous(), _flat(v0.detach(), v0), _flat(i0.detach() if cfg.cuba else None, x),
        _flat(s0.detach() if cfg.reset_delay else None, x), _flat(r_in, x if r_in is None else r_in),
        be, al, th, sb, sa, st,
        spikes, h_seq, i_seq, v_seq, act, v_out, _flat(i_out, x), _flat(s_out, x),
        _flat(r_out, x if r_out is None else r_out),
        T, M, float(cfg.v_reset), float(cfg.v_leak), int(cfg.refractory),
        CUBA=cfg.cuba, RESET=_RESET[cfg.reset], INCLUSIVE=cfg.inclusive, DELAY=cfg.reset_delay,
        DECAY_INPUT=cfg.decay_input, REFRAC=refrac, STORE_H=keep_h, STORE_I=keep_i,
        STORE_V=cfg.return_membrane, BF16=dt == torch.bfloat16,
    )  # fmt: skip
    return (
        spikes,
        v_seq if cfg.return_membrane else None,
        v_out,
        i_out,
        r_out,
        s_out,
        h_seq if keep_h else None,
        i_seq if keep_i else None,
        act if (refrac and keep_h) else None,
    )


_RESET = {"subtract": 0, "zero": 1, "none": 2}


def backward(
    g_spikes, g_vseq, g_v, g_i, g_s, x, v0, i0, s0, beta, alpha, v_th, h_seq, i_seq, active_seq,
    cfg, needs, sur_code: int, interpret: bool,
):  # fmt: skip
    """The fused BPTT. Returns ``gx, g_v0, g_i0, g_s0, g_beta, g_alpha, g_th`` (parameter gradients
    per element, float32, in the neuron shape; the caller sums them over broadcast axes)."""
    mod = _load(interpret)
    need_beta, need_alpha, need_th = needs
    T, M = h_seq.shape
    nshape = v0.shape
    dt, dev = v0.dtype, v0.device
    be, sb = _vals(beta, nshape)
    al, sa = _vals(alpha, nshape)
    th, st = _vals(v_th, nshape)
    has_gv = g_v is not None
    has_gi = cfg.cuba and g_i is not None and g_i.numel() > 0
    has_gsl = cfg.reset_delay and g_s is not None and g_s.numel() > 0
    gx = torch.empty((T, *nshape), dtype=dt, device=dev)
    g_v0 = torch.empty(nshape, dtype=dt, device=dev)
    g_i0 = torch.empty(nshape, dtype=dt, device=dev) if cfg.cuba else None
    g_s0 = torch.empty(nshape, dtype=dt, device=dev) if cfg.reset_delay and not cfg.detach_reset else None
    f32 = dict(dtype=torch.float32, device=dev)
    g_beta = torch.empty(nshape, **f32) if need_beta else None
    g_alpha = torch.empty(nshape, **f32) if need_alpha else None
    g_th = torch.empty(nshape, **f32) if need_th else None
    has_gs = g_spikes is not None
    has_gvs = g_vseq is not None and g_vseq.numel() > 0
    sur = cfg.surrogate
    k = sur.effective_slope
    fl = lambda t: _flat(t, h_seq)  # noqa: E731
    _launch(
        mod.lif_backward_kernel, M, interpret,
        g_spikes.contiguous() if has_gs else fl(None), g_vseq.contiguous() if has_gvs else fl(None),
        fl(g_v if has_gv else None), fl(g_i if has_gi else None), fl(g_s if has_gsl else None),
        h_seq, fl(i_seq), active_seq if active_seq is not None else fl(None),
        x.contiguous() if x is not None else fl(None), fl(v0), fl(i0) if cfg.cuba else fl(None),
        fl(s0) if cfg.reset_delay else fl(None),
        be, al, th, sb, sa, st,
        gx, g_v0, fl(g_i0), fl(g_s0), fl(g_beta), fl(g_alpha), fl(g_th),
        T, M, float(cfg.v_reset), float(cfg.v_leak), k, k / 2.0, 3.141592653589793 / 2.0 * k,
        CUBA=cfg.cuba, RESET=_RESET[cfg.reset], INCLUSIVE=cfg.inclusive, DELAY=cfg.reset_delay,
        DECAY_INPUT=cfg.decay_input, DETACH=cfg.detach_reset, REFRAC=bool(cfg.refractory), SUR=sur_code,
        HAS_GS=has_gs, HAS_GVS=has_gvs, HAS_GV=has_gv, HAS_GI=has_gi, HAS_GSL=has_gsl,
        NEED_BETA=need_beta, NEED_ALPHA=need_alpha, NEED_TH=need_th,
        BF16=dt == torch.bfloat16,
    )  # fmt: skip
    return gx, g_v0, g_i0, g_s0, g_beta, g_alpha, g_th
