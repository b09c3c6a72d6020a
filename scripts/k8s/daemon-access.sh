#!/usr/bin/env bash
# Applies deploy/kubernetes to the cluster the current KUBECONFIG points at (an admin's),
# checks the daemon's Deployment with a server-side dry run, and writes a kubeconfig that
# holds only a token of the sandboxd ServiceAccount: what the daemon runs with in CI, so a
# verb missing from its Role fails a test.
#
# Usage: scripts/k8s/daemon-access.sh OUT_KUBECONFIG [NAMESPACE]
#   (eval "$(scripts/k8s/cluster.sh env)" first, for KUBECONFIG and kubectl)
set -euo pipefail
out=${1:?usage: daemon-access.sh OUT_KUBECONFIG [NAMESPACE]}
ns=${2:-sandboxd}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
manifests="$root/deploy/kubernetes"

# The manifests name the namespace "sandboxd"; another namespace gets the same objects.
render() { sed -e "s/namespace: sandboxd$/namespace: $ns/" -e "s/^  name: sandboxd$/  name: $ns/" "$1"; }
for f in 00-namespace.yaml 10-rbac.yaml 20-networkpolicy.yaml; do
  if [[ "$f" == 00-namespace.yaml ]]; then
    render "$manifests/$f" | kubectl apply -f - >/dev/null
  else
    # Object names stay "sandboxd…"; only their namespace changes.
    sed -e "s/namespace: sandboxd$/namespace: $ns/" "$manifests/$f" | kubectl apply -f - >/dev/null
  fi
done
# The daemon's own objects: validated by the API server, not run (its image needs a Node
# base image from a registry; see deploy/daemon/Dockerfile).
sed -e "s/namespace: sandboxd$/namespace: $ns/" "$manifests/30-daemon.yaml" | kubectl apply --dry-run=server -f - >/dev/null

server=$(kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.server}')
ca=$(kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
if [[ -z "$ca" ]]; then
  ca_file=$(kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority}')
  ca=$(base64 -w0 <"$ca_file")
fi
token=$(kubectl -n "$ns" create token sandboxd --duration=6h)
umask 077
cat >"$out" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: cluster
    cluster:
      server: $server
      certificate-authority-data: $ca
users:
  - name: sandboxd
    user:
      token: $token
contexts:
  - name: sandboxd
    context:
      cluster: cluster
      user: sandboxd
      namespace: $ns
current-context: sandboxd
KUBECONFIG
echo "$out"
