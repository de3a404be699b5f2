# hudi-pg-sync — the two commands a newcomer needs:
#   make run    sync a Hudi table into a throwaway local PostgreSQL (embedded default)
#   make test   every test (unit, conformance against the hudi PyPI oracle, Postgres, moto, Lambda e2e)

SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
CARGO ?= cargo

.PHONY: all venv test build-tests run bench build deploy watch invoke-detector invoke-loader lint fmt clean-state

all: test

# The Python side of the tests: the hudi (hudi-rs) oracle, moto server, cfn-lint, cargo-lambda.
$(VENV)/.stamp: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r tests/requirements.txt
	touch $@

venv: $(VENV)/.stamp

build-tests: venv
	$(CARGO) build --workspace --tests --bins

test: build-tests
	$(CARGO) test --workspace --no-fail-fast

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
