#!/usr/bin/env bash
# age and age-keygen (Debian's package) for the tests: a backup bundle written by
# `swarm-operator backup` must open with the age tool users have. The product does not need them.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.tools/bin
mkdir -p "$bin"
if [ ! -x "$bin/age" ] || [ ! -x "$bin/age-keygen" ]; then
  if ! command -v age >/dev/null || ! command -v age-keygen >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends age >/dev/null
  fi
  ln -sf "$(command -v age)" "$bin/age"
  ln -sf "$(command -v age-keygen)" "$bin/age-keygen"
fi

"$bin/age" --version >/dev/null
