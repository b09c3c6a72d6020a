#!/usr/bin/env bash
# Gets a running cluster (scripts/k8s/cluster.sh up) ready for the integration suite's
# Kubernetes pass: the sandbox images on the node, an image without python3 for the
# exec-fallback tests (made with Docker, as Kubernetes builds nothing), and the test
# namespace with deploy/kubernetes's objects and a ServiceAccount-only kubeconfig for the
# daemon. Prints the environment the pass runs with.
#
# Usage: eval "$(scripts/k8s/prepare-tests.sh)"
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ns=${SANDBOXD_TEST_K8S_NAMESPACE:-sandboxd-test}
eval "$(bash "$here/cluster.sh" env)"
images=(sandboxd/python:latest sandboxd/node:latest sandboxd/base:latest sandboxd/java:latest sandboxd/go:latest
  sandboxd/cpp:latest sandboxd/ruby:latest sandboxd/r:latest sandboxd/base-nopython:latest)
if ! docker image inspect sandboxd/base-nopython:latest >/dev/null 2>&1; then
  printf 'FROM sandboxd/base:latest\nUSER root\nRUN rm -f /usr/bin/python3*\nUSER 1000:1000\n' |
    docker build -q -t sandboxd/base-nopython:latest - >/dev/null
fi
bash "$here/cluster.sh" import-images "${images[@]}" >&2
# A fresh namespace each pass: nothing of an earlier run can be adopted or counted.
kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
kubeconfig="$SANDBOXD_K8S_DIR/$ns-daemon.kubeconfig"
bash "$here/daemon-access.sh" "$kubeconfig" "$ns" >/dev/null
echo "export KUBECONFIG=$KUBECONFIG SANDBOXD_TEST_BACKEND=kubernetes SANDBOXD_TEST_K8S_NAMESPACE=$ns SANDBOXD_TEST_DAEMON_KUBECONFIG=$kubeconfig"
