# Two set-up commands: `make run` (main job, quick profile on mock data) and `make test`.
# While developing: `make test-fast` (unit tests, about a minute) and `make lint` (ruff).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= quick
ARGS ?=

.PHONY: run test test-fast lint smoke install sync clean-runs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python run_all.py --profile $(PROFILE) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(ARGS)

# Unit tests only: everything not marked slow (no end-to-end run, no training, no Dask cluster).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# Re-pair every notebook after editing its .py source.
sync: $(STAMP)
	$(BIN)/jupytext --sync notebooks/*.py

clean-runs:
	rm -rf runs figures/*/
