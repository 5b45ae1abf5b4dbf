# The README's commands. Each installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench docs

demo: $(VENV)/.installed  ## run the whole pattern locally against a RabbitMQ, no AWS
	$(BIN)/python scripts/demo.py

test: $(VENV)/.installed  ## the full test suite
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-bench  ## benchmarks P1-P4 and Lambda sizing (needs a broker, like test)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

docs: $(VENV)/.installed  ## the README's Terraform Inputs and Outputs tables
	$(BIN)/python scripts/terraform_docs.py

lint: $(VENV)/.installed  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@
