#!/usr/bin/env bash
# Builds the project's container images with podman from their Dockerfiles, as users build them.
#
# No registry can be pulled from here, so the official base images the Dockerfiles name (FROM) are
# first built as look-alikes from Debian's packages (images/base/, see its README) and tagged with
# the official names; then every image of the IMAGES table is built with `podman build
# --pull=never`. Dependencies come from PyPI/npm during the build: the machine's CA bundle is
# mounted for the RUN steps only (nothing of it stays in an image).
# Every build is cached: an image carries the hash of what it was built from (label
# io.swarm-operator.build-hash: recipe or build context, Dockerfile, base image IDs) and is rebuilt
# only when that hash changes; debootstrap's root filesystem is cached in $CACHE.
#
# Ctrl-C stops the running `podman build`; buildah may leave its working containers behind
# (`podman ps -a --external`, state Storage), which `podman rm` removes.
#
# Usage: scripts/build-images.sh            build whatever is out of date (bases first)
#        scripts/build-images.sh TAG...     only these images of the table (and their bases)
#        scripts/build-images.sh --list     print the table: tag, Dockerfile, context, state
#        scripts/build-images.sh --clean    remove the images this script builds and its cache
# Env: CONTAINERS_CONF (default: scripts/containers/containers.conf), SWARM_IMAGES_CACHE (default
# ~/.cache/swarm-operator/images), SWARM_CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt),
# DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/scripts/containers/containers.conf}
CACHE=${SWARM_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/swarm-operator/images}
CA_BUNDLE=${SWARM_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
HASH_LABEL=io.swarm-operator.build-hash
DEBIAN_BASE=localhost/swarm-base/debian:bookworm
VERSION=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' charts/swarm-operator/Chart.yaml)

# The project's images, built in this order: tag | Dockerfile | build context | ignore file (optional,
# instead of the context's own .dockerignore; `podman build --ignorefile`) | a command that prepares
# the context (optional, run before the context is hashed), paths repository-relative.
# The tags are the ones the chart (values.yaml + appVersion) and the operator's default peer image
# use. A Dockerfile may start FROM an image of this table: it is built first.
IMAGES=(
  "ghcr.io/swarm-operator/swarm-operator:$VERSION|images/operator/Dockerfile|."
  "ghcr.io/swarm-operator/swarm-peer:$VERSION|images/swarm-peer/Dockerfile|images/swarm-peer"
  # The example app builds from its own directory, with the member library's `npm pack` in it.
  "localhost/autokv:$VERSION|examples/kv-app/Dockerfile|examples/kv-app||bash scripts/pack-member.sh examples/kv-app"
)

log() { printf '>> [%4ss] %s\n' "$SECONDS" "$*"; }
die() { printf 'build-images: %s\n' "$*" >&2; exit 1; }
image_label() { podman image inspect --format "{{index .Labels \"$HASH_LABEL\"}}" "$1" 2>/dev/null || true; }
image_id() { podman image inspect --format '{{.Id}}' "$1"; }
image_size() { podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1 / 1e6}'; }
context_hash() { python3 "$ROOT/scripts/containers/context_hash.py" "$@"; }

# Runs `podman build` with its output in $CACHE/logs/NAME.log, printing its STEP lines as progress.
podman_build() {
  local name=$1 started=$SECONDS status=0
  shift
  mkdir -p "$CACHE/logs"
  : >"$CACHE/logs/$name.log"
  podman build --pull=never --layers "$@" >"$CACHE/logs/$name.log" 2>&1 &
  local pid=$!
  tail -n +1 -f --pid="$pid" "$CACHE/logs/$name.log" 2>/dev/null \
    | grep --line-buffered -E '^STEP [0-9]+/[0-9]+: ' | cut -c1-110 | sed -u 's/^/     /' &
  local progress=$!
  # Background jobs ignore Ctrl-C in a script, and `wait` (unlike a foreground pipeline) lets a
  # trap run at once: the build stops with the script.
  trap 'kill "$pid" 2>/dev/null; exit 130' INT TERM
  wait "$pid" || status=$?
  wait "$progress" || true
  trap - INT TERM
  if ((status)); then
    tail -30 "$CACHE/logs/$name.log" >&2
    die "podman build of $name failed (exit $status; whole log: $CACHE/logs/$name.log)"
  fi
  log "$name built in $((SECONDS - started))s"
}

# Replaces an image that a rebuild left untagged (its layers stay only while something uses them).
drop_if_dangling() {
  [[ -n $1 ]] && [[ -z $(podman image inspect --format '{{.RepoTags}}' "$1" 2>/dev/null | tr -d '[]') ]] \
    && podman rmi "$1" >/dev/null 2>&1 || true
}

build_debian() {
  local hash tar
  hash=$(context_hash --extra "mirror=${DEBIAN_MIRROR:-}" images/base/debian)
  [[ $(image_label "$DEBIAN_BASE") == "$hash" ]] && return 0
  tar=$CACHE/debian-bookworm-${hash:0:16}.tar
  if [[ ! -s $tar ]]; then
    log "debootstrap: Debian bookworm minbase into $tar (about a minute)"
    rm -f "$CACHE"/debian-bookworm-*.tar
    bash images/base/debian/rootfs.sh "$tar"
  fi
  log "importing $DEBIAN_BASE"
  local old
  old=$(podman image inspect --format '{{.Id}}' "$DEBIAN_BASE" 2>/dev/null || true)
  podman import --quiet --change "LABEL $HASH_LABEL=$hash" --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tar" "$DEBIAN_BASE" >/dev/null
  drop_if_dangling "$old"
}

# Stages the node base's build context: the machine's Node install and the recipe's entrypoint.
stage_node() {
  local node_bin modules stage=$CACHE/node-context
  node_bin=$(readlink -f "$(command -v node)")
  modules=$(dirname "$(dirname "$node_bin")")/lib/node_modules
  rm -rf "$stage" && mkdir -p "$stage/node_modules"
  cp "$node_bin" "$stage/node"
  cp -a "$modules/npm" "$modules/corepack" "$stage/node_modules/"
  cp images/base/node/docker-entrypoint.sh "$stage/"
  printf '%s\n' "$stage"
}

# The look-alike base for an official image name; HOW: the recipe it needs (python | node).
build_base() {
  local tag=$1 kind=$2 hash extras old
  extras=(--extra "tag=$tag" --extra "debian=$(image_id "$DEBIAN_BASE")")
  if [[ $kind == node ]]; then
    command -v node >/dev/null || die "no node on this machine to copy into $tag"
    local node_bin modules
    node_bin=$(readlink -f "$(command -v node)")
    modules=$(dirname "$(dirname "$node_bin")")/lib/node_modules
    hash=$(context_hash "${extras[@]}" images/base/node "$node_bin" "$modules/npm" "$modules/corepack")
  else
    hash=$(context_hash "${extras[@]}" images/base/python)
  fi
  [[ $(image_label "$tag") == "$hash" ]] && return 0
  log "building look-alike base $tag (images/base/$kind)"
  old=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  if [[ $kind == node ]]; then
    local want have stage
    want=${tag##*:} && want=${want%%-*}
    have=$(node --version) && have=${have#v}
    [[ $want == "$have" ]] || log "note: $tag carries this machine's Node $have, not $want"
    stage=$(stage_node)
    podman_build "base-node" --build-arg "DEBIAN_BASE=$DEBIAN_BASE" --build-arg "NODE_VERSION=$have" \
      --label "$HASH_LABEL=$hash" -t "$tag" -f images/base/node/Containerfile "$stage"
  else
    podman_build "base-python" --build-arg "DEBIAN_BASE=$DEBIAN_BASE" \
      --label "$HASH_LABEL=$hash" -t "$tag" -f images/base/python/Containerfile images/base/python
  fi
  drop_if_dangling "$old"
}

# The row of the table with this tag (empty when none).
table_row() {
  local row
  for row in "${IMAGES[@]}"; do [[ ${row%%|*} == "$1" ]] && printf '%s\n' "$row" && return 0; done
  return 0
}

# The full name a FROM line refers to, with what builds it: a recipe (python | node) that imitates
# the official image, or `table` for an image of the table.
base_of() {
  local ref=$1
  if [[ -n $(table_row "$ref") ]]; then printf '%s table\n' "$ref"; return 0; fi
  [[ $ref == */* ]] || ref=docker.io/library/$ref
  case $ref in
    docker.io/library/python:3.11.*-slim-bookworm) printf '%s python\n' "$ref" ;;
    docker.io/library/node:20.*-bookworm-slim) printf '%s node\n' "$ref" ;;
    *) die "no look-alike recipe for base image $1 (images/base/ has python:3.11.*-slim-bookworm, node:20.*-bookworm-slim)" ;;
  esac
}

# The external images a Dockerfile starts from (FROM lines that name no earlier stage).
dockerfile_bases() {
  awk 'toupper($1) == "FROM" { img = $2; for (i = 2; i <= NF; i++) if ($i !~ /^--/) { img = $i; break }
         if (!(img in stage)) print img; if (toupper($(NF-1)) == "AS") stage[$NF] = 1 }' "$1"
}

# Mounts for the RUN steps: the CA bundle over the base's own (when it has one) and, over
# /usr/local/etc (npm's global config directory), an npmrc that trusts the same bundle.
run_mounts() {
  local have
  have=$(podman run --rm --network none --entrypoint /bin/sh "$1" -c \
    'test -d /usr/local/etc && echo etc; test -f /etc/ssl/certs/ca-certificates.crt && echo ca' || true)
  if [[ $have == *etc* ]]; then
    printf '%s\n' "-v" "$CACHE/build-etc:/usr/local/etc:ro"
  fi
  if [[ $have == *ca* ]]; then
    printf '%s\n' "-v" "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro"
  fi
}

prepare_build_etc() {
  [[ -f $CA_BUNDLE ]] || die "no CA bundle at $CA_BUNDLE (set SWARM_CA_BUNDLE)"
  mkdir -p "$CACHE/build-etc"
  cp "$CA_BUNDLE" "$CACHE/build-etc/ca-certificates.crt"
  printf 'cafile=/usr/local/etc/ca-certificates.crt\nupdate-notifier=false\nfund=false\naudit=false\n' \
    >"$CACHE/build-etc/npmrc"
}

build_image() {
  local tag=$1 dockerfile=$2 context=$3 ignore=${4:-} prepare=${5:-} base kind last='' extras=() mounts old hash line
  local ignore_args=() prepare_args=()
  if [[ -n $prepare ]]; then
    read -r -a prepare_args <<<"$prepare"
    "${prepare_args[@]}" >/dev/null || die "$tag: preparing the context failed: $prepare"
  fi
  [[ -f $dockerfile && -d $context ]] || die "$tag: no $dockerfile or context $context"
  if [[ -n $ignore ]]; then
    [[ -f $ignore ]] || die "$tag: no ignore file $ignore"
    ignore_args=(--ignorefile "$ignore")
  fi
  while read -r base <&3; do
    line=$(base_of "$base")
    read -r base kind <<<"$line"
    if [[ $kind == table ]]; then
      [[ $base != "$tag" ]] || die "$dockerfile starts FROM its own tag $tag"
      IFS='|' read -r -a line <<<"$(table_row "$base")"
      build_image "${line[@]}"
    else
      build_base "$base" "$kind"
    fi
    last=$base
    extras+=(--extra "base=$(image_id "$base")")
  done 3< <(dockerfile_bases "$dockerfile")
  hash=$(context_hash "${extras[@]}" --extra "tag=$tag" "${ignore_args[@]}" "$dockerfile" "$context")
  if [[ $(image_label "$tag") == "$hash" ]]; then
    log "$tag is up to date ($(image_size "$tag"))"
    return 0
  fi
  log "building $tag from $dockerfile (context $context)"
  [[ -n $last ]] || die "$dockerfile: no FROM line"
  mapfile -t mounts < <(run_mounts "$last")
  old=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  podman_build "$(basename "${tag%%:*}")" "${mounts[@]}" "${ignore_args[@]}" --label "$HASH_LABEL=$hash" \
    -t "$tag" -f "$dockerfile" "$context"
  drop_if_dangling "$old"
  log "$tag: $(image_size "$tag")"
}

list_images() {
  local row tag dockerfile context ignore state
  printf '%-48s %-32s %-20s %s\n' TAG DOCKERFILE CONTEXT BUILT
  for row in "${IMAGES[@]}"; do
    IFS='|' read -r tag dockerfile context ignore _ <<<"$row"
    state=$( [[ -n $(image_label "$tag") ]] && image_size "$tag" || echo no)
    printf '%-48s %-32s %-20s %s\n' "$tag" "$dockerfile" "$context" "$state"
  done
}

clean() {
  local row tag dockerfile context ignore base bases=()
  for row in "${IMAGES[@]}"; do
    IFS='|' read -r tag dockerfile context ignore _ <<<"$row"
    while read -r base; do
      [[ -n $(table_row "$base") ]] || bases+=("$(base_of "$base" | cut -d' ' -f1)")
    done < <(dockerfile_bases "$dockerfile")
    podman rmi -f "$tag" >/dev/null 2>&1 && log "removed $tag" || true
  done
  for tag in $(printf '%s\n' "${bases[@]}" | sort -u) "$DEBIAN_BASE"; do
    podman rmi -f "$tag" >/dev/null 2>&1 && log "removed $tag" || true
  done
  rm -rf "$CACHE" && log "removed $CACHE"
}

main() {
  case ${1:-} in
    --list) list_images; return ;;
    --clean) clean; return ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; return ;;
  esac
  command -v podman >/dev/null || die "podman is missing: run scripts/setup-podman.sh"
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9  # one build at a time on this machine
  prepare_build_etc
  build_debian
  local row tag dockerfile context ignore prepare wanted=("$@") found=0
  for row in "${IMAGES[@]}"; do
    IFS='|' read -r tag dockerfile context ignore prepare <<<"$row"
    if ((${#wanted[@]})) && [[ ! " ${wanted[*]} " == *" $tag "* ]]; then continue; fi
    found=$((found + 1))
    build_image "$tag" "$dockerfile" "$context" "$ignore" "$prepare"
  done
  ((found)) || die "no image of the table matches: ${wanted[*]} (see --list)"
  log "done"
}

main "$@"
