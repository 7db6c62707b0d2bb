# leadflow: the entry points developers and CI use. `make test` is what .ci/run calls.
#
#   make venv        .venv with leadflow, its Rust decoder (native/, built by maturin) and its dev tools
#                    (reinstalled when pyproject.toml or native/ changes)
#   make kafka-jars  the Apache Kafka jars from Maven Central, for the local broker (deploy/local/kafka.sh)
#   make lint        ruff + mypy; rustfmt + clippy on native/
#   make native-test the Rust unit tests of native/ (cargo test)
#   make test-deps   the Debian packages the tests need (installed as root, else named on one line)
#   make test        test-deps, lint, then pytest (the integration tests start their own Kafka on free ports)
#   make demo        Kafka, a worker, the simulator (two weeks backfilled, then live) and the live board
#
# Variables: PYTHON (the interpreter that creates .venv, default python3; leadflow needs 3.11),
#            PYTEST_ARGS (extra pytest arguments, e.g. make test PYTEST_ARGS="-k lifecycle -x").

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
# cargo, for native/: rustup installs it in ~/.cargo/bin, which a non-login shell may not have on its PATH
export PATH := $(HOME)/.cargo/bin:$(PATH)
VENV := .venv
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv kafka-jars lint native-lint native-test test-deps test demo
CARGO := cargo --quiet --locked

venv: $(STAMP)

# Rebuilt only when pyproject.toml or native/ is newer than the stamp (or the stamp is missing). leadflow-native
# is built from native/ with the Rust toolchain (cargo, Rust 1.85 or later) and maturin, fetched from PyPI.
$(STAMP): pyproject.toml native/Cargo.toml native/Cargo.lock native/pyproject.toml native/leadflow_native.pyi $(wildcard native/src/*.rs)
	@command -v cargo >/dev/null || { echo "make venv: leadflow-native (native/) needs Rust's cargo, 1.85 or later (rustup.rs)" >&2; exit 1; }
	@if [ ! -x $(VENV)/bin/python ]; then \
		echo "creating $(VENV) with $$(command -v $(PYTHON)) ($$($(PYTHON) --version 2>&1))"; \
		$(PYTHON) -m venv $(VENV); \
	fi
	$(VENV)/bin/python -m pip install --disable-pip-version-check --progress-bar off ./native -e '.[dev]'
	touch $(STAMP)

kafka-jars:
	bash deploy/local/kafka.sh fetch

lint: venv native-lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

native-lint:
	cd native && $(CARGO) fmt --check && $(CARGO) clippy --release --all-targets -- -D warnings

native-test:
	cd native && $(CARGO) test --release

# First, so that a missing package stops `make test` before anything slow runs (make builds prerequisites in order).
test-deps:
	@PYTHON=$(PYTHON) bash deploy/local/test-deps.sh

test: test-deps venv kafka-jars native-lint native-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	@rc=0; $(VENV)/bin/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5); that is a failure" >&2; fi; \
	exit $$rc

demo: venv kafka-jars
	$(VENV)/bin/leadflow demo
