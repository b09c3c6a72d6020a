#!/usr/bin/env bash
# Brings a fresh Debian machine to the point where sandboxd runs and its tests pass:
# the Docker engine (installed from Debian packages and started if absent), npm
# dependencies, grpcurl, and the sandbox images (built offline if absent).
#
# Usage: scripts/setup.sh [--quick] [image names...]   (default: every image the tests use)
#   --quick   only what the daemon needs to serve the named images (the engine, npm
#             dependencies, those images, built while npm installs): no client toolchains,
#             grpcurl or Podman. scripts/up.sh uses it for a first run within minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=0
if [[ "${1:-}" == "--quick" ]]; then
  quick=1
  shift
fi
images=("$@")
if [[ ${#images[@]} -eq 0 ]]; then images=(all); fi

log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# 1. The Docker engine.
if ! command -v dockerd >/dev/null 2>&1; then
  log "installing the Docker engine (docker.io) from Debian packages"
  apt_install docker.io
fi
command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
command -v curl >/dev/null 2>&1 || apt_install curl
# tmux: the terminal tests drive `sandboxctl shell` in a tmux pane (send-keys, capture-pane).
command -v tmux >/dev/null 2>&1 || apt_install tmux
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  as_root sh -c 'cd / && nohup dockerd >/var/log/sandboxd-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/sandboxd-dockerd.log"; exit 1; }
fi

# 2. Sandbox images, built offline from Debian packages when missing, while npm installs
#    (the build is mostly waiting on downloads and dpkg; npm on the registry).
deploy/images/build.sh "${images[@]}" &
images_pid=$!
# A background job ignores Ctrl-C; stop the build (its TERM trap cleans up) if setup ends early.
trap 'kill "$images_pid" 2>/dev/null || true' EXIT

# 3. Node dependencies, exactly as the lockfile has them (it lists every platform's optional
#    packages). `npm ci` never rewrites package-lock.json, so a fresh clone stays clean.
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
wait "$images_pid" || { log "building the sandbox images failed (output above)"; exit 1; }
trap - EXIT
if [[ $quick -eq 1 ]]; then
  log "ready (quick: ${images[*]})"
  exit 0
fi

# 4. Client toolchains: the pinned Python generator (buf runs its protoc), the Python client
#    with its test dependencies, and the Go client's modules (plugins are `go tool` deps).
python3 -m pip install -q --disable-pip-version-check -r clients/python/requirements-codegen.txt
python3 -m pip install -q --disable-pip-version-check -e './clients/python[test]'
# The Python `mcp` package's client, for the MCP server's test (test/mcp/python_client.py).
python3 -m pip install -q --disable-pip-version-check -r test/mcp/requirements.txt
(cd clients/go && go mod download)

# 4b. grpcurl, for the README's examples and the reflection test.
if ! command -v grpcurl >/dev/null 2>&1; then
  log "installing grpcurl (Go module)"
  GOBIN=/usr/local/bin go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3
fi

# 5. Podman (SANDBOXD_PODMAN=0 skips it): its Docker-compatible API service, and the same
#    images copied over from Docker's store, so the integration suite runs on both.
if [[ "${SANDBOXD_PODMAN:-1}" == "1" ]]; then
  command -v podman >/dev/null 2>&1 || apt_install podman
  command -v catatonit >/dev/null 2>&1 || apt_install catatonit
  if [[ ! -S /run/podman/podman.sock ]] || ! curl -sf --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null 2>&1; then
    log "starting podman system service"
    as_root mkdir -p /run/podman
    # From /: conmon drops files (an `oom` marker) into its working directory.
    as_root sh -c 'cd / && nohup podman system service --time=0 unix:///run/podman/podman.sock >/var/log/sandboxd-podman.log 2>&1 &'
    for _ in $(seq 1 60); do
      curl -sf --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  for ref in $(docker images --format '{{.Repository}}:{{.Tag}}' 'sandboxd/*'); do
    if ! podman image exists "$ref"; then
      log "copying $ref into Podman's image store"
      docker save "$ref" | podman load -q >/dev/null
    fi
  done
fi
log "ready"
