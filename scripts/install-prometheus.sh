#!/usr/bin/env bash
# promtool and prometheus for the packaging tests (Debian's prometheus package; the daemon is not
# started), linked into .tools/bin. The demo does not need them.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.tools/bin
mkdir -p "$bin"
if [ ! -x "$bin/promtool" ] || [ ! -x "$bin/prometheus" ]; then
  if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # --no-install-recommends keeps the exporters and web assets out; the daemon is not started.
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
  ln -sf "$(command -v promtool)" "$bin/promtool"
  ln -sf "$(command -v prometheus)" "$bin/prometheus"
fi

"$bin/promtool" --version >/dev/null 2>&1
