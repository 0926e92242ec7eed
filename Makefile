# The two commands of kruispunt: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-stamp

.PHONY: run test lint types pytest bench clean browser

AXE_VERSION = 4.14.1
AXE = $(VENV)/npm/node_modules/axe-core/axe.min.js

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: create the environment, install, and start the whole network with a synthetic population
run: $(STAMP)
	$(BIN)/kruispunt up $(ARGS)

## test: lint + types + the full test suite (SQLite and PostgreSQL; the portal in headless Chromium)
test: $(STAMP) browser lint types pytest

## browser: Debian's Chromium and axe-core for the portal's browser tests (installed when missing)
browser: $(AXE)
	@test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium) \
		|| echo "chromium could not be installed: the browser tests will say so"

$(AXE):
	npm install --silent --no-audit --no-fund --prefix $(VENV)/npm axe-core@$(AXE_VERSION)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/kruispunt bench hub --json
	$(BIN)/kruispunt bench directory --json

clean:
	rm -rf $(VENV) data build *.egg-info
