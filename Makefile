# Relais: `make demo` runs everything on SQLite; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
LOCKS := requirements.lock requirements-dev.lock
STAMP := $(VENV)/.installed-$(shell cat $(LOCKS) pyproject.toml | sha256sum | cut -c1-12)
UV_VERSION := 0.13.9

.PHONY: install browser demo test lint format bench lock clean

# Development and tests: the dev lock (the runtime lock's exact versions plus the dev extra).
# Production installs requirements.lock alone (see the README).
install: $(STAMP)

$(STAMP): $(LOCKS) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: install
	RELAIS_DEMO=1 $(BIN)/relais demo

# CHECKS= skips the lint and browser set-up (CI runs them once, then both suites at once).
CHECKS ?= lint browser
test: install $(CHECKS)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser tests' tools: Debian's chromium, and (pinned in package-lock.json) axe-core and
# oidc-provider, the OpenID Connect provider standing in for Pro Santé Connect in the tests.
browser:
	test -x /usr/bin/chromium || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	test -f node_modules/axe-core/axe.min.js -a -f node_modules/oidc-provider/package.json \
		|| npm ci --no-audit --no-fund --silent

# Style, the layers (import-linter contracts in pyproject.toml), the types (mypy on src/).
lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Every benchmark, then one table of figures and targets (BENCH_ARGS=--quick for a smoke run).
bench: install
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

# Rebuild both locks from pyproject.toml, keeping every pin they already hold unless a
# changed dependency forces another (pass UV_ARGS=--upgrade to take the newest releases).
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --quiet $(UV_ARGS) -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --constraint requirements.lock \
		--python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --quiet $(UV_ARGS) -o requirements-dev.lock

clean:
	rm -rf $(VENV) build src/*.egg-info
