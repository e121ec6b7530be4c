# The project's commands. `make test` on a fresh clone installs everything into .venv and compat/node_modules.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE_DEPS := compat/node_modules/.package-lock.json
export REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install run test lint typecheck bench bench-coldstart bench-flow synth clean

install: $(INSTALLED) $(NODE_DEPS)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(NODE_DEPS): compat/package.json compat/package-lock.json
	npm ci --prefix compat --no-audit --no-fund --loglevel=error

run: install
	$(PY) -m jobqueue.local.dev

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

bench-flow: $(INSTALLED)
	$(PY) -m bench.flow

synth: $(INSTALLED)
	$(PY) app.py

clean:
	rm -rf $(VENV) compat/node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache
