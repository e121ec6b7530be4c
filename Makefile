# The project's commands. `make test` on a fresh clone installs everything into .venv and compat/node_modules.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE_DEPS := compat/node_modules/.package-lock.json
export REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install run test lint typecheck bench bench-coldstart bench-local synth clean

install: $(INSTALLED) $(NODE_DEPS)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(NODE_DEPS): compat/package.json compat/package-lock.json
	npm ci --prefix compat --no-audit --no-fund --loglevel=error

# Local-only defaults (README): the API's service token, the GoHighLevel webhook secret, the example processors.
# REDIS_URL reaches `jobqueue dev` only when you set it; otherwise it starts a throwaway redis-server.
LOCAL_ENV := SERVICE_TOKEN="$${SERVICE_TOKEN-local-dev-token}" \
	GHL_WEBHOOK_SECRET="$${GHL_WEBHOOK_SECRET-local-dev-webhook-secret}" \
	JOBQUEUE_PROCESSORS="$${JOBQUEUE_PROCESSORS-examples.processors}"

run: $(INSTALLED)
	env $(if $(filter environment% command%,$(origin REDIS_URL)),,-u REDIS_URL) $(LOCAL_ENV) $(PY) -m jobqueue.local.dev

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .

typecheck: $(INSTALLED)
	$(VENV)/bin/mypy

test: install lint typecheck
	$(PY) -m pytest

bench: install
	$(PY) -m bench.lifecycle

bench-coldstart: $(INSTALLED)
	$(PY) -m bench.coldstart

bench-local: $(INSTALLED)
	env $(if $(filter environment% command%,$(origin REDIS_URL)),,-u REDIS_URL) $(PY) -m bench.local_throughput

synth: $(INSTALLED)
	$(PY) app.py

clean:
	rm -rf $(VENV) compat/node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache
