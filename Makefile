# The two everyday commands: `make repro` and `make test`. Both set up .venv when needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
BASE ?= main
REPORT ?= data/report/report.md
# make server: the team tracking server's port and its PostgreSQL's, its state folder;
# AUTH=1 for basic auth (the admin's password in MLFLOW_AUTH_ADMIN_PASSWORD)
SERVER_PORT ?= 5050
PG_PORT ?= 5433
SERVER_DIR ?= .server
AUTH ?= 0
# seeds a side for `make retrain` (the report compares their means); jobs: half the cores
SEEDS ?= 1
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n > 3 ? n / 2 : 1 )))
# Stage commands in dvc.yaml say `python`; this makes that the project's interpreter.
export PATH := $(BIN):$(PATH)

.PHONY: help setup system-deps repro pull push retrain test test-fast lint ui walkthrough plots plots-template clean docs serve-docs server server-stop server-upgrade

help:
	@echo "make repro   set up .venv if needed and run the pipeline (dvc repro)"
	@echo "make test    set up .venv and the system packages if needed; lint, type-check, all tests"
	@echo "make test-fast  the same without the slow end-to-end tests (pytest -m 'not slow')"
	@echo "make ui      MLflow UI on http://$(HOST):$(PORT) for this workspace's runs"
	@echo "make plots   dvc plots show's page in dvc_plots/index.html, drawn with no network"
	@echo "make walkthrough  screenshots of the runs in the UI, in headless Chromium (docs/ui)"
	@echo "make docs    the user guide (README.md, docs/) as a site in site/; fails on a broken link"
	@echo "make serve-docs  the same guide on http://127.0.0.1:8000, rebuilt as you edit"
	@echo "make server  a team tracking server: mlflow server on PostgreSQL, http://$(HOST):$(SERVER_PORT)"
	@echo "make server-stop  stop it; make server-upgrade after an MLflow upgrade (backup, migrate)"
	@echo "make retrain what CI does: pull, repro, then a report against BASE=$(BASE) in $(REPORT)"
	@echo "             SEEDS=3: with a seed sweep, so verdicts compare means (JOBS=$(JOBS) at a time)"

setup: $(STAMP)

# The Debian packages the tests need (tools/system-deps.sh lists them), installed when missing.
system-deps:
	@bash tools/system-deps.sh

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

repro: $(STAMP)
	dvc repro

# With a DVC remote configured, fetch what it has; what it lacks, the pipeline rebuilds
# (--allow-missing). A remote that refuses (wrong credentials) or cannot be reached fails
# here, rather than leave dvc repro to retrain everything.
pull: $(STAMP)
	@if [ -n "$$(dvc remote list)" ]; then dvc pull --allow-missing; \
	else echo "no DVC remote configured: nothing to pull"; fi

push: $(STAMP)
	@if [ -n "$$(dvc remote list)" ]; then dvc push; \
	else echo "no DVC remote configured: nothing to push"; fi

# What CI runs on a pull request: repro from what the remote holds, then compare with BASE.
# SEEDS=3 adds a queued seed sweep: the workspace's run and two more seeds (the first others
# from 0, as DVC experiments), and the report compares means with their errors.
retrain: pull
	dvc repro
	@if [ "$(SEEDS)" -gt 1 ]; then \
		others=$$(python -c 'import sys; from ganops.noise import other_seeds; \
			print(other_seeds(sys.argv[1], int(sys.argv[2])))' params.yaml $(SEEDS)) && \
		dvc exp run --queue -S "train.seed=$$others" && \
		dvc exp run --run-all -j $(JOBS); \
	fi
	ganops report --baseline $(BASE) --out $(REPORT)

lint: $(STAMP)
	ruff check .
	ruff format --check .
	mypy
	python tools/lint_workflows.py

# The suite runs a test file per worker (its module fixtures built once), a worker per core
# up to 4; `make test TEST_JOBS=0` runs it in one process. A worker more than the cores was
# tried on 2 cores: 27.6 minutes against 27.5, each slow test half as slow again. With
# workers, each one's torch, and every stage process a test starts, runs on one thread: a
# thread pool per worker made them fight (a served-model fixture took 365 s beside another
# worker against 38 s on one thread). The tests of recorded digests set one thread themselves.
# Files go to the workers in the order tests/conftest.py gives them, the longest first
# (--no-loadscope-reorder: xdist's own order, by number of tests, started the longest file,
# the emulated CPU's, last, and one worker ran it alone for ten minutes at the end).
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n > 4 ? 4 : n )))
PYTEST := $(if $(filter 0,$(TEST_JOBS)),pytest,\
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 pytest -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder)

test: system-deps lint
	$(PYTEST)

test-fast: lint
	$(PYTEST) -m "not slow"

# The MLflow 3 UI has a GenAI / model-training switch; the link opens the training pages.
# A tracking server (MLFLOW_TRACKING_URI=http...) is its own UI: its link is all there is to do.
ui: $(STAMP)
	@case "$${MLFLOW_TRACKING_URI:-}" in http://*|https://*) \
		echo "runs: $${MLFLOW_TRACKING_URI%/}/#/experiments?workflowType=machine_learning" \
			"(the tracking server's own UI)"; exit 0;; esac; \
	echo "runs: http://$(HOST):$(PORT)/#/experiments?workflowType=machine_learning"; \
	mlflow ui --host $(HOST) --port $(PORT) --workers 1 \
		--backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db}"

# A team's tracking server on this machine (tools/team_server.py): PostgreSQL from the
# pgserver wheel and mlflow server with proxied artifacts, state in .server/.
server: $(STAMP)
	@python tools/team_server.py start --port $(SERVER_PORT) --pg-port $(PG_PORT) \
		--dir $(SERVER_DIR) $(if $(filter 1,$(AUTH)),--auth)

server-stop: $(STAMP)
	@python tools/team_server.py stop --dir $(SERVER_DIR)

# After an MLflow upgrade, with the server stopped: pg_dump backups, then mlflow db upgrade.
server-upgrade: $(STAMP)
	@python tools/team_server.py upgrade --pg-port $(PG_PORT) --dir $(SERVER_DIR)

# dvc plots show with Vega, Vega-Lite and vega-embed inlined (tools/plots_template.html,
# committed): DVC's own page loads them from a CDN and, offline, draws no chart.
plots: $(STAMP)
	dvc plots show --html-template tools/plots_template.html

# The template again from the versions package-lock.json pins (npm ci needs the npm registry).
plots-template: $(STAMP)
	npm ci --no-audit --no-fund
	python tools/plots_page.py template

# Needs Debian's chromium and chromium-driver (system-deps installs them when missing).
walkthrough: $(STAMP) system-deps
	python tools/walkthrough.py --out docs/ui --plots
	python tools/terminal_shot.py --out docs/ui/exps.png

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache site

# The user guide (mkdocs.yml): --strict fails on a broken link or anchor, or a page left out.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 mkdocs build --strict

serve-docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 mkdocs serve
