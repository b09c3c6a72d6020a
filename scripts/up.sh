#!/usr/bin/env bash
# Sets up what is missing, builds the daemon (dist/), starts it on 127.0.0.1:50051 in the
# background, waits for it to listen, and makes a first streaming run. Logs: .cache/sandboxd.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
mkdir -p .cache
if ! grpcurl -plaintext 127.0.0.1:50051 list >/dev/null 2>&1; then
  npm run --silent build
  nohup bin/sandboxd --listen 127.0.0.1:50051 >.cache/sandboxd.log 2>&1 &
  echo "$!" >.cache/sandboxd.pid
  for _ in $(seq 1 100); do
    grep -q "sandboxd listening" .cache/sandboxd.log 2>/dev/null && break
    sleep 0.1
  done
fi
echo "sandboxd is listening on 127.0.0.1:50051 (pid $(cat .cache/sandboxd.pid 2>/dev/null || echo '?'), logs in .cache/sandboxd.log)"
echo "--- a first streaming run ---"
node --import tsx scripts/first-run.ts
