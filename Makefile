# govplat: `make` lists the targets. Needs only Python 3.11+ and make.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install install-dev up test test-fast protos lint bench clean

help: ## Show this help
	@echo "govplat: government as a platform"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "govplat needs Python 3.11 or newer (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	@echo "Installing uv $(UV_VERSION) into $(TOOLS)/ ..."
	@$(PYTHON) -m venv $(TOOLS)
	@$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV) ## Install the platform into .venv (what `make up` needs)
	@$(UV) sync --frozen --all-packages --no-dev --inexact --python $(PYTHON)

install-dev: $(UV) ## Install the platform and the development tools into .venv
	@$(UV) sync --frozen --all-packages --python $(PYTHON)

up: install ## Run the whole platform (NATS, migrations, five components, sandbox)
	@$(VENV)/bin/govplat up

test: install-dev ## Run every test (in parallel)
	@$(VENV)/bin/python -m pytest -n auto $(PYTEST_ARGS)

test-fast: install-dev ## Run the tests not marked slow
	@$(VENV)/bin/python -m pytest -n auto -m "not slow" $(PYTEST_ARGS)

protos: install-dev ## Regenerate the Python code for protos/ (committed)
	@$(VENV)/bin/python scripts/gen_protos.py

lint: install-dev ## Check style and common bugs with ruff
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check libs/govkit services gateway src tests scripts

bench: install ## Run the benchmarks under bench/ (results go in docs/benchmarks.md)
	@$(VENV)/bin/python bench/startup.py --runs 5
	@$(VENV)/bin/python bench/gateway_overhead.py --duration 10
	@$(VENV)/bin/python bench/registers.py
	@$(VENV)/bin/python bench/payments.py
	@$(VENV)/bin/python bench/events.py
	@$(VENV)/bin/python bench/notify.py --duration 20

clean: ## Remove .venv, .tools and var/ (all local data)
	rm -rf $(VENV) $(TOOLS) var
