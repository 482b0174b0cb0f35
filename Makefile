# The README's two commands: `make demo` and `make test`. Each does its own set-up on a fresh
# machine (Python venv, npm packages, helm/kubectl/promtool) and is idempotent.
SHELL := /bin/bash
VENV ?= .venv
PEER := images/swarm-peer
TOOLS := .tools/bin
export PATH := $(CURDIR)/$(TOOLS):$(CURDIR)/$(VENV)/bin:$(PATH)
export SWARM_PEER_BIN ?= $(CURDIR)/$(PEER)/bin/swarm-peer.js

.PHONY: setup test demo lint crd bench clean

setup: $(VENV)/.installed $(PEER)/node_modules/.installed $(TOOLS)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

$(PEER)/node_modules/.installed: $(PEER)/package.json $(PEER)/package-lock.json
	cd $(PEER) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(TOOLS)/.installed: scripts/install-tools.sh
	bash scripts/install-tools.sh
	touch $@

lint: setup
	ruff check .
	python -m swarm_operator.crd --check

# The whole suite: lint, the Node tests of swarm-peer, then pytest (unit, integration,
# packaging and the e2e suite on the simulated cluster). pytest exits non-zero when it
# collects no test, so an empty run fails loudly.
test: lint
	cd $(PEER) && npm test
	pytest

demo: setup
	python e2e/demo.py examples/topic.yaml

bench: setup
	python bench/cold_start.py $(BENCH_ARGS)

# The CRD is generated from the pydantic models; the chart carries an identical copy.
crd: $(VENV)/.installed
	python -m swarm_operator.crd > crds/swarmtopics.swarm-operator.dev.yaml
	cp crds/swarmtopics.swarm-operator.dev.yaml charts/swarm-operator/files/crds/

clean:
	rm -rf $(VENV) .tools $(PEER)/node_modules .sim
