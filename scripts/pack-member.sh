#!/usr/bin/env bash
# Packs the member library (images/swarm-peer, npm package @swarm-operator/member) with `npm pack`:
# the tarball `npm publish` would upload, built from the working tree. Writes it as
# DEST/swarm-operator-member.tgz (no version in the name, so an app's build refers to one path)
# and prints that path. Packing needs no installed dependencies and no network.
# Usage: scripts/pack-member.sh DEST_DIR      e.g. scripts/pack-member.sh examples/kv-app
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:?usage: scripts/pack-member.sh DEST_DIR}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
name=$(cd "$ROOT/images/swarm-peer" && npm pack --silent --ignore-scripts --pack-destination "$work" | tail -1)
mv "$work/$name" "$DEST/swarm-operator-member.tgz"
printf '%s\n' "$DEST/swarm-operator-member.tgz"
