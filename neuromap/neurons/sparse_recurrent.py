"""One fused step of a LIF / CuBa-LIF population with sparse (CSR) recurrent weights, on the GPU.

A reservoir step is ``x = drive_t + W_rec s_{t-1}`` followed by the neuron update; in PyTorch ops
that is a sparse matmul and about ten element-wise launches per step. :class:`CSRStep` does it in
one Triton launch (``_triton_csr_step_src.py``): each lane gathers its neuron's CSR row over the
spikes of the previous step and updates its neuron, in the reservoir step's operation order
(``networks/lsm.py``). It reads nothing back to the host, so a loop of steps queues its launches
without waiting (and can be captured in a CUDA graph). float32 and float64; no autograd (a
reservoir's weights are fixed).

Selection follows :mod:`neuromap.neurons.triton_kernels`: ``kernels.use("auto")`` takes it on CUDA
tensors (or on CPU tensors through the interpreter under ``NEUROMAP_TRITON_INTERPRET=1``) and
otherwise, with a logged reason, the PyTorch step; ``"triton"`` / ``"triton_interpret"`` force it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import kernels, triton_kernels
from .functional import NeuronState
from .params import CubaLIFParams, LIFParams, require_one_current

_SOURCE = Path(__file__).with_name("_triton_csr_step_src.py")
DTYPES = (torch.float32, torch.float64)
_RESET = {"subtract": 0, "zero": 1, "none": 2}
_failed: list[str] = []


def select(x: torch.Tensor) -> str | None:
    """``"triton"`` or ``"interpret"`` when the fused step runs a call on ``x`` under
    ``kernels.use``, None for the PyTorch step (``auto`` logs why once; a forced Triton
    implementation that cannot run raises)."""
    impl = kernels.current_impl()
    if impl in ("torch", "cpp") or not triton_kernels.wants_triton(x, impl):
        return None
    interpret = triton_kernels.use_interpreter(x, impl)
    reason = _failed[0] if _failed else triton_kernels.device_problem(x, interpret)
    if reason is None and x.dtype not in DTYPES:
        reason = f"dtype {x.dtype} (the fused CSR step supports float32 and float64)"
    if reason is None:
        return "interpret" if interpret else "triton"
    if impl != "auto":
        raise ValueError(f"the Triton CSR step does not support this call: {reason}")
    triton_kernels.warn_once(f"reservoir step: {reason}")
    return None


def disable(reason: str) -> None:
    """Switch the fused step off for this process (its kernel failed to compile or run)."""
    if not _failed:
        _failed.append(f"the CSR step kernel failed ({reason})")
    triton_kernels.warn_once(f"reservoir step: {_failed[0]}")


class CSRStep:
    """The fused step for one population: ``W [N, N]`` (post x pre) as a torch sparse CSR tensor on
    the device, ``params`` of every neuron (no delayed reset), compute ``dtype``, ``max_degree`` the
    longest row of ``W`` (computed from ``W`` when not given)."""

    def __init__(self, W: torch.Tensor, params: LIFParams, dtype: torch.dtype, interpret: bool,
                 max_degree: int | None = None) -> None:
        if params.reset_delay:
            raise ValueError("the fused CSR step does not support reset_delay=True (snnTorch's delayed reset)")
        require_one_current(params, "the fused CSR step")
        self.n = W.shape[0]
        self.indptr = W.crow_indices().to(torch.int64).contiguous()
        self.indices = W.col_indices().to(torch.int64).contiguous()
        self.data = W.values().to(dtype).contiguous()
        if max_degree is None:  # read back from the device once, before any step (pass it to avoid even that)
            degrees = torch.diff(W.crow_indices().cpu())
            max_degree = int(degrees.max()) if degrees.numel() else 0
        self.max_deg = int(max_degree)  # the longest CSR row: the gather loop's trip count
        self.cuba = isinstance(params, CubaLIFParams)
        self.p, self.interpret = params, interpret
        leak = (1.0 - params.beta) * params.v_leak
        values = (params.beta, params.alpha if self.cuba else 0.0, leak, params.input_gain, params.v_th, params.v_reset)
        self.scal = triton_kernels.scalar_tensor(tuple(float(v) for v in values), dtype, W.device)
        self.meta = dict(
            CUBA=self.cuba, RESET=_RESET[params.reset], INCLUSIVE=params.threshold_rule == ">=",
            REFRAC=params.refractory_steps > 0, HAS_LEAK=leak != 0.0, HAS_GAIN=params.input_gain != 1.0,
            F64=dtype == torch.float64,
        )  # fmt: skip
        self.kernel = triton_kernels.kernel_module(_SOURCE, interpret).csr_lif_step

    def __call__(self, drive: torch.Tensor, s_prev: torch.Tensor, st: NeuronState, s_out: torch.Tensor,
                 mem: torch.Tensor | None) -> None:
        """One step, in place: ``drive [B, N]`` (contiguous), previous spikes ``s_prev`` (uint8
        ``[B, N]``), state ``st`` (``v``, ``i``, ``refrac`` updated), spikes into ``s_out`` (uint8)
        and, when given, the membrane after reset into ``mem``."""
        M = drive.numel()
        empty = drive.new_empty(0)
        triton_kernels.launch(
            self.kernel, M, self.interpret,
            drive, s_prev, self.indptr, self.indices, self.data, st.v, st.i if self.cuba else empty,
            st.refrac if self.meta["REFRAC"] else empty.to(torch.int32), s_out, empty if mem is None else mem,
            self.scal, M, self.n, self.max_deg, int(self.p.refractory_steps),
            STORE_MEM=mem is not None, **self.meta,
        )  # fmt: skip
