#!/usr/bin/env bash
# Builds and installs the local cluster's real node (docs/localcluster.md, shared notes
# real-node-facts.md): from Debian's packages runc, the CNI plugins, conntrack, iptables,
# nftables, socat, ipset and docker-registry; from the Go module proxy, with the ordinary `go`
# client, kubelet + kube-proxy $K8S_VERSION (the control plane's wrapper module), containerd
# $CONTAINERD_VERSION (+ shim, ctr), CoreDNS $COREDNS_VERSION, kwok $KWOK_VERSION,
# local-path-provisioner $LOCAL_PATH_VERSION and kube-router $KUBE_ROUTER_VERSION. Each build is
# cached outside the work tree by version ($CACHE/node/NAME-VERSION/bin) and linked into .tools/bin;
# nothing prebuilt is downloaded. Then (with podman) the node's own images: pause, coredns,
# local-path-provisioner, each FROM scratch with the binary, cached by the binary's hash.
#
# Usage: scripts/build-node.sh [--debian|--binaries|--images]   (default: all three, in that order). Needs the control plane's
# wrapper module (scripts/build-control-plane.sh first) for kubelet and kube-proxy.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Versions: scripts/node-versions.env (the environment overrides each).
while IFS='=' read -r key value; do
  if [[ $key =~ ^[A-Z_0-9]+$ && -z ${!key:-} ]]; then export "$key=$value"; fi
done <"$ROOT/scripts/node-versions.env"
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
CACHE=${SWARM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swarm-operator}
BIN="$ROOT/.tools/bin"
export GOTOOLCHAIN=local CGO_ENABLED=0
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/scripts/containers/containers.conf}
mkdir -p "$BIN"
log() { printf '>> node [%4ss] %s\n' "$SECONDS" "$*"; }

debian_packages() {
  local want=(runc containernetworking-plugins conntrack iptables nftables socat ipset docker-registry catatonit)
  local missing=()
  for p in "${want[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # Installing docker-registry must not start it (no init system here; policy-rc.d refuses anyway).
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# cached NAME VERSION BINARY...: true (and links them) when every binary is in the cache.
cached() {
  local dir="$CACHE/node/$1-$2/bin"; shift 2
  for b in "$@"; do [[ -x "$dir/$b" ]] || return 1; done
  for b in "$@"; do ln -sf "$dir/$b" "$BIN/$b"; done
}

build_kubelet() {
  local out="$CACHE/node/kubelet-$K8S_VERSION"
  cached kubelet "$K8S_VERSION" kubelet kube-proxy && { log "kubelet, kube-proxy $K8S_VERSION: cached"; return; }
  local plane="$CACHE/control-plane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION/kube"
  [[ -f $plane/go.mod && -f $plane/go.sum ]] || { echo "no control plane wrapper in $plane: run scripts/build-control-plane.sh" >&2; exit 1; }
  log "kubelet, kube-proxy $K8S_VERSION: building from the control plane's wrapper module (slow when the Go cache is cold)"
  local started=$SECONDS
  mkdir -p "$out/mod" "$out/bin"
  cp "$plane/go.mod" "$plane/go.sum" "$out/mod/"
  sed -i 's|^module .*|module swarm-operator.dev/node|' "$out/mod/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kubelet"\n\t_ "k8s.io/kubernetes/cmd/kube-proxy"\n)\n' >"$out/mod/tools.go"
  (cd "$out/mod" && GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>tidy.log || { cat tidy.log; exit 1; })
  local ldver="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
  ldver+=" -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION") -X k8s.io/component-base/version.gitTreeState=clean"
  (cd "$out/mod" && GOFLAGS=-mod=mod nice go build -trimpath -tags selinux,notest -ldflags "-s -w $ldver" \
     -o "$out/bin/" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
  cached kubelet "$K8S_VERSION" kubelet kube-proxy
  log "kubelet, kube-proxy $K8S_VERSION: built in $((SECONDS - started)) s ($("$BIN/kubelet" --version))"
}

# go_install NAME VERSION "LDFLAGS" "TAGS" PACKAGE@VERSION... : `go install` into the cache.
go_install() {
  local name=$1 version=$2 ldflags=$3 tags=$4; shift 4
  local out="$CACHE/node/$name-$version" started=$SECONDS
  log "$name $version: building from the Go module proxy"
  mkdir -p "$out/bin"
  GOBIN="$out/bin" nice go install -trimpath ${tags:+-tags "$tags"} -ldflags "-s -w $ldflags" "$@"
  log "$name $version: built in $((SECONDS - started)) s"
}

build_go_tools() {
  local ctrd=github.com/containerd/containerd/v2
  cached containerd "$CONTAINERD_VERSION" containerd containerd-shim-runc-v2 ctr || go_install containerd "$CONTAINERD_VERSION" \
    "-X $ctrd/version.Version=$CONTAINERD_VERSION -X $ctrd/version.Package=$ctrd" "no_btrfs no_devmapper no_zfs" \
    "$ctrd/cmd/containerd@$CONTAINERD_VERSION" "$ctrd/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" "$ctrd/cmd/ctr@$CONTAINERD_VERSION"
  cached containerd "$CONTAINERD_VERSION" containerd containerd-shim-runc-v2 ctr
  cached coredns "$COREDNS_VERSION" coredns || go_install coredns "$COREDNS_VERSION" "" "" "github.com/coredns/coredns@$COREDNS_VERSION"
  cached coredns "$COREDNS_VERSION" coredns
  cached kwok "$KWOK_VERSION" kwok || go_install kwok "$KWOK_VERSION" \
    "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" "" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  cached kwok "$KWOK_VERSION" kwok
  kwok_stages
  cached local-path-provisioner "$LOCAL_PATH_VERSION" local-path-provisioner || go_install local-path-provisioner \
    "$LOCAL_PATH_VERSION" "-X main.VERSION=$LOCAL_PATH_VERSION" "" "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION"
  cached local-path-provisioner "$LOCAL_PATH_VERSION" local-path-provisioner
  cached kube-router "$KUBE_ROUTER_VERSION" kube-router || go_install kube-router "$KUBE_ROUTER_VERSION" \
    "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" "" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
  cached kube-router "$KUBE_ROUTER_VERSION" kube-router
}

# kwok needs its stages (node initialize + lease heartbeat, pod ready/complete/delete): they ship
# in the module itself, so they come from the module cache of the same version.
kwok_stages() {
  local stages="$CACHE/node/kwok-$KWOK_VERSION/stages.yaml"
  [[ -s $stages ]] || {
    local dir
    dir=$(GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    local s="$dir/kustomize/stage"
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      printf -- '---\n'; cat "$s/$f"
    done >"$stages.tmp" && mv "$stages.tmp" "$stages"
  }
  ln -sf "$stages" "$BIN/kwok-stages.yaml"
}

# node_image TAG BINARY USER ARGS...: a FROM scratch image holding one binary, rebuilt when the
# binary changes (label io.swarm-operator.build-hash).
node_image() {
  local tag=$1 binary=$2 user=$3; shift 3
  local hash ctx
  hash=$(sha256sum "$binary" | cut -c1-16)
  if [[ $(podman image inspect --format '{{index .Labels "io.swarm-operator.build-hash"}}' "$tag" 2>/dev/null) == "$hash" ]]; then
    log "image $tag: cached"; return
  fi
  ctx=$(mktemp -d)
  cp "$binary" "$ctx/"
  local entry
  entry=$(printf '"%s",' "/$(basename "$binary")" "$@"); entry="[${entry%,}]"
  printf 'FROM scratch\nCOPY %s /%s\nUSER %s\nENTRYPOINT %s\nLABEL io.swarm-operator.build-hash=%s\n' \
    "$(basename "$binary")" "$(basename "$binary")" "$user" "$entry" "$hash" >"$ctx/Containerfile"
  podman build -q --pull=never -t "$tag" "$ctx" >/dev/null
  rm -rf "$ctx"
  log "image $tag: built"
}

build_images() {
  command -v podman >/dev/null || { echo "podman is missing: run scripts/setup-podman.sh" >&2; exit 1; }
  # The pod sandbox ("pause") image: catatonit -P, as podman's own pause image (Debian's binary is static).
  node_image "localhost/swarm-node/pause:$PAUSE_TAG" "$(command -v catatonit)" 65535:65535 -P
  node_image "localhost/swarm-node/coredns:$COREDNS_VERSION" "$CACHE/node/coredns-$COREDNS_VERSION/bin/coredns" 65534:65534
  node_image "localhost/swarm-node/local-path-provisioner:$LOCAL_PATH_VERSION" \
    "$CACHE/node/local-path-provisioner-$LOCAL_PATH_VERSION/bin/local-path-provisioner" 0:0
}

mode=${1:-all}
if [[ $mode == all || $mode == --debian ]]; then
  debian_packages
fi
if [[ $mode == all || $mode == --binaries ]]; then
  build_kubelet
  build_go_tools
  log "binaries ready in $BIN"
fi
if [[ $mode == all || $mode == --images ]]; then
  build_images
fi
