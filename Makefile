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

# The embedded default (scripts/run-demo.sh): a throwaway PostgreSQL under target/run (or
# $$HPS_STATE_DIR), a Hudi table synced commit by commit, staging and status shown. Needs only
# cargo and the PostgreSQL server binaries (no venv, no AWS, no internet).
run:
	@CARGO="$(CARGO)" bash scripts/run-demo.sh run

# stop the demo PostgreSQL and remove its state directory
clean-state:
	@bash scripts/run-demo.sh clean

# `make bench` (bench/README.md): release builds in their own target dir, the peers' packages
# in the venv, tables generated once under target/bench/tables, every measurement against a
# throwaway local PostgreSQL; the markdown table is printed and written to target/bench/report.md.
# BENCH_SCALE=large: 10M rows instead of 1M.
BENCH_TARGET := target/bench-build

$(VENV)/.bench-stamp: bench/requirements.txt $(VENV)/.stamp
	$(VENV)/bin/pip install --quiet -r bench/requirements.txt
	touch $@

bench: venv $(VENV)/.bench-stamp
	CARGO_TARGET_DIR=$(BENCH_TARGET) $(CARGO) build --release -p hps-bench -p incremental-loader -p commit-detector
	BENCH_SCALE=$(or $(BENCH_SCALE),default) $(BENCH_TARGET)/release/hps-bench run \
	  --out target/bench --bin-dir $(BENCH_TARGET)/release --python $(PY) --peers bench/peers

# The workspace lints (Cargo.toml) deny unwrap/expect/panic in the code that ships; tests may use
# them, so the second pass (every target) allows those three and denies everything else.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --lib --bins -- -D warnings
	$(CARGO) clippy --workspace --all-targets -- -D warnings \
	  -A clippy::unwrap_used -A clippy::expect_used -A clippy::panic

# ---- Lambda functions: release build, deploy, local run (infra/, functions/) ------------------
# `make watch` serves both functions locally (cargo lambda watch, env from infra/local.env);
# `make invoke-detector` / `make invoke-loader` send a sample event (EVENT=path to override).
DEPLOY_VENV := .venv-deploy
LAMBDA_PKGS := -p commit-detector -p incremental-loader

$(DEPLOY_VENV)/.stamp: infra/requirements-deploy.txt
	python3 -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/pip install --quiet -r infra/requirements-deploy.txt
	touch $@

# arm64 release bootstraps in target/lambda/<function>/bootstrap (both packages in one cargo
# invocation: one feature resolution, one dependency build)
build: $(DEPLOY_VENV)/.stamp
	PATH="$(CURDIR)/$(DEPLOY_VENV)/bin:$$PATH" $(CARGO) lambda build --release --arm64 $(LAMBDA_PKGS)

# sam build (BuildMethod rust-cargolambda) + sam deploy with infra/samconfig.toml: edit it first
deploy: $(DEPLOY_VENV)/.stamp
	cd infra && export PATH="$(CURDIR)/$(DEPLOY_VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 && \
	  sam validate --lint && sam build && sam deploy

watch: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda watch --env-file infra/local.env

invoke-detector: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" timeout 300 $(CARGO) lambda invoke commit-detector \
	  --data-file $(or $(EVENT),infra/events/s3-put-v9-commit-moto.json)

invoke-loader: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" timeout 300 $(CARGO) lambda invoke incremental-loader \
	  --data-file $(or $(EVENT),infra/events/sqs-batch.json)
