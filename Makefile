# Two commands do all the set-up on a fresh machine with Python, git and make:
#   make demo   runs the main job on the embedded default
#   make test   runs every test (lint included)
# Both create the virtual environments they need when missing, so nothing has to be run by hand first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# checkov pins many packages of its own: it lives in its own environment so it cannot clash with ours.
CHECKOV_VENV := .checkov-venv
PIP_FLAGS := --quiet --disable-pip-version-check
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint format check-format clean-state clean help mutation

help:
	@echo "make demo   - train, gate, register and bump on the embedded default (sets itself up)"
	@echo "make test   - lint and run the whole test suite (sets itself up)"
	@echo "make format - apply ruff formatting and safe fixes"
	@echo "make clean-state - forget the local registry, runs, gitops remote and PRs (.mlops/)"
	@echo "make mutation - mutation testing of the gate, intervals and pins (not part of make test)"
	@echo "make fast-path-equality - the engine's fast path against pipeline.predict on the installed scikit-learn"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e ".[training,infra,azure,dev]"
	touch $@

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) "checkov>=3.2,<4"
	touch $@

install: $(VENV)/.installed $(CHECKOV_VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/python scripts/demo.py

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint
	CHECKOV=$(abspath $(CHECKOV_VENV))/bin/checkov $(BIN)/python -m pytest -n $(PYTEST_WORKERS)

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean-state:
	rm -rf .mlops

clean: clean-state
	rm -rf $(VENV) $(CHECKOV_VENV) *.egg-info .pytest_cache .ruff_cache mutants

# Mutation testing (mutmut, configured in pyproject.toml's [tool.mutmut]): mutates the gate, the conformal
# calibration, the pin file format (model_contract/) and the pin-change rules (delivery/) one function at a time, runs the tests that
# call the mutated function, and lists the mutants no test killed. Not part of `make test`: a fresh run
# takes about a quarter of an hour on 2 cores. `mutmut show <name>` prints a mutant's diff.
MUTATION_WORKERS ?= 2

$(VENV)/.mutation-installed: pyproject.toml | $(VENV)/.installed
	$(BIN)/pip install $(PIP_FLAGS) -e ".[training,infra,azure,dev,mutation]"
	touch $@

# One OpenMP thread: mutmut forks a worker per mutant from a process that has already trained models, and
# an OpenMP thread pool does not survive a fork (the boosting fit then hangs and a live mutant would be
# counted as killed by timeout).
mutation: $(VENV)/.mutation-installed
	rm -rf mutants
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children $(MUTATION_WORKERS)
	$(BIN)/mutmut export-cicd-stats
	@echo "Mutants that survived or that no test reached:"
	@$(BIN)/mutmut results | grep -E ": (survived|no tests|suspicious)$$" || echo "    none"

# The fast path's equality tests on whatever scikit-learn .venv holds, with no install step of its own:
# .pipelines/fast-path-sklearn.yml upgrades scikit-learn to its newest release first (outside pyproject's
# range on purpose), and a dependency on .venv/.installed would put the pinned one back.
fast-path-equality:  ## the fast path equals pipeline.predict (not part of make test, which runs it too)
	$(BIN)/python -m pytest tests/estimation_engine/model/test_fast_model.py -q -n 0 -p no:cacheprovider
.PHONY: fast-path-equality

bench-engine: $(VENV)/.installed  ## serving benchmark: the engine vs the Azure ML inference server (figures, not a test)
	$(BIN)/python benchmarks/engine/run.py
.PHONY: bench-engine
