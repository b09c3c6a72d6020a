#!/usr/bin/env bash
# Smoke test of the cluster `cluster.sh up` made: a locked-down pod of sandboxd/python:latest
# (imported from Docker, never pulled) runs Python through `kubectl exec`, and cannot open a
# connection to any address of this machine, while the host can reach the pod.
#
# Usage: scripts/k8s/smoke.sh [image]   (default sandboxd/python:latest; the cluster must be up)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
image="${1:-sandboxd/python:latest}"
eval "$("$here/cluster.sh" env)"
pod="sandboxd-smoke-$(printf "%04x%04x" "$RANDOM" "$RANDOM")"
failed=0
say() { printf '[smoke] %s\n' "$*" >&2; }
fail() {
  say "FAIL: $*"
  failed=1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

"$here/cluster.sh" import-images "$image"

# Host servers on every address (0.0.0.0, and [::] for IPv6), on free ports.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])'; }
port4="$(free_port)"
port6="$(free_port)"
served="$(mktemp -d)"
echo "host secret" >"$served/index.html"
python3 -m http.server "$port4" --bind 0.0.0.0 --directory "$served" >/dev/null 2>&1 &
server4=$!
python3 -m http.server "$port6" --bind :: --directory "$served" >/dev/null 2>&1 &
server6=$!
cleanup() {
  kill "$server4" "$server6" 2>/dev/null || true
  rm -rf "$served"
  kubectl delete pod "$pod" --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The pod network as the CNI configuration has it.
read -r pod_cidr gateway bridge < <(python3 -c '
import glob, json, sys
c = json.load(open(glob.glob(sys.argv[1] + "/cni/net.d/*.conflist")[0]))["plugins"][0]
r = c["ipam"]["ranges"][0][0]
print(r["subnet"], r["gateway"], c["bridge"])' "$SANDBOXD_K8S_DIR")
node_ip="$(kubectl get node -o 'jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}')"
for _ in $(seq 50); do curl -sf "http://$node_ip:$port4/" >/dev/null && break; sleep 0.1; done
curl -sf "http://$node_ip:$port4/" | grep -q "host secret" || fail "the host server does not answer on $node_ip:$port4"
say "host servers: 0.0.0.0:$port4 and [::]:$port6 (the host reaches $node_ip:$port4)"

t=$(now)
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $pod
  labels: { app: sandboxd-smoke }
spec:
  automountServiceAccountToken: false
  enableServiceLinks: false
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    runAsGroup: 1000
    seccompProfile: { type: RuntimeDefault }
  containers:
    - name: main
      image: $image
      imagePullPolicy: Never
      command: ["python3", "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", "/sandbox"]
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        privileged: false
        capabilities: { drop: ["ALL"] }
      resources:
        limits: { memory: 256Mi, cpu: "1" }
EOF
until [[ "$(kubectl get pod "$pod" -o 'jsonpath={.status.phase}')" == Running ]]; do
  if [[ "$(since "$t" | cut -d. -f1)" -ge 60 ]]; then
    kubectl describe pod "$pod" >&2
    fail "pod not Running after 60 s"
    exit 1
  fi
  sleep 0.05
done
say "pod $pod: create -> Running in $(since "$t") s"
pod_ip="$(kubectl get pod "$pod" -o 'jsonpath={.status.podIP}')"

t=$(now)
out="$(kubectl exec "$pod" -- python3 -c 'print(1)')"
say "kubectl exec python3 -c 'print(1)' -> '$out' ($(since "$t") s)"
[[ "$out" == 1 ]] || fail "exec printed '$out'"

# The pod's own view of its lockdown.
lockdown="$(kubectl exec "$pod" -- sh -c 'id -u; grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; touch /probe 2>&1 || true')"
say "inside the pod:"
# shellcheck disable=SC2001 # indenting every line
sed 's/^/    /' <<<"$lockdown" >&2
grep -qx 1000 <<<"$lockdown" || fail "not uid 1000"
grep -q "CapEff:.*0000000000000000" <<<"$lockdown" || fail "capabilities left"
grep -q "CapBnd:.*0000000000000000" <<<"$lockdown" || fail "bounding set not empty"
grep -qE "Seccomp:\s+2" <<<"$lockdown" || fail "no seccomp filter"
grep -qE "NoNewPrivs:\s+1" <<<"$lockdown" || fail "no_new_privs off"
grep -q "Read-only file system" <<<"$lockdown" || fail "root file system writable"

# The host can reach the pod (kubelet probes and port-forwards depend on it).
t=$(now)
if curl -sf --max-time 5 "http://$pod_ip:8080/" >/dev/null; then
  say "host -> pod $pod_ip:8080: reached ($(since "$t") s)"
else
  fail "the host cannot reach the pod at $pod_ip:8080"
fi

# The attacker's side: from the pod, every address of this machine, on the test servers'
# ports and the kubelet's. Each must fail; the pod's own loopback must work (the probe works).
targets=("127.0.0.1:8080")
while read -r addr; do
  [[ "$addr" == 127.* ]] && continue
  targets+=("$addr:$port4")
done < <(ip -o -4 addr show | awk '{ sub(/\/.*/, "", $4); print $4 }')
targets+=("$node_ip:10250")
link6="$(ip -o -6 addr show dev "$bridge" scope link | awk '{ sub(/\/.*/, "", $4); print $4; exit }')"
[[ -n "$link6" ]] && targets+=("[$link6%eth0]:$port6")
drops_before="$(iptables -w 5 -nvxL SANDBOXD-K8S-PODS | awk '$3 == "DROP" { print $1 }')"
probe='
import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family)
    s.settimeout(3)
    try:
        addr = socket.getaddrinfo(host, int(port), family, socket.SOCK_STREAM)[0][4]
        s.connect(addr)
        print("REACHED", target)
    except Exception as e:
        print("blocked", target, type(e).__name__, e)
    finally:
        s.close()
'
t=$(now)
results="$(kubectl exec "$pod" -- python3 -c "$probe" "${targets[@]}")"
drops_after="$(iptables -w 5 -nvxL SANDBOXD-K8S-PODS | awk '$3 == "DROP" { print $1 }')"
say "from the pod ($(since "$t") s):"
# shellcheck disable=SC2001 # indenting every line
sed 's/^/    /' <<<"$results" >&2
while read -r verdict target _; do
  if [[ "$target" == 127.0.0.1:8080 ]]; then
    [[ "$verdict" == REACHED ]] || fail "the probe cannot reach the pod's own server"
  elif [[ "$verdict" != blocked ]]; then
    fail "the pod reached the host at $target"
  fi
done <<<"$results"
say "packets dropped by SANDBOXD-K8S-PODS during the probe: $((drops_after - drops_before)) (pod network $pod_cidr, gateway $gateway)"

if [[ $failed -ne 0 ]]; then
  say "smoke test FAILED"
  exit 1
fi
say "smoke test passed"
