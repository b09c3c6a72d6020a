#!/usr/bin/env bash
# The whole test suite, as CI runs it (README: `npm test`): the proto contract (lint,
# format, breaking changes, generated code up to date), types, lint, format, layer rules,
# unused exports, unit and integration tests against a real daemon and a real engine, then
# each generated client against a live daemon.
# Ends with one line: "sandboxd: N passed, N failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p .cache
# The suite needs every sandbox image. scripts/up.sh leaves a setup running in the background
# after its first run: wait for it, then build whatever is still missing (existing images
# are skipped in a second).
if [[ -f .cache/setup.pid ]] && kill -0 "$(cat .cache/setup.pid)" 2>/dev/null; then
  echo "waiting for the background setup (pid $(cat .cache/setup.pid), .cache/setup.log) to finish"
  while kill -0 "$(cat .cache/setup.pid)" 2>/dev/null; do sleep 2; done
fi
deploy/images/build.sh all || { echo "sandboxd: 0 passed, 1 failed (the sandbox images could not be built)"; exit 1; }
passed=0
failed=0
step() {
  local name=$1
  shift
  printf '\n=== %s\n' "$name"
  if "$@"; then
    printf '=== %s: ok\n' "$name"
  else
    printf '=== %s: FAILED\n' "$name"
    failed=$((failed + 1))
    failed_steps+=("$name")
  fi
}
failed_steps=()
add_counts() { # "P F"
  passed=$((passed + ${1% *}))
  failed=$((failed + ${1#* }))
}
count_vitest() {
  [[ -f $1 ]] && add_counts "$(node -e 'const r=require(process.argv[1]);console.log(r.numPassedTests, r.numFailedTests)' "$PWD/$1")"
  return 0
}
count_junit() {
  [[ -f $1 ]] && add_counts "$(python3 -c 'import sys, xml.etree.ElementTree as E; s=E.parse(sys.argv[1]).getroot(); s=s if s.tag=="testsuite" else s[0]; t,f,e,k=(int(s.get(x,0)) for x in ("tests","failures","errors","skipped")); print(t-f-e-k, f+e)' "$1")"
  return 0
}
count_go_json() {
  [[ -f $1 ]] || return 0
  add_counts "$(python3 -c 'import json,sys
p=f=0
for line in open(sys.argv[1]):
    try: e=json.loads(line)
    except ValueError: continue
    if e.get("Test") and e.get("Action")=="pass": p+=1
    if e.get("Test") and e.get("Action")=="fail": f+=1
print(p, f)' "$1")"
  python3 -c 'import json,sys
for line in open(sys.argv[1]):
    try: e=json.loads(line)
    except ValueError: continue
    if e.get("Action") in ("pass","fail") and e.get("Test"): print(e["Action"].upper(), e["Test"])' "$1" | tail -50
}

proto_checks() {
  npx buf lint || return 1
  npx buf format --diff --exit-code || return 1
  # Breaking-change check against the published contract (proto/BASELINE).
  local base
  base=$(grep -v '^#' proto/BASELINE | head -1)
  npx buf breaking proto --against ".git#ref=${base},subdir=proto" || return 1
  npx buf generate || return 1
  if ! git diff --exit-code --stat -- src/gen clients; then
    echo "generated code is out of date: run 'npx buf generate' and commit the result" >&2
    return 1
  fi
  local untracked
  untracked=$(git ls-files --others --exclude-standard -- src/gen clients | grep -E '_pb|pb2|\.pb\.go' || true)
  if [[ -n "$untracked" ]]; then
    echo "generated files not committed: $untracked" >&2
    return 1
  fi
}

vitest_suite() {
  rm -f .cache/vitest.json
  npx vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json
  local rc=$?
  count_vitest .cache/vitest.json
  return $rc
}

step "proto contract" proto_checks
step "typecheck" npx tsc -p tsconfig.json --noEmit
# Static checks that keep the tree as it is: type-aware lint (eslint.config.js), one format
# (Prettier), the layer rules of docs/architecture.md (.dependency-cruiser.cjs), no unused
# exports in src/ (types and the security module's index aside).
step "lint" npm run --silent lint
step "format" npm run --silent format:check
step "layer rules" npm run --silent lint:layers
step "unused exports" npm run --silent lint:exports
step "unit and integration tests (docker)" vitest_suite
# The same integration suite against Podman, when its API socket is up (scripts/setup.sh).
if [[ -S /run/podman/podman.sock && "${SANDBOXD_PODMAN:-1}" == "1" ]]; then
  # One retry per test here: under parallel load Podman's exec attach is occasionally reset
  # by conmon ("read unixpacket ...: connection reset by peer"), an engine fault, not ours.
  rm -f .cache/vitest-podman.json
  step "integration tests (podman)" env SANDBOXD_TEST_BACKEND=podman npx vitest run --project integration --retry 1 --reporter=default --reporter=json --outputFile.json=.cache/vitest-podman.json
  count_vitest .cache/vitest-podman.json
fi
# The same integration suite against the Kubernetes backend, on the cluster of
# scripts/k8s/cluster.sh (.ci/run starts it), with the daemon holding only the
# ServiceAccount of deploy/kubernetes; then each client's conformance suite against a
# daemon on that backend. Under CI=true, or with SANDBOXD_KUBERNETES=1, a missing cluster
# is a failure; SANDBOXD_KUBERNETES=0 skips the pass (said so in the output); otherwise it
# runs when the cluster is up. Both run in subshells: the steps after them stay on Docker.
kubernetes_pass() (
  envline=$(bash scripts/k8s/prepare-tests.sh) || exit 1
  eval "$envline"
  echo "$envline" >.cache/kubernetes-test-env
  npx vitest run --project integration --retry 1 --reporter=default --reporter=json --outputFile.json=.cache/vitest-kubernetes.json
)
# The Python and Go suites start their daemons without backend flags: these SANDBOXD_*
# variables are the daemon's own configuration (docs/configuration.md).
kubernetes_conformance() (
  [[ -s .cache/kubernetes-test-env ]] || { echo "the Kubernetes pass did not prepare the cluster" >&2; exit 1; }
  eval "$(cat .cache/kubernetes-test-env)"
  export SANDBOXD_BACKEND=kubernetes SANDBOXD_KUBERNETES__NAMESPACE="$SANDBOXD_TEST_K8S_NAMESPACE" \
    SANDBOXD_KUBERNETES__KUBECONFIG="$SANDBOXD_TEST_DAEMON_KUBECONFIG" SANDBOXD_KUBERNETES__IMAGE_PULL_POLICY=Never
  rc=0
  npx vitest run --config test/e2e/vitest.config.ts test/e2e/typescript/conformance.test.ts \
    --reporter=default --reporter=json --outputFile.json=.cache/vitest-e2e-kubernetes.json || rc=1
  (cd clients/python && python3 -m pytest -q -rs tests/test_conformance.py tests/test_kubernetes_options.py --junitxml=../../.cache/pytest-kubernetes.xml) || rc=1
  (cd clients/go && go test -count=1 -json -run '^TestC[0-9]+' ./sandboxd >../../.cache/go-test-kubernetes.json) || rc=1
  exit $rc
)
k8s_mode=${SANDBOXD_KUBERNETES:-$([[ "${CI:-}" == true ]] && echo 1 || echo auto)}
if [[ "$k8s_mode" != 0 ]] && { [[ "$k8s_mode" == 1 ]] || bash scripts/k8s/cluster.sh status >/dev/null 2>&1; }; then
  rm -f .cache/vitest-kubernetes.json .cache/kubernetes-test-env .cache/vitest-e2e-kubernetes.json .cache/pytest-kubernetes.xml .cache/go-test-kubernetes.json
  step "integration tests (kubernetes)" kubernetes_pass
  count_vitest .cache/vitest-kubernetes.json
  step "client conformance (kubernetes)" kubernetes_conformance
  count_vitest .cache/vitest-e2e-kubernetes.json
  count_junit .cache/pytest-kubernetes.xml
  count_go_json .cache/go-test-kubernetes.json
else
  printf '\n=== integration tests (kubernetes): not run (no cluster: scripts/k8s/cluster.sh up; SANDBOXD_KUBERNETES=%s)\n' "$k8s_mode"
fi
# Each generated client against a live daemon (every client starts its own).
typescript_client() {
  rm -f .cache/vitest-e2e.json
  npx tsc -p clients/typescript/tsconfig.json --noEmit || return 1
  npx vitest run --config test/e2e/vitest.config.ts --reporter=default --reporter=json --outputFile.json=.cache/vitest-e2e.json
  local rc=$?
  count_vitest .cache/vitest-e2e.json
  return $rc
}
python_client() {
  rm -f .cache/pytest.xml
  # The sync modules are generated from sandboxd/aio (clients/python/README.md): up to date?
  python3 clients/python/scripts/gen_sync.py --check || return 1
  (cd clients/python && python3 -m pytest -q -rs --junitxml=../../.cache/pytest.xml)
  local rc=$?
  count_junit .cache/pytest.xml
  return $rc
}
go_client() {
  rm -f .cache/go-test.json
  (cd clients/go && go vet ./... && go test -count=1 -json ./... >../../.cache/go-test.json)
  local rc=$?
  count_go_json .cache/go-test.json
  return $rc
}
# Short load, soak and resumable-stream runs (the full ones: test/load/*.ts, docs/benchmarks.md).
load_tests() {
  node --import tsx test/load/ci.ts | tee .cache/load.log
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E '^load tests: [0-9]+ passed, [0-9]+ failed' .cache/load.log | tail -1)
  if [[ -n "$line" ]]; then
    local p f
    p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    passed=$((passed + p))
    failed=$((failed + f))
  fi
  return "$rc"
}
step "load, soak and resume (short)" load_tests

export SANDBOXD_TEST_REQUIRE_ALL=1
step "typescript client" typescript_client
step "python client" python_client
step "go client" go_client

printf '\n'
if ((${#failed_steps[@]})); then
  printf 'failed steps: %s\n' "${failed_steps[*]}"
fi
echo "sandboxd: ${passed} passed, ${failed} failed"
[[ ${#failed_steps[@]} -eq 0 ]]
