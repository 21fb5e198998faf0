# support-kpi — everything a fresh machine needs is installed from here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
KAFKA := $(BIN)/python deploy/kafka/local_kafka.py

.PHONY: help install system-deps kafka-fetch test test-unit lint generate schemas demo bench bench-core clean

help:
	@echo "make demo        local Kafka + the service + simulated traffic (Ctrl-C stops it)"
	@echo "make demo VIA=gateway   the same, fed through the webhook gateway (Intercom webhooks)"
	@echo "make test        the whole suite, real-Kafka integration tests included"
	@echo "make bench       the benchmark suite (raw Kafka, engine, service, latency, memory,"
	@echo "                 scale, recovery, a quixstreams peer) → bench/results.json; about 20 minutes"
	@echo "make bench-core  the engine alone: replay 1,000,000 events, events/s and memory"
	@echo "make lint        ruff + mypy;  make schemas  regenerate schemas/json"
	@echo "make generate    the event JSON Schemas, the generated sections of docs/ (KPIs, events,"
	@echo "                 settings, metrics, alerts) and the Grafana dashboard, from the code"
	@echo "                 (after changing a KPI, an event, a setting or an alert rule)"

system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install \
	    -y -q --no-install-recommends $$missing; \
	fi

# pip's "Collecting" lines show the progress, one package a line; setuptools' note on editable
# installs (a BuildBackendWarning of 11 lines on every install) is filtered out by its message.
$(INSTALLED): pyproject.toml | system-deps
	@test -x $(BIN)/python || { echo "Creating the virtual environment $(VENV) ..."; \
	  $(PYTHON) -m venv $(VENV); }
	@echo "Installing Python packages into $(VENV) (a few minutes the first time) ..."
	@$(BIN)/pip install -q --upgrade pip
	@set -o pipefail; PYTHONWARNINGS="ignore:Editable installation" \
	  $(BIN)/pip install --progress-bar off -e '.[test,rocksdb,bench]' \
	  | sed -n -u -E 's/^Collecting ([^ ]+).*/  \1/p; s/^Successfully installed .*/  done./p'
	@touch $@

install: $(INSTALLED)

kafka-fetch: install
	@$(KAFKA) fetch

test: system-deps install kafka-fetch
	$(BIN)/pytest -q

test-unit: install
	$(BIN)/pytest -q tests/unit tests/property

lint: install
	$(BIN)/ruff check service schemas tests deploy bench tools
	$(BIN)/mypy

generate: install
	$(BIN)/python -m schemas.export
	$(BIN)/python -m tools.docs
	$(BIN)/python -m tools.dashboard

schemas: install
	$(BIN)/python -m schemas.export

demo: system-deps install kafka-fetch
	$(BIN)/python -m service.demo $(if $(filter gateway,$(VIA)),--via-gateway)

bench: system-deps install kafka-fetch
	$(BIN)/python -m bench

bench-core: install
	$(BIN)/python -m bench --only core

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
