# The project's commands. `make test` on a fresh clone installs everything into .venv and compat/node_modules.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PREBUILT_CATALOG := layers/jobqueue/catalog.json
NODE_DEPS := compat/node_modules/.package-lock.json
# LocalStack's community runtime, on the host under CPython 3.13 (pyenv's when there is one), in its own venv.
PYENV_ROOT ?= $(HOME)/.pyenv
LOCALSTACK_PYTHON ?= $(or $(lastword $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3.13)),python3.13)
LOCALSTACK_VENV := .localstack/venv
LOCALSTACK_CONSTRAINTS := tests/integration/localstack-constraints.txt
LOCALSTACK_INSTALLED := $(LOCALSTACK_VENV)/.installed
# checkov, in its own venv too: it pins many libraries the project's venv must not get. Version in the constraints.
CHECKOV_VENV := .checkov/venv
CHECKOV_CONSTRAINTS := tests/infra/checkov-constraints.txt
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed
# The CDK CLI (npm aws-cdk, v2 line) lives in infra/cli, never global. CDK_ARGS passes context: CDK_ARGS="-c stage=prod".
CDK := infra/cli/node_modules/.bin/cdk
CDK_FLAGS := --no-notices --no-version-reporting
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install run run-fresh test lint typecheck bench bench-coldstart bench-local bench-cluster bench-flow bench-groups bench-memory bench-dashboard chaos synth deploy destroy clean localstack localstack-up checkov chromium screenshots

install: $(INSTALLED) $(PREBUILT_CATALOG) $(NODE_DEPS) $(CDK)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# The packaged catalog validated once (jobqueue.prebuilt), what cold starts load; rewritten when its sources change.
$(PREBUILT_CATALOG): $(INSTALLED) layers/jobqueue/catalog.toml layers/jobqueue/catalog.py layers/jobqueue/cron.py
	$(PY) -m jobqueue.prebuilt

$(NODE_DEPS): compat/package.json compat/package-lock.json
	npm ci --prefix compat --no-audit --no-fund --loglevel=error

# Installs LocalStack (idempotent: nothing to do once installed); the integration tests start it themselves.
localstack: $(LOCALSTACK_INSTALLED)

$(LOCALSTACK_INSTALLED): $(LOCALSTACK_CONSTRAINTS)
	rm -rf $(LOCALSTACK_VENV)
	$(LOCALSTACK_PYTHON) -m venv $(LOCALSTACK_VENV)
	$(LOCALSTACK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-c $(LOCALSTACK_CONSTRAINTS) 'localstack-core[runtime]==2026.3.0'
	touch $@

# Installs checkov (idempotent); tests/infra/test_checkov.py runs it on every stage's synthesized template.
checkov: $(CHECKOV_INSTALLED)

$(CHECKOV_INSTALLED): $(CHECKOV_CONSTRAINTS)
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c $(CHECKOV_CONSTRAINTS) checkov
	touch $@

# LocalStack on a free loopback port until Ctrl-C; it prints the AWS_ENDPOINT_URL to use.
localstack-up: $(INSTALLED) $(LOCALSTACK_INSTALLED)
	$(PY) -m tests.integration.localstack

# Local-only defaults (README): the API's service token and the GoHighLevel webhook secret. `jobqueue dev` itself
# starts the seeds' stand-ins and runs their processors (JOBQUEUE_PROCESSORS overrides which).
# REDIS_URL reaches `jobqueue dev` only when you set it; otherwise it starts its own redis-server, whose data stays in
# .jobqueue/ (JOBQUEUE_STATE_DIR) across restarts. `make run-fresh` wipes that state first.
LOCAL_ENV := SERVICE_TOKEN="$${SERVICE_TOKEN-local-dev-token}" \
	READ_ONLY_TOKEN="$${READ_ONLY_TOKEN-local-read-only-token}" \
	GHL_WEBHOOK_SECRET="$${GHL_WEBHOOK_SECRET-local-dev-webhook-secret}"
RUN_LOCAL := env $(if $(filter environment% command%,$(origin REDIS_URL)),,-u REDIS_URL) $(LOCAL_ENV) \
	$(PY) -m jobqueue.local.dev

run: $(INSTALLED) $(PREBUILT_CATALOG)
	$(RUN_LOCAL)

run-fresh: $(INSTALLED) $(PREBUILT_CATALOG)
	$(RUN_LOCAL) --fresh

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .

typecheck: $(INSTALLED)
	$(VENV)/bin/mypy

# Four workers on a 2-core machine: the suite mostly waits (SQS polls, backoffs, subprocesses). Each test file runs
# on one worker, in order (--dist loadfile), so its module fixtures are built once; the infra and integration
# files go first (tests/conftest.py). PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 4

# Debian's headless Chromium and its WebDriver for the dashboard's browser tests (tests/dashboard/); nothing to do
# once /usr/bin/chromedriver is there.
chromium:
	@test -x /usr/bin/chromedriver || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

# The venvs, the npm packages and Chromium do not depend on each other: a fresh clone builds them side by side.
test:
	$(MAKE) --no-print-directory -j4 install localstack checkov chromium
	$(MAKE) --no-print-directory -j2 lint typecheck
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=15

bench: install
	$(PY) -m bench.lifecycle

bench-coldstart: $(INSTALLED) $(PREBUILT_CATALOG)
	$(PY) -m bench.coldstart

bench-local: $(INSTALLED) $(PREBUILT_CATALOG)
	env $(if $(filter environment% command%,$(origin REDIS_URL)),,-u REDIS_URL) $(PY) -m bench.local_throughput

# Chaos against `jobqueue dev` (bench/chaos.py): SIGKILLs, SQS send faults, Redis restarted empty; the last line is
# one JSON object. Its own redis-server unless REDIS_URL is given (a shared one is never restarted). CHAOS_ARGS
# passes options: make chaos CHAOS_ARGS="--jobs 500 --seed 7".
chaos: $(INSTALLED)
	env $(if $(filter environment% command%,$(origin REDIS_URL)),,-u REDIS_URL) $(PY) -m bench.chaos $(CHAOS_ARGS)

# The dashboard's page load in headless Chromium with 100,000 jobs in a queue (REDIS_URL, a prefix of its own),
# against the bare JSON route call it makes; one JSON line.
# The dashboard's browser tests, writing their screenshots to docs/screenshots/ (the README's) instead of build/.
screenshots: $(INSTALLED) $(PREBUILT_CATALOG) $(NODE_DEPS) chromium
	JOBQUEUE_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/dashboard -n 0 -q

bench-dashboard: $(INSTALLED) $(PREBUILT_CATALOG) $(NODE_DEPS) chromium
	$(PY) -m bench.dashboard $(BENCH_DASHBOARD_ARGS)

# Redis Cluster (bench/cluster.py): where one shard stops (jobs/s per queue) and how far three shards take many
# queues, on its own cluster and redis-server; the last line is one JSON object.
bench-cluster: $(INSTALLED)
	$(PY) -m bench.cluster $(BENCH_CLUSTER_ARGS)

bench-flow: $(INSTALLED)
	$(PY) -m bench.flow

# Tenant fairness (bench/groups.py): a quiet tenant's p95 wait alone and behind another's flood of 5,000 jobs, engine
# on the embedded moto (fair-queue delivery emulated) and REDIS_URL; the last line is one JSON object.
bench-groups: $(INSTALLED)
	$(PY) -m bench.groups $(BENCH_GROUPS_ARGS)

# A simulated month of the catalog's schedules plus 300,000 jobs on REDIS_URL, ~6 minutes (BENCH_MEMORY_ARGS="--jobs
# 1000000" for the issue's million).
bench-memory: $(INSTALLED)
	$(PY) -m bench.memory $(BENCH_MEMORY_ARGS)

$(CDK): infra/cli/package.json infra/cli/package-lock.json
	npm ci --prefix infra/cli --no-audit --no-fund --loglevel=error

# Writes the templates to cdk.out/; needs no AWS credentials and no Docker (the layer is bundled with pip).
synth: $(INSTALLED) $(CDK)
	$(CDK) synth --quiet $(CDK_FLAGS) $(CDK_ARGS)

deploy: $(INSTALLED) $(CDK)
	$(CDK) deploy $(CDK_FLAGS) $(CDK_ARGS)

destroy: $(INSTALLED) $(CDK)
	$(CDK) destroy $(CDK_FLAGS) $(CDK_ARGS)

clean:
	rm -rf $(VENV) .localstack .checkov compat/node_modules infra/cli/node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache
