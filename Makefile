# The one entry point. Every target creates what it needs (venvs, pinned packages) on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.12 is the Lambda runtime; take pyenv's 3.12 if there is one, else python3.12 on PATH.
PYTHON312 ?= $(shell v=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$$' | sort -V | tail -n1); \
	if [ -n "$$v" ]; then echo "$$(pyenv root)/versions/$$v/bin/python3.12"; else command -v python3.12; fi)
VENV := .venv
TOOLS := .venv-tools
CHECKOV := .venv-checkov
PY := $(VENV)/bin/python
PIP_FLAGS := -q --disable-pip-version-check
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= eu-west-1
export POWERTOOLS_TRACE_DISABLED := true
export PYTHONPATH := $(CURDIR)/layers/shared:$(CURDIR)

.PHONY: help venv test lint typecheck template-lint checkov pytest demo demo-intacct local bench chaos sandbox build events clean

help:
	@echo "make demo      the whole pipeline on this machine: webhooks in, Intacct out, summary"
	@echo "make local     the same stack kept running (prints webhook URLs and test secrets)"
	@echo "make demo-intacct  a scripted conversation with the Intacct sandbox through the client"
	@echo "make test      lint, type-check, template checks (cfn-lint, sam validate, checkov) and the test suite"
	@echo "make bench     client and pipeline benchmarks"
	@echo "make chaos     soak on a bad day (ORDERS=1000 CHAOS_SEED=1), fuzz, secret scan; exit 1 on loss"
	@echo "make sandbox   run the Intacct sandbox on its own (PORT=8089 SEED=...)"
	@echo "make build     sam build (no Docker needed)"

# The project itself goes in editable (--no-deps: the pins above are its dependencies), which gives
# .venv/bin/intacct-sync; pyproject.toml is a prerequisite so a change to the packaging reinstalls.
# setuptools leaves its egg-info beside the package: removed, so `sam build` never packs it.
$(VENV)/.stamp: requirements-dev.txt layers/shared/requirements.txt pyproject.toml
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it (pyenv install 3.12) or set PYTHON312=/path/to/python3.12"; exit 1; }
	@test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	@$(PY) -m pip install $(PIP_FLAGS) -U pip 2>&1 | grep -v 'is ignored' || true
	@$(PY) -m pip install $(PIP_FLAGS) -r requirements-dev.txt 2>&1 | grep -v 'is ignored' || true
	@$(PY) -c "import aws_lambda_powertools, defusedxml, pydantic, requests, moto, pytest" \
		|| { echo "dependency install failed (see pip output above)"; exit 1; }
	@$(PY) -m pip install $(PIP_FLAGS) --no-deps -e . 2>&1 | grep -v 'is ignored' || true
	@rm -rf layers/shared/intacct_sync.egg-info
	@env -u PYTHONPATH $(VENV)/bin/intacct-sync --version >/dev/null \
		|| { echo "installing the project failed (pip install -e . above)"; exit 1; }
	@touch $@

$(TOOLS)/.stamp: requirements-tools.txt
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it (pyenv install 3.12) or set PYTHON312=/path/to/python3.12"; exit 1; }
	@test -x $(TOOLS)/bin/python || $(PYTHON312) -m venv $(TOOLS)
	@$(TOOLS)/bin/python -m pip install $(PIP_FLAGS) -U pip 2>&1 | grep -v 'is ignored' || true
	@$(TOOLS)/bin/python -m pip install $(PIP_FLAGS) -r requirements-tools.txt 2>&1 | grep -v 'is ignored' || true
	@$(TOOLS)/bin/sam --version >/dev/null && $(TOOLS)/bin/cfn-lint --version >/dev/null \
		|| { echo "tools install failed (see pip output above)"; exit 1; }
	@touch $@

$(CHECKOV)/.stamp: requirements-checkov.txt
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it (pyenv install 3.12) or set PYTHON312=/path/to/python3.12"; exit 1; }
	@test -x $(CHECKOV)/bin/python || $(PYTHON312) -m venv $(CHECKOV)
	@$(CHECKOV)/bin/python -m pip install $(PIP_FLAGS) -U pip 2>&1 | grep -v 'is ignored' || true
	@$(CHECKOV)/bin/python -m pip install $(PIP_FLAGS) -r requirements-checkov.txt 2>&1 | grep -v 'is ignored' || true
	@$(CHECKOV)/bin/checkov --version >/dev/null \
		|| { echo "checkov install failed (see pip output above)"; exit 1; }
	@touch $@

venv: $(VENV)/.stamp $(TOOLS)/.stamp $(CHECKOV)/.stamp

lint: $(VENV)/.stamp
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.stamp
	$(VENV)/bin/mypy

template-lint: $(TOOLS)/.stamp
	$(TOOLS)/bin/cfn-lint template.yaml
	PATH=$(CURDIR)/$(TOOLS)/bin:$$PATH $(TOOLS)/bin/sam validate --lint --template template.yaml

# Security checks on the template; the skip list and the reason for each skip are in .checkov.yaml.
checkov: $(CHECKOV)/.stamp
	BC_SKIP_MAPPING=TRUE $(CHECKOV)/bin/checkov --config-file .checkov.yaml -f template.yaml

pytest: $(VENV)/.stamp
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck template-lint checkov pytest

demo: $(VENV)/.stamp
	$(PY) -m local.demo

demo-intacct: $(VENV)/.stamp
	$(PY) -m local.intacct_demo

# LOCAL_STACK_PRINT_CLI_ENV: the stack prints the exports that point `intacct-sync` at it.
API_PORT ?= 8080
local: $(VENV)/.stamp
	LOCAL_STACK_PRINT_CLI_ENV=1 $(PY) -m local.demo --serve --port $(API_PORT)

bench: $(VENV)/.stamp
	$(PY) -m bench

# Issue 15's soak through the local stack (local/chaos.py): every delivery 3 times, shuffled, Intacct
# failing and out for hours (simulated time), consumers killed; then the webhook fuzz and the secret
# scan. Exit 1 on any loss, duplicate, 5xx or leaked secret. CHAOS_LOG=path keeps the functions' lines.
ORDERS ?= 1000
CHAOS_SEED ?= 1
chaos: $(VENV)/.stamp
	$(PY) -m local.chaos --orders $(ORDERS) --seed $(CHAOS_SEED) $(if $(CHAOS_LOG),--log $(CHAOS_LOG))

PORT ?= 8089
SEED ?= local/intacct_sandbox/seed.json
sandbox: $(VENV)/.stamp
	$(PY) -m local.intacct_sandbox serve --port $(PORT) --seed $(SEED)

# aws_lambda_builders looks for python3.12 on PATH: put the venv's first.
build: $(TOOLS)/.stamp $(VENV)/.stamp
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(TOOLS)/bin/sam build

events: $(VENV)/.stamp
	$(PY) -m local.make_events

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
