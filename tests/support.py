"""What several test modules need at import time (fixtures are in ``conftest.py``): the repository's
folders, the device and implementation the GPU-path tests run on, and writers of small files in real
data-set formats, and the small netlist the energy tests count by hand.

``NEUROMAP_TEST_DEVICE=cuda`` runs the ``gpu`` tests with the compiled Triton kernels on a GPU (as
``benchmarks/gpu_check.sh`` does); otherwise they run through Triton's interpreter on the CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import torch

from neuromap.netlist import Netlist, Population, Projection

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"  # small committed files (NIR graphs of other tools); make_fixtures.py writes them

DEVICE = torch.device(os.environ.get("NEUROMAP_TEST_DEVICE", "cpu"))
IMPL = "triton" if DEVICE.type == "cuda" else "triton_interpret"


#: Python source that makes the optional integrations unimportable, as on a core install: a meta-path
#: finder raising ImportError for them (prepend it to a ``python -c`` script; format with ``blocked``).
EXTRAS_BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    BLOCKED = {blocked!r}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
            return None
    sys.meta_path.insert(0, Block())
    """
)


def run_without_extras(body: str, cwd: Path = ROOT, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run Python source ``body`` in a subprocess where every optional integration
    (:data:`neuromap.optional.EXTRAS`) fails to import, as on ``pip install neuromap-snn``."""
    from neuromap import optional

    code = EXTRAS_BLOCKER.format(blocked=sorted(optional.EXTRAS)) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def write_shd(path: Path, samples: list[tuple[list[float], list[int], int]]) -> None:
    """An SHD/SSC file as the originals are laid out: vlen spikes/times (float16 s), spikes/units (uint16), labels."""
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u, _) in enumerate(samples):
            times[i] = np.asarray(t, dtype=np.float16)
            units[i] = np.asarray(u, dtype=np.uint16)
        f.create_dataset("labels", data=np.array([s[2] for s in samples], dtype=np.uint16))
        f.create_dataset("extra/speaker", data=np.zeros(len(samples), dtype=np.uint16))


def norse_run(net, x: torch.Tensor) -> torch.Tensor:
    """A Norse module's outputs ``[T, ...]`` over ``x [T, ...]``, one step at a time with its state
    passed explicitly (Norse's own loop; the NIR tests compare neuromap's runs against it)."""
    state, outs = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            o, state = net(x[t], state)
            outs.append(o)
    return torch.stack(outs)


def small_net() -> Netlist:
    """input (3) -> LIF (2) -> leaky integrator (1): the netlist whose activity the energy tests count by hand."""
    nl = Netlist("small")
    nl.add_population(Population("in", "input", (3,)))
    nl.add_population(Population("h", "lif", (2,)))
    nl.add_population(Population("o", "li", (1,), spiking=False))
    nl.add_projection(Projection("w1", "in", "h", "dense", weight=np.array([[1.0, 0.0, 2.0], [0.5, 0.5, 0.5]]),
                                 bias=np.zeros(2)))
    nl.add_projection(Projection("w2", "h", "o", "dense", weight=np.array([[0.0, 3.0]])))
    return nl


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def kernel_python(name: str) -> str | None:
    """The interpreter jupyter_client would start for kernel ``name`` (None if there is no such kernel)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return None
    exe = spec.argv[0]
    # jupyter_client substitutes its own interpreter for a bare "python" / "python3" / "python3.11"
    if exe in {"python", f"python{sys.version_info[0]}", f"python{sys.version_info[0]}.{sys.version_info[1]}"}:
        return sys.executable
    return exe


def venv_kernel_env(prefix: Path) -> dict[str, str]:
    """Environment under which ``python3`` is a kernel running this interpreter (the venv's).

    If the ``python3`` kernelspec found on the Jupyter path points elsewhere, a kernelspec for
    ``sys.executable`` is written to the folder ``prefix`` that is put first on ``JUPYTER_PATH``
    (the notebook tests and the docs build that executes the tutorials)."""
    env: dict[str, str] = {}
    found = kernel_python("python3")
    if found is None or not same_file(found, sys.executable):
        from ipykernel.kernelspec import install

        install(kernel_name="python3", prefix=str(prefix))
        paths = [str(prefix / "share" / "jupyter"), os.environ.get("JUPYTER_PATH", "")]
        env["JUPYTER_PATH"] = os.pathsep.join(p for p in paths if p)
    return env
