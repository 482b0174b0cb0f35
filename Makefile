# The README's two commands: `make demo` and `make test`. Each does its own set-up on a fresh
# machine and is idempotent: the Python venv, the npm packages, helm/kubectl, the Kubernetes
# control plane and the node built from source (cached by version outside the work tree), podman
# and the container images (cached by the hash of their build context). Long steps print progress.
SHELL := /bin/bash
VENV ?= .venv
# The member library (npm package @swarm-operator/member) and, in its program/, the reference peer
# `swarm-peer` (the swarm-peer image); the example app installs the library from its `npm pack`.
PEER := images/swarm-peer
PEER_PROGRAM := $(PEER)/program
KV_APP := examples/kv-app
MEMBER_TARBALL := $(KV_APP)/swarm-operator-member.tgz
TOOLS := .tools/bin
export PATH := $(CURDIR)/$(TOOLS):$(CURDIR)/$(VENV)/bin:$(PATH)
export CONTAINERS_CONF ?= $(CURDIR)/scripts/containers/containers.conf
export SWARM_PEER_BIN ?= $(CURDIR)/$(PEER_PROGRAM)/bin/swarm-peer.js

.PHONY: setup cluster-setup test-setup test demo lint crd chart-readme bench bench-scale release clean

# What the demo needs.
setup: $(VENV)/.installed $(PEER)/node_modules/.installed $(TOOLS)/.installed cluster-setup

# The local cluster: control plane binaries, podman, the real node (Debian packages, kubelet,
# kube-proxy, containerd, CoreDNS, kwok, ... built from source; its own images), the project's
# images. Each script skips what is cached.
cluster-setup: $(TOOLS)/.installed
	bash scripts/build-control-plane.sh
	bash scripts/setup-podman.sh
	bash scripts/build-node.sh
	bash scripts/build-images.sh

# What the tests need beyond the demo: promtool and Prometheus, age (Debian's packages).
test-setup: setup $(KV_APP)/node_modules/.installed
	bash scripts/install-prometheus.sh
	bash scripts/install-age.sh

# The product (editable, with its test tooling) and the local cluster's own package (e2e/pyproject.toml,
# the `localcluster` command): two projects, so the product's wheel never carries the test node.
$(VENV)/.installed: pyproject.toml e2e/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,backup]' -e ./e2e
	touch $@

# The library's packages, then the program's (prom-client, and the library itself as "file:..").
$(PEER)/node_modules/.installed: $(PEER)/package.json $(PEER)/package-lock.json $(PEER_PROGRAM)/package.json \
		$(PEER_PROGRAM)/package-lock.json
	cd $(PEER) && npm ci --no-audit --no-fund --loglevel=error
	cd $(PEER_PROGRAM) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The library as `npm publish` would upload it (scripts/pack-member.sh), which the example app
# installs in place of the registry's copy (its package.json asks for @swarm-operator/member).
$(MEMBER_TARBALL): $(PEER)/package.json $(PEER)/index.js $(PEER)/index.d.ts $(PEER)/README.md $(wildcard $(PEER)/lib/*.js) \
		scripts/pack-member.sh
	bash scripts/pack-member.sh $(KV_APP)

$(KV_APP)/node_modules/.installed: $(KV_APP)/package.json $(MEMBER_TARBALL)
	cd $(KV_APP) && npm install --no-save --no-audit --no-fund --loglevel=error ./swarm-operator-member.tgz
	touch $@

$(TOOLS)/.installed: scripts/install-tools.sh
	bash scripts/install-tools.sh
	touch $@

lint: $(VENV)/.installed
	ruff check .
	python -m swarm_operator.crd --check
	python -m swarm_operator.rbac --check
	python scripts/chart_readme.py --check

# The whole suite: lint, the Node tests of the member library, of the reference peer and of the
# example app, then pytest (unit, integration on the real API server, packaging, the local
# cluster's node, e2e on the local cluster). pytest exits
# non-zero when it collects no test, so an empty run fails loudly.
test: lint test-setup
	cd $(PEER) && npm test
	cd $(PEER_PROGRAM) && npm test
	cd $(KV_APP) && npm test
	pytest

demo: setup
	python e2e/demo.py examples/topic.yaml

bench: setup
	python bench/cold_start.py $(BENCH_ARGS)

bench-scale: setup  # the floor and the operator side by side at 1,000 and 3,000 topics, pods on kwok's nodes (BENCH_ARGS="--topics 1000")
	python bench/scale.py --topics 1000,3000 $(BENCH_ARGS)

# The CRD is generated from the pydantic models (the chart carries an identical copy), the chart's
# RBAC rules from the owned table.
crd: $(VENV)/.installed
	python -m swarm_operator.crd > crds/swarmtopics.swarm-operator.dev.yaml
	cp crds/swarmtopics.swarm-operator.dev.yaml charts/swarm-operator/files/crds/
	python -m swarm_operator.rbac

# The chart's README is generated from the comments of its values.yaml.
chart-readme: $(VENV)/.installed
	python scripts/chart_readme.py

# A release (scripts/release.sh): the images built and pushed under VERSION, the chart packaged with
# version = appVersion = VERSION and the images pinned by digest, pushed as an OCI artifact; prints
# the digests. REGISTRY defaults to ghcr.io/swarm-operator (log in first); RELEASE_ARGS e.g.
# --skip-build (push the images built before).
release: $(VENV)/.installed $(TOOLS)/.installed
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=x.y.z [REGISTRY=host[:port]/prefix]" \
	  "[RELEASE_ARGS=--skip-build]" >&2; exit 2; }
	bash scripts/release.sh $(VERSION) $(if $(REGISTRY),--registry $(REGISTRY)) $(RELEASE_ARGS)

clean:
	rm -rf $(VENV) .tools $(PEER)/node_modules $(PEER_PROGRAM)/node_modules $(KV_APP)/node_modules $(MEMBER_TARBALL)
