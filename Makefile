# Two entry points: `make demo` (set up + derive gelu) and `make test` (set up + full test suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
DOCS_STAMP := $(VENV)/.installed-docs

.PHONY: demo test test-slow lint docs generate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(RUN_STAMP)

$(DOCS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@ $(RUN_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/dualcalc derive gelu

lint: $(DEV_STAMP)
	$(BIN)/ruff check dualcalc tests benchmarks

# The suite without its slowest checks (tests/conftest.py: SLOW), within CI's time on 2 cores.
test: lint
	$(BIN)/python -m pytest -n 2 --dist worksteal -m "not slow" --durations=15

# The slowest checks alone (edge values of the piecewise activations, the fresh regeneration
# of the catalogue, the wheel, notebooks, sharded and multi-process runs).
test-slow: $(DEV_STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal -m slow

# The API reference site into docs/_build/html, warnings as errors; then every example runs
# (sphinx-build -b doctest). Notebooks are shown as committed, never executed.
docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	$(BIN)/sphinx-build -W --keep-going -q -b doctest docs docs/_build/doctest

generate: $(RUN_STAMP)
	$(BIN)/dualcalc generate --all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis docs/_build docs/notebooks
