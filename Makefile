# The two commands of kruispunt: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-stamp

.PHONY: run test lint types pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: create the environment, install, and start the whole network with a synthetic population
run: $(STAMP)
	$(BIN)/kruispunt up $(ARGS)

## test: lint + types + the full test suite (SQLite and PostgreSQL)
test: $(STAMP) lint types pytest

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
