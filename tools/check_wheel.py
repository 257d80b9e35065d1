"""Build the wheel and sdist, install the wheel with only the core dependencies into a fresh
virtualenv, and run it from outside the checkout: ``neuromap --version`` (``neuromap targets`` where
the CLI has no ``--version`` yet), the README tour (its Python blocks) and ``neuromap deploy
--backend loihi`` on the shipped digits data.

    python -m tools.check_wheel [--keep DIR]        # `make check-wheel`; tests/integration/test_wheel.py (slow)

The fresh venv gets ``torch==2.13.0`` first (the CPU wheel on disk on these machines; any other
version would pull a multi-GB CUDA build), then the wheel, which brings the other core dependencies
and no extra. Exits non-zero, naming the failed step, if anything fails.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"
STEP_TIMEOUT_S = 900
INTEGRATIONS = ("brian2", "snntorch", "nirtorch", "norse", "pymetis", "tonic", "lava", "asteval", "spikingjelly")


def _run(step: str, cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    print(f"[check-wheel] {step}: rc={proc.returncode} ({time.perf_counter() - t0:.1f} s)", flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"check-wheel: step '{step}' failed:\n$ {' '.join(cmd)}\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def build(out: Path) -> tuple[Path, Path]:
    """``python -m build`` (isolated) into ``out``; returns (wheel, sdist)."""
    _run("build wheel and sdist", [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=ROOT)
    wheels, sdists = sorted(out.glob("neuromap-*.whl")), sorted(out.glob("neuromap-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise SystemExit(f"check-wheel: expected one wheel and one sdist in {out}, found {wheels + sdists}")
    return wheels[0], sdists[0]


def tour_script() -> str:
    """The README's Python blocks, in order, as one script."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    if not blocks:
        raise SystemExit("check-wheel: README.md has no python blocks")
    return "\n".join(blocks)


def check(work: Path) -> None:
    wheel, sdist = build(work / "dist")
    print(f"[check-wheel] built {wheel.name} and {sdist.name}")
    venv = work / "venv"
    _run("create venv", [sys.executable, "-m", "venv", str(venv)], cwd=work)
    py = venv / "bin" / "python"
    _run(f"install {TORCH}", [str(py), "-m", "pip", "install", "-q", TORCH], cwd=work)
    _run("install the wheel (core dependencies only)", [str(py), "-m", "pip", "install", "-q", str(wheel)], cwd=work)
    run_dir = work / "run"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    where = _run("import from the venv", [str(py), "-c", "import neuromap, sys; print(neuromap.__file__); "
                 f"print([m for m in {INTEGRATIONS!r} if __import__('importlib.util').util.find_spec(m)])"],
                 cwd=run_dir, env=env).split("\n")
    if not where[0].startswith(str(venv)):
        raise SystemExit(f"check-wheel: neuromap was imported from {where[0]}, not from the fresh venv")
    if where[1] != "[]":
        raise SystemExit(f"check-wheel: the core install brought integrations: {where[1]}")
    neuromap = str(venv / "bin" / "neuromap")
    probe = subprocess.run([neuromap, "--version"], cwd=run_dir, env=env, capture_output=True, text=True, timeout=300)
    if probe.returncode == 0:
        print(f"[check-wheel] neuromap --version: {probe.stdout.strip()}")
    elif "unrecognized arguments" in probe.stderr or "required" in probe.stderr:
        print("[check-wheel] this neuromap has no --version option yet; running `neuromap targets` instead")
        _run("neuromap targets", [neuromap, "targets"], cwd=run_dir, env=env)
    else:
        raise SystemExit(f"check-wheel: neuromap --version failed:\n{probe.stdout[-2000:]}\n{probe.stderr[-2000:]}")
    (run_dir / "tour.py").write_text(tour_script())
    _run("README tour (python blocks)", [str(py), "tour.py"], cwd=run_dir, env=env)
    _run("neuromap deploy --backend loihi", [neuromap, "deploy", "digits.nir", "--backend", "loihi", "--target",
         "loihi2", "--dataset", "digits", "--samples", "16", "-o", "deployed"], cwd=run_dir, env=env)
    for name in ("activity.npz",):
        if not (run_dir / "deployed" / name).exists():
            raise SystemExit(f"check-wheel: deploy wrote no {name}")
    print("[check-wheel] OK: the installed wheel runs the CLI, the README tour and deploy --backend loihi")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", type=Path, default=None, help="work in this directory and keep it (default: a temporary one)")
    args = ap.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        check(args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="neuromap-wheel-") as tmp:
            check(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
