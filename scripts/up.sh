#!/usr/bin/env bash
# The first command on a fresh machine. It installs only what the daemon needs for Python
# (the Docker engine, npm dependencies, the Python image, built while npm installs), builds
# the daemon (dist/), starts it on 127.0.0.1:50051 in the background and makes a first
# streaming run. Then it finishes the setup in the background: the other seven images, the
# clients' toolchains, grpcurl and Podman (progress in .cache/setup.log). Until an image
# exists, a sandbox of its language is refused with FAILED_PRECONDITION naming the image.
#
# Usage: scripts/up.sh [--wait]   (--wait: finish the whole setup before returning)
# Environment: SANDBOXD_LISTEN (default 127.0.0.1:50051); SANDBOXD_UP_FINISH=0 leaves the
# rest of the setup to a later scripts/setup.sh; SANDBOXD_UP_STATE (default .cache) holds
# the daemon's pid and log files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS
listen="${SANDBOXD_LISTEN:-127.0.0.1:50051}"
state="${SANDBOXD_UP_STATE:-.cache}"
mkdir -p .cache "$state"
scripts/setup.sh --quick python

running() { [[ -f "$state"/sandboxd.pid ]] && kill -0 "$(cat "$state"/sandboxd.pid)" 2>/dev/null; }
if ! running; then
  npm run --silent build
  nohup bin/sandboxd --listen "$listen" >"$state"/sandboxd.log 2>&1 &
  echo "$!" >"$state"/sandboxd.pid
  for _ in $(seq 1 100); do
    grep -q "sandboxd listening" "$state"/sandboxd.log 2>/dev/null && break
    running || { cat "$state"/sandboxd.log >&2; echo "sandboxd did not start (log above)" >&2; exit 1; }
    sleep 0.1
  done
fi
echo "sandboxd is listening on $listen (pid $(cat "$state"/sandboxd.pid), logs in $state/sandboxd.log)"
echo "--- a first streaming run ---"
SANDBOXD_ADDRESS="$listen" node --import tsx scripts/first-run.ts
echo "--- first run after $((SECONDS - started))s ---"

if [[ "${SANDBOXD_UP_FINISH:-1}" == "0" ]]; then
  exit 0
elif [[ "${1:-}" == "--wait" ]]; then
  scripts/setup.sh
elif [[ -f .cache/setup.pid ]] && kill -0 "$(cat .cache/setup.pid)" 2>/dev/null; then
  echo "the background setup is still running (pid $(cat .cache/setup.pid)): tail -f .cache/setup.log"
else
  # Idempotent: what exists already (images, packages) is skipped.
  nohup scripts/setup.sh >.cache/setup.log 2>&1 &
  echo "$!" >.cache/setup.pid
  echo "finishing the setup in the background (pid $!): the node, r, java, go, cpp, ruby and base"
  echo "images, client toolchains, grpcurl, Podman. Progress: tail -f .cache/setup.log (last line '[setup] ready')."
fi
