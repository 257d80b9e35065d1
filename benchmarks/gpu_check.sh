#!/usr/bin/env bash
# The GPU check of issue 19, prepared to run ONCE on a lent GPU machine (Python 3.12 with torch and
# Triton, no internet): install, GPU correctness tests (compiled Triton kernels vs the PyTorch loops
# on the device: LIF/CuBa, EGRU, reservoir step; no host sync per time step in the zoo), the GPU
# benchmark, the EGRU / LSM step-loop benchmark, then the CUDA-graph / torch.compile check.
# Everything it writes lands in $OUT (the device tool brings $OUT back; at most 8 files: this
# writes 8).
#
#   bash benchmarks/gpu_check.sh prepare   # HERE, with internet: fetch the pure-Python wheels the GPU
#                                           # machine lacks into .whl/ (git-ignored via .git/info/exclude)
#   bash benchmarks/gpu_check.sh           # THERE (device run, carry [".whl"]); OUT defaults to
#                                           # benchmarks/results
#   bash benchmarks/gpu_check.sh dry       # HERE: every step that needs no GPU (install into a
#                                           # scratch dir, test collection, CLI parsing)
#
# Time on an H200: at most ~590 s (each step has its own timeout; see gpu()): use the device's
# 600 s limit, carry [".whl"], and nothing else in the same call.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-benchmarks/results}
WHL=.whl
SITE=${NEUROMAP_GPU_SITE:-/tmp/neuromap-gpu-site}
# The pure-Python packages the GPU image lacks (its KINDS.md list has torch, triton, numpy, scipy,
# networkx, h5py, tqdm, rich, pytest): neuromap needs nir; the benchmark peers need the rest.
WHEELS=(nir==1.0.8 snntorch==1.0.0 spikingjelly==2.0.0 loguru==0.7.3)
SDISTS=(norse==1.1.0)  # published as a source distribution: built here into a pure-Python wheel

prepare() {
    local exclude
    exclude=$(git rev-parse --git-path info/exclude)
    grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
    mkdir -p "$WHL"
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any \
        -d "$WHL" "${WHEELS[@]}" || exit 1
    "$PY" -m pip wheel -q --no-deps -w "$WHL" "${SDISTS[@]}" || exit 1
    ls -la "$WHL"
    du -sh "$WHL"
}

install() {  # the wheels into a scratch dir on PYTHONPATH; neuromap itself editable into $PY's environment
    mkdir -p "$SITE"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHL"/*.whl || return 1
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    # Editable (its .pth must sit in a site directory, not on PYTHONPATH) so that neuromap.networks
    # (package-dir networks/) resolves; pyproject's Python cap (<3.12) is for the CPU wheel pins only.
    "$PY" -m pip install -q --no-deps --no-build-isolation --ignore-requires-python --no-index -e . || return 1
    "$PY" -c "import neuromap.networks, neuromap.neurons.triton_kernels as t; print('neuromap imports; triton:', t.unavailable() or 'ok')"
}

gpu() {
    mkdir -p "$OUT"
    install 2>&1 | tee "$OUT/gpu-setup.log" || { echo "install failed"; exit 1; }
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    "$PY" - <<'EOF' 2>&1 | tee -a "$OUT/gpu-setup.log"
import torch, triton
print("torch", torch.__version__, "cuda", torch.version.cuda, "triton", triton.__version__)
print(torch.cuda.get_device_name(), torch.cuda.get_device_capability())
EOF
    # Budget: one device command may run 600 s; the timeouts below add up to 575 s (plus the install).
    # 1. Correctness: the compiled kernels against the PyTorch loops on the device (LIF/CuBa: every
    #    option, every surrogate, float32 bit-exact forward, bfloat16 = float32 rounded once; EGRU:
    #    values and gradients within rounding; reservoir step: bit-identical; fallbacks logged) and
    #    no host synchronisation per time step in the zoo's forward passes (CUDA's sync debug mode).
    NEUROMAP_TEST_DEVICE=cuda timeout 160 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" -m "not slow" \
        tests/unit/neurons/test_triton_kernels.py tests/unit/neurons/test_triton_egru.py tests/unit/neurons/test_reservoir_fused.py \
        tests/unit/networks/test_host_sync.py 2>&1 | tail -40 | tee "$OUT/gpu-tests.log"
    # 2. The benchmark (neuromap vs SpikingJelly, snnTorch, Norse): JSON + Markdown table into $OUT
    #    (gpu-partial.json is rewritten after every measurement, in case the time runs out).
    timeout 265 "$PY" -m benchmarks.run --device cuda --libs neuromap spikingjelly snntorch norse --out "$OUT" 2>&1 \
        | tail -60 | tee "$OUT/gpu-bench.log"
    # 3. The step loops that stay loops (EGRU LM train / infer, LSM reservoir): neuromap's fused paths
    #    vs the PyTorch loops, device-side verification, CUDA-graph capture and torch.compile of them.
    timeout 75 "$PY" -m benchmarks.gpu_loops --out "$OUT/gpu-loops.json" 2>&1 | tail -30 | tee -a "$OUT/gpu-bench.log"
    # 4. What can be captured / compiled: a training step as a CUDA graph and under torch.compile.
    timeout 75 "$PY" -m benchmarks.gpu_capture --out "$OUT/gpu-capture.json" 2>&1 | tail -30
    # $OUT then holds 8 files (the device tool brings back at most 8): gpu-setup.log, gpu-tests.log,
    # gpu-bench.log, gpu-partial.json, gpu-<date>.json, gpu-latest.md, gpu-loops.json, gpu-capture.json.
}

dry() {  # what can be checked without a GPU, on this machine's Python
    bash -n "$0" && echo "syntax ok"
    local tmp
    tmp=$(mktemp -d)
    SITE="$tmp/site" PYTHONPATH="" install || { echo "dry install failed"; exit 1; }  # (re)installs this checkout editable
    PYTHONPATH="$tmp/site" "$PY" -m pytest -q -p no:cacheprovider --collect-only tests/unit/neurons/test_triton_kernels.py \
        tests/unit/neurons/test_triton_egru.py tests/unit/neurons/test_reservoir_fused.py tests/unit/networks/test_host_sync.py | tail -2
    PYTHONPATH="$tmp/site" "$PY" -m benchmarks.run --device cuda --help > /dev/null && echo "benchmark CLI parses"
    PYTHONPATH="$tmp/site" "$PY" -m benchmarks.gpu_loops --help > /dev/null && echo "loop benchmark CLI parses"
    PYTHONPATH="$tmp/site" "$PY" -m benchmarks.gpu_capture --help > /dev/null && echo "capture CLI parses"
    rm -rf "$tmp"
}

case "${1:-gpu}" in
    prepare) prepare ;;
    dry) dry ;;
    gpu) gpu ;;
    *) echo "usage: bash benchmarks/gpu_check.sh [prepare|gpu|dry]" >&2; exit 2 ;;
esac
