#!/usr/bin/env bash
# One release, end to end: builds the images (scripts/build-images.sh), pushes them to the
# registry under the release's version, packages the chart with that version as `version` and
# `appVersion` and the pushed images pinned by digest in its values, pushes the chart as an OCI
# artifact (`helm push`), and prints the digests. The same steps run in CI for a tag
# (.github/workflows/release.yml); `make release VERSION=x.y.z [REGISTRY=...]` runs it here.
#
# Usage: scripts/release.sh VERSION [--registry HOST[:PORT]/PREFIX] [--skip-build] [--plain-http] [--out DIR]
#   VERSION       x.y.z (SemVer, optionally -prerelease): chart version, appVersion and image tag.
#   --registry    default ghcr.io/swarm-operator. Images go to REGISTRY/swarm-operator and
#                 REGISTRY/swarm-peer, the chart to oci://REGISTRY/charts/swarm-operator.
#   --skip-build  push the images scripts/build-images.sh built before (`podman images`), as they are.
#   --plain-http  talk HTTP to the registry; automatic for 127.0.0.1, localhost and [::1].
#   --out DIR     the chart package and release-VERSION.json (refs and digests); default dist/.
# Credentials: log in first (`podman login`, `helm registry login`); this script handles none.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/scripts/containers/containers.conf}
[[ -x $ROOT/.tools/bin/helm ]] && export PATH="$ROOT/.tools/bin:$PATH"
CHART=charts/swarm-operator
# What build-images.sh tags (the chart's appVersion), and the names they are published under.
SOURCE_VERSION=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$CHART/Chart.yaml")
IMAGES=(swarm-operator swarm-peer)

log() { printf '>> [%4ss] %s\n' "$SECONDS" "$*"; }
die() { printf 'release: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

version='' registry=ghcr.io/swarm-operator skip_build=0 plain_http=0 out=$ROOT/dist
while (($#)); do
  case $1 in
    --registry) registry=${2:?--registry needs a value}; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --plain-http) plain_http=1; shift ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z $version ]] || die "one VERSION only"; version=$1; shift ;;
  esac
done
[[ -n $version ]] || { usage >&2; exit 2; }
[[ $version =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]] \
  || die "VERSION $version is not x.y.z (SemVer)"
registry=${registry%/}
[[ $registry =~ ^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._/-]+)?$ ]] || die "--registry $registry is not HOST[:PORT][/PREFIX]"
host=${registry%%/*}
[[ $host =~ ^(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?$ ]] && plain_http=1
tls=() helm_http=()
((plain_http)) && tls=(--tls-verify=false) helm_http=(--plain-http)
for tool in podman helm python3; do command -v "$tool" >/dev/null || die "$tool is missing (make setup)"; done
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Images: built (or found), then pushed under the release's tag; the registry's digests kept.
if ((skip_build)); then
  log "using the images built before (--skip-build)"
else
  sources=()
  for name in "${IMAGES[@]}"; do sources+=("ghcr.io/swarm-operator/$name:$SOURCE_VERSION"); done
  bash scripts/build-images.sh "${sources[@]}"
fi
declare -A digest
for name in "${IMAGES[@]}"; do
  source=ghcr.io/swarm-operator/$name:$SOURCE_VERSION
  podman image exists "$source" || die "no image $source: run scripts/build-images.sh (or leave out --skip-build)"
  log "pushing $source as $registry/$name:$version"
  podman push --quiet "${tls[@]}" --digestfile "$work/$name.digest" "$source" "docker://$registry/$name:$version"
  digest[$name]=$(<"$work/$name.digest")
  [[ ${digest[$name]} =~ ^sha256:[0-9a-f]{64}$ ]] || die "podman push gave no digest for $name"
done

# 2. The chart: version = appVersion = VERSION, the pushed images pinned by digest in its values.
log "packaging the chart $version"
cp -r "$CHART" "$work/swarm-operator"
python3 scripts/release_values.py "$work/swarm-operator/values.yaml" \
  --image "$registry/swarm-operator@${digest[swarm-operator]}" --peer-image "$registry/swarm-peer@${digest[swarm-peer]}"
helm lint --strict "$work/swarm-operator" >/dev/null || die "helm lint --strict failed on the staged chart"
helm package "$work/swarm-operator" --version "$version" --app-version "$version" -d "$out" >/dev/null
package=$out/swarm-operator-$version.tgz
log "pushing the chart to oci://$registry/charts"
pushed=$(helm push "$package" "oci://$registry/charts" "${helm_http[@]}" 2>&1) || die "helm push failed: $pushed"
chart_digest=$(sed -n 's/^Digest: *//p' <<<"$pushed")
[[ $chart_digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "helm push printed no digest: $pushed"

# 3. What was released, for people and for machines.
python3 - "$out/release-$version.json" "$version" "$registry" "$chart_digest" \
  "${digest[swarm-operator]}" "${digest[swarm-peer]}" <<'PY'
import json, sys
path, version, registry, chart, operator, peer = sys.argv[1:]
images = {"operator": (f"{registry}/swarm-operator", operator), "peer": (f"{registry}/swarm-peer", peer)}
json.dump({
    "version": version,
    "images": {k: {"ref": f"{repo}:{version}@{d}", "repository": repo, "digest": d} for k, (repo, d) in images.items()},
    "chart": {"ref": f"oci://{registry}/charts/swarm-operator", "version": version, "digest": chart},
}, open(path, "w"), indent=2)
PY
cat <<EOF
released swarm-operator $version
  image $registry/swarm-operator:$version@${digest[swarm-operator]}
  image $registry/swarm-peer:$version@${digest[swarm-peer]}
  chart oci://$registry/charts/swarm-operator:$version@$chart_digest
  package $package
install:
  helm install swarm-operator oci://$registry/charts/swarm-operator --version $version${helm_http:+ ${helm_http[*]}} -n swarm-operator --create-namespace
EOF
