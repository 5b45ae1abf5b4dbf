# The README's commands. Each installs what it needs into .venv first. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help demo unit test lint validate bench bench-update docs verify

help:  ## list the targets
	@awk -F ':.*## ' '/^[a-z-]+:.*## / { printf "  make %-13s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

demo: $(VENV)/.installed-demo  ## run the whole pattern locally against a RabbitMQ, no AWS (RABBITMQ_URL, else Docker)
	$(BIN)/python scripts/demo.py

unit: $(VENV)/.installed  ## the fast tests: no broker, no Terraform, on every core
	$(BIN)/pytest -m unit -n auto -q $(PYTEST_ARGS)

test: $(VENV)/.installed  ## every test: unit, integration, fault injection, Terraform (offline)
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-bench  ## benchmarks P1-P7 and Lambda sizing (needs a broker, like test); writes build/bench/
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

bench-update: $(VENV)/.installed-bench  ## the same, rewriting benchmarks/results.json and docs/lambda-cost.png
	$(BIN)/python benchmarks/run.py --update $(BENCH_ARGS)

verify: $(VENV)/.installed-runtime  ## after terraform apply: check each mapping, its poller's consumer, a message's log, a dead letter, alarms (VERIFY_ARGS=--rotation-drill)
	$(BIN)/python scripts/verify.py $(VERIFY_ARGS)

docs: $(VENV)/.installed  ## the Inputs and Outputs tables of docs/terraform.md
	$(BIN)/python scripts/terraform_docs.py

lint: $(VENV)/.installed validate  ## ruff, mypy, and the Terraform checks of validate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

validate: $(VENV)/.installed  ## terraform fmt -check, and the shipped root *.tf loaded by init and validate
	terraform fmt -check -recursive
	$(BIN)/pytest -q -p no:cacheprovider tests/terraform/test_terraform.py -k "formatted or is_valid or unmodified"

# Everything: the runtime dependencies and every development tool.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The tools alone, with their runtime dependencies (what the README's install command gives).
$(VENV)/.installed-runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The demo: the runtime dependencies, and Testcontainers for a broker in Docker (the docker extra).
$(VENV)/.installed-demo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[docker]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@
