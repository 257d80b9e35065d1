# neuromap: `make demo` and `make test` each do all set-up on a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup demo test test-unit test-integration test-slow test-gpu test-random lint readme bench bench-setup check-wheel docs notebooks clean

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
	$(PY) -m experiments.demo

# Test tiers (markers in pyproject.toml; tests/conftest.py marks each test by its folder). `make test` runs every
# test but the slow ones, unit and integration, in file order (~10 minutes on 2 cores).
PYTEST := $(PY) -m pytest -q
# pytest exits 5 when a selection holds no test: not a failure for a tier that happens to be empty.
NO_TESTS_OK := rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test: setup
	$(PYTEST) $(PYTEST_ARGS); $(NO_TESTS_OK)

# One module or package at a time (tests/unit/, mirroring neuromap/, networks/, benchmarks/).
test-unit: setup
	$(PYTEST) tests/unit $(PYTEST_ARGS); $(NO_TESTS_OK)

# The pieces together: notebooks, README code, docs, DDP, experiment runs, CLI end to end (tests/integration/).
test-integration: setup
	$(PYTEST) tests/integration $(PYTEST_ARGS); $(NO_TESTS_OK)

test-slow: setup
	$(PYTEST) -m slow $(PYTEST_ARGS); $(NO_TESTS_OK)

# The GPU code paths: through Triton's interpreter here; on a GPU machine NEUROMAP_TEST_DEVICE=cuda make test-gpu.
test-gpu: setup
	$(PYTEST) -m "gpu and not slow" $(PYTEST_ARGS); $(NO_TESTS_OK)

# The same tests as `make test` in a shuffled order (pytest-randomly); the header prints the seed and
# `make test-random PYTEST_ARGS=--randomly-seed=N` repeats that order.
test-random: setup
	$(PYTEST) -p randomly $(PYTEST_ARGS); $(NO_TESTS_OK)

lint: setup
	$(VENV)/bin/ruff check .

# Every generated block of README.md (experiment tables, demo targets, benchmark tables) from the files they come from.
readme: setup
	$(PY) -m tools.update_readme

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
	$(PY) -m tools.check_wheel

clean:
	rm -rf $(VENV) build *.egg-info docs/_build docs/_generated
