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

# make bench: small sizes (a few minutes); make bench BENCH_FULL=1: the issues' full sizes.
BENCH_RESULTS := var/bench
BENCH_RATES := 50,100,200,400
ifeq ($(BENCH_FULL),1)
BENCH_SIZE := full
BENCH_STARTUP := --runs 5
BENCH_GATEWAY := --duration 10
BENCH_REGISTERS := --entries 1000000
BENCH_PAYMENTS := --duration 10
BENCH_EVENTS := --payments 1000
BENCH_NOTIFY := --duration 60 --rate-duration 20
BENCH_CURVE := --curve-duration 10
else
BENCH_SIZE := small
BENCH_STARTUP := --runs 3
BENCH_GATEWAY := --duration 5
BENCH_REGISTERS := --entries 100000 --step 50000 --proofs 1000
BENCH_PAYMENTS := --duration 5
BENCH_EVENTS := --payments 200
BENCH_NOTIFY := --duration 10 --rate-duration 5
BENCH_CURVE := --curve-duration 3
endif

bench: install-dev ## Run every benchmark under bench/ and rewrite docs/benchmarks.md's generated block (BENCH_FULL=1: full sizes)
	@rm -rf $(BENCH_RESULTS); failed=""; \
	run() { name=$$1; shift; $(VENV)/bin/python "$$@" --results $(BENCH_RESULTS)/$$name.json || failed="$$failed $$name"; }; \
	run startup bench/startup.py $(BENCH_STARTUP); \
	run gateway bench/gateway_overhead.py $(BENCH_GATEWAY); \
	run gateway-curve bench/gateway_overhead.py --curve $(BENCH_RATES) $(BENCH_CURVE); \
	run registers bench/registers.py $(BENCH_REGISTERS); \
	run payments bench/payments.py $(BENCH_PAYMENTS); \
	run payments-curve bench/payments.py --curve $(BENCH_RATES) $(BENCH_CURVE); \
	run events bench/events.py $(BENCH_EVENTS); \
	run notify bench/notify.py $(BENCH_NOTIFY); \
	run notify-curve bench/notify.py --curve $(BENCH_RATES) $(BENCH_CURVE); \
	$(VENV)/bin/python bench/report.py --results $(BENCH_RESULTS) --size $(BENCH_SIZE) || failed="$$failed report"; \
	if [ -n "$$failed" ]; then echo "make bench: failed:$$failed" >&2; exit 1; fi

clean: ## Remove .venv, .tools and var/ (all local data)
	rm -rf $(VENV) $(TOOLS) var
