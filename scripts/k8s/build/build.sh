#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kubectl of the
# release go.mod pins, from the Go module proxy, into the cache folder (never the checkout).
# Prints the folder holding the binaries. Skipped when that release's binaries are there.
#
# Usage: scripts/k8s/build/build.sh
# Env:   SANDBOXD_K8S_CACHE  where binaries and the Go build cache live
#        (default ${XDG_CACHE_HOME:-$HOME/.cache}/sandboxd/k8s)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${SANDBOXD_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandboxd/k8s}"
log() { printf '[k8s-build] %s\n' "$*" >&2; }

# The one place the version is written down: go.mod's requirement.
version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
[[ -n "$version" ]] || { log "no k8s.io/kubernetes requirement in $here/go.mod"; exit 1; }
bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
out="$cache/bin/$version"

if [[ -f "$out/.complete" ]]; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null 2>&1 || { log "go is not installed (the build needs Go 1.24 or later)"; exit 1; }
mkdir -p "$out" "$cache/go-build"
started=$(date +%s)

# Reproducible version strings: the release tag and the time the proxy gives for it.
read -r major minor _ <<<"$(tr '.' ' ' <<<"${version#v}")"
build_date="$(cd "$here" && go mod download -json "k8s.io/kubernetes@$version" |
  sed -n 's/^[[:space:]]*"Time": "\(.*\)",\{0,1\}$/\1/p' | head -n1)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=${build_date:-1970-01-01T00:00:00Z}"
done

pkgs=()
for b in "${bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done

log "building ${bins[*]} $version into $out (cold: about 10 minutes on 2 cores)"
# One invocation so the five share compiled packages; nice keeps the machine usable.
# -p 2: one compile peaks near 1.9 GB, and more jobs do not help on 2 cores.
(
  cd "$here"
  GOFLAGS=-mod=readonly CGO_ENABLED=0 GOCACHE="$cache/go-build" \
    nice -n 19 go build -p 2 -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}"
)
for b in "${bins[@]}"; do
  [[ -x "$out/$b" ]] || { log "the build did not produce $b"; exit 1; }
done
touch "$out/.complete"
log "built in $(($(date +%s) - started)) s"
echo "$out"
