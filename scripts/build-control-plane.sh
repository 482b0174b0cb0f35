#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler (Kubernetes $K8S_VERSION) and etcd
# ($ETCD_VERSION) from the Go module proxy with the ordinary `go` client, into a cache outside the
# work tree keyed by version, and links them into .tools/bin. Nothing prebuilt is downloaded.
#
# k8s.io/kubernetes requires its staging modules at v0.0.0 (replaced by ./staging in its own repo),
# so a wrapper module requires k8s.io/kubernetes and replaces each staging module with its
# published v0.<minor>.<patch>. etcd gets a wrapper of its own so the two dependency sets never mix.
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-v1.35.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${SWARM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swarm-operator}
OUT="$CACHE/control-plane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
BIN="$ROOT/.tools/bin"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
mkdir -p "$BIN"

link() { for b in kube-apiserver kube-controller-manager kube-scheduler etcd; do ln -sf "$OUT/bin/$b" "$BIN/$b"; done; }
if [[ -x "$OUT/bin/kube-apiserver" && -x "$OUT/bin/etcd" && -x "$OUT/bin/kube-scheduler" && -x "$OUT/bin/kube-controller-manager" ]]; then
  link; echo "control plane $K8S_VERSION / etcd $ETCD_VERSION: cached in $OUT"; exit 0
fi
start=$(date +%s)
mkdir -p "$OUT/kube" "$OUT/etcd" "$OUT/bin"
staging_version="v0.${K8S_VERSION#v1.}"

echo ">> control plane: reading k8s.io/kubernetes@$K8S_VERSION's go.mod from the module proxy"
gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
mods=$(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u)
goline=$(grep -E '^go [0-9.]+' "$gomod" | head -1)
echo ">> control plane: $(echo "$mods" | wc -l) staging modules pinned to $staging_version"
{
  echo "module swarm-operator.dev/control-plane"
  echo
  echo "$goline"
  echo
  echo "godebug default=go${goline#go }"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "exclude ("
  for v in v1.4.0 v1.5.0 v1.5.1 v1.5.2; do echo "	k8s.io/client-go $v"; done
  echo ")"
  echo
  echo "replace ("
  for m in $mods; do echo "	$m => $m $staging_version"; done
  echo ")"
} > "$OUT/kube/go.mod"
sed -i "s/^godebug default=go\([0-9]*\.[0-9]*\).*/godebug default=go\1/" "$OUT/kube/go.mod"
cat > "$OUT/kube/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
cat > "$OUT/etcd/go.mod" <<GOMOD
module swarm-operator.dev/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
cat > "$OUT/etcd/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO

ldver="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#v1.}"
ldver="${ldver%.*}"  # gitMinor is the minor number only
echo ">> control plane: resolving modules (go mod tidy)"
(cd "$OUT/kube" && go mod tidy -e >/dev/null 2>"$OUT/kube/tidy.log" || { cat "$OUT/kube/tidy.log"; exit 1; })
(cd "$OUT/etcd" && go mod tidy >/dev/null 2>"$OUT/etcd/tidy.log" || { cat "$OUT/etcd/tidy.log"; exit 1; })
echo ">> control plane: building etcd $ETCD_VERSION"
(cd "$OUT/etcd" && go build -trimpath -ldflags "-s -w" -o "$OUT/bin/etcd" go.etcd.io/etcd/server/v3)
echo ">> control plane: building kube-apiserver, kube-controller-manager, kube-scheduler $K8S_VERSION (slow when the Go cache is cold)"
(cd "$OUT/kube" && go build -trimpath -tags selinux,notest \
   -ldflags "-s -w $ldver -X k8s.io/component-base/version.gitTreeState=clean" \
   -o "$OUT/bin/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
link
echo ">> control plane: built in $(( $(date +%s) - start )) s into $OUT"
