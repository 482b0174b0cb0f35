#!/usr/bin/env bash
# Installs Debian's podman, runc, catatonit and debootstrap when missing and checks that podman
# works (and, once scripts/build-images.sh has built the Debian base image, that a pod's infra
# container and a container run). catatonit is only a Recommends of podman, which
# --no-install-recommends leaves out, yet `podman pod create` needs it for the pause image.
# The project's containers.conf is used through CONTAINERS_CONF (export it as this script does).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF="$ROOT/scripts/containers/containers.conf"
need=()
for tool in podman runc catatonit debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
if ((${#need[@]})); then
  echo ">> podman: installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends podman runc catatonit debootstrap uidmap slirp4netns \
    containernetworking-plugins iptables >/dev/null
fi
podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}' >/dev/null
echo ">> podman: $(podman --version), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}')"
base=localhost/swarm-base/debian:bookworm
probe="swarm-setup-probe-$$"
podman pod create --name "$probe" >/dev/null  # the pods' infra container (catatonit's pause image)
podman pod rm -f "$probe" >/dev/null
echo ">> podman: a pod was created"
if podman image exists "$base"; then
  podman run --rm --network none --read-only --user 10001:10001 "$base" true
  echo ">> podman: a container of $base ran"
else
  echo ">> podman: no base image yet: scripts/build-images.sh builds the images"
fi
