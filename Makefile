# neuromap: `make demo` and `make test` each do all set-up on a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup demo test test-slow lint bench bench-setup check-wheel docs notebooks clean

setup: $(STAMP)

# Idempotent: re-runs only when the packaging files change.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	# The CPU wheel of torch lies on disk on these machines; other versions pull a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	# Every extra but norse (below): the core plus all integrations, for development.
	$(PIP) install -q -e '.[dev,docs,lava,brian2,snntorch,metis,data,bench,ray]'
	# norse declares torchvision (a multi-GB CUDA build here), so its deps are skipped; we have the ones it needs.
	$(PIP) install -q --no-deps norse==1.1.0
	# lava-nc 0.10.0 declares Python <3.11 and numpy<2; neuromap.compat.lava makes it import on 3.11.
	$(PIP) install -q --no-deps --ignore-requires-python lava-nc==0.10.0
	# SpikingJelly 2.0 (tests cross-check neuron presets against it; a benchmark peer) declares torchvision.
	$(PIP) install -q --no-deps spikingjelly==2.0.0
	$(PIP) install -q 'triton==3.9.0'  # extra [gpu]: the Triton neuron kernels, tested through its CPU interpreter
	touch $(STAMP)

demo: setup
	$(PY) experiments/demo.py

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test-slow: setup
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then exit 0; fi; exit $$rc

lint: setup
	$(VENV)/bin/ruff check .

bench-setup: setup

bench: bench-setup
	$(PY) -m benchmarks.run

# The docs site (docs/_build/html): API from docstrings, user guide, CLI reference, notebooks executed in short mode.
# Warnings are errors. NEUROMAP_DOCS_FAST=1 skips executing the notebooks.
docs: setup
	$(PY) -m sphinx -b html -W --keep-going -q docs docs/_build/html

# The notebooks' source is notebooks/NN_name.py (jupytext percent format); this rewrites the paired .ipynb.
notebooks: setup
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.py

# Build wheel + sdist, install the wheel with only core dependencies in a fresh venv, run it from outside the checkout.
check-wheel: setup
	$(PY) tools/check_wheel.py

clean:
	rm -rf $(VENV) build *.egg-info docs/_build docs/_generated
