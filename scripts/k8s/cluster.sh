#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for sandboxd's Kubernetes backend and
# its integration suite: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a
# kubelet on its own containerd, with a bridge pod network that cannot reach the host.
# Everything comes from package registries (Debian packages, Go modules); see
# docs/kubernetes-cluster.md for every setting and why.
#
# Usage: scripts/k8s/cluster.sh up | down | status | env | import-images IMAGE...
#   up             install what is missing, build the binaries once, start what is not
#                  running and wait until the cluster takes pods (idempotent; also recovers
#                  after its processes were killed)
#   down           stop everything and remove every process, mount, link, cgroup, firewall
#                  rule and directory that `up` made (the logs are kept in the cache folder)
#   status         what runs, and the node
#   env            shell lines that point kubectl at the cluster: eval "$(cluster.sh env)"
#   import-images  copy images from the local Docker engine into the cluster's containerd
#                  (skipped for an image whose Docker id was imported already)
#
# Env: SANDBOXD_K8S_DIR     the cluster's work folder (default /var/lib/sandboxd-k8s)
#      SANDBOXD_K8S_CACHE   binaries and build cache (default ~/.cache/sandboxd/k8s)
#      SANDBOXD_K8S_IMAGES  images `up` imports from Docker, space-separated
#      SANDBOXD_K8S_NODE_IP the node's address (default: the source address of the default route)
#      SANDBOXD_K8S_POD_CIDR / SANDBOXD_K8S_SERVICE_CIDR, SANDBOXD_K8S_API_PORT,
#      SANDBOXD_K8S_ETCD_PORT (and the next port for its peer URL)
set -euo pipefail
script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
here="$(dirname "$script")"
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

W="${SANDBOXD_K8S_DIR:-/var/lib/sandboxd-k8s}"
cache="${SANDBOXD_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sandboxd/k8s}"
export SANDBOXD_K8S_CACHE="$cache"
pod_cidr="${SANDBOXD_K8S_POD_CIDR:-10.213.0.0/24}"
service_cidr="${SANDBOXD_K8S_SERVICE_CIDR:-10.213.128.0/24}"
api_port="${SANDBOXD_K8S_API_PORT:-16443}"
etcd_port="${SANDBOXD_K8S_ETCD_PORT:-12379}"
etcd_peer_port=$((etcd_port + 1))
kcm_port=10257
scheduler_port=10259
kubelet_port=10250
kubelet_healthz_port=10248
node_name="sandboxd-node"
# Not "sbd…": sandboxd's own firewall (src/runtime/host-firewall.ts) owns that prefix.
bridge="k8s-sbd0"
network_name="sandboxd-pods"
fw_chain="SANDBOXD-K8S-PODS"
sock="$W/run/containerd.sock"

pki="$W/pki"
conf="$W/config"
logs="$W/logs"
run="$W/run"
kubeconfig="$W/admin.kubeconfig"

# What the kubelet expects of these sysctls with protectKernelDefaults; it would otherwise
# write them host-wide. The kubelet is shown files with these values instead.
kernel_defaults=(
  vm/overcommit_memory=1
  vm/panic_on_oom=0
  kernel/panic=10
  kernel/panic_on_oops=1
  kernel/keys/root_maxkeys=1000000
  kernel/keys/root_maxbytes=25000000
)
# Host paths the kubelet, containerd or CNI create whatever they are told; `down` removes
# those that did not exist before the first `up`.
host_paths=(
  /var/lib/kubelet/device-plugins /var/lib/kubelet
  /var/log/containers /var/log/pods
  /var/lib/cni/results /var/lib/cni
  /run/containerd/s /run/containerd
  /usr/libexec/kubernetes /var/run/kubernetes
)

started_at=$(date +%s.%N)
log() { printf '[k8s %5ss] %s\n' "$(elapsed)" "$*" >&2; }
elapsed() { awk -v a="$started_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
die() {
  log "error: $*"
  exit 1
}

require_root() { [[ $(id -u) -eq 0 ]] || die "run as root (the cluster mounts, makes cgroups and firewall rules)"; }

# ---------------------------------------------------------------- packages and binaries

apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then
    apt-get update -qq
    apt_updated=1
  fi
  log "installing Debian packages: $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_packages() {
  local missing=()
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  command -v containerd >/dev/null 2>&1 || missing+=(containerd)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
  if [[ ${#missing[@]} -gt 0 ]]; then apt_install "${missing[@]}"; fi
  command -v go >/dev/null 2>&1 || die "Go 1.24 or later is needed to build the Kubernetes binaries"
}

bin=""
ensure_binaries() {
  bin="$("$here/build/build.sh")"
  [[ -x "$bin/kubelet" ]] || die "no kubelet in $bin"
}

kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
ctr() { command ctr --address "$sock" --namespace k8s.io "$@"; }

# ---------------------------------------------------------------- addresses

node_ip=""
detect_node_ip() {
  if [[ -n "${SANDBOXD_K8S_NODE_IP:-}" ]]; then
    node_ip="$SANDBOXD_K8S_NODE_IP"
    return
  fi
  # The address the kernel would use towards the default gateway (a lookup, nothing is sent).
  local via
  via="$(ip -o -4 route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "via") { print $(i + 1); exit } }')"
  if [[ -n "$via" ]]; then
    node_ip="$(ip -o -4 route get "$via" | sed -n 's/.* src \([0-9.]*\).*/\1/p')"
  fi
  if [[ -z "$node_ip" ]]; then
    node_ip="$(ip -o -4 addr show scope global | awk '{ sub(/\/.*/, "", $4); print $4; exit }')"
  fi
  [[ -n "$node_ip" ]] || die "no IPv4 address for the node (set SANDBOXD_K8S_NODE_IP)"
}

# The first address of a /N IPv4 range plus one: the bridge gateway, the kubernetes service.
first_host() {
  local net="${1%/*}"
  IFS=. read -r a b c d <<<"$net"
  echo "$a.$b.$c.$((d + 1))"
}

# ---------------------------------------------------------------- host state

record_host_state() {
  [[ -f "$W/host-state" ]] && return
  local p
  {
    for p in "${host_paths[@]}"; do [[ -e "$p" ]] && echo "existed $p"; done
    for p in /sys/fs/cgroup/*/kubepods; do [[ -d "$p" ]] && echo "existed $p"; done
    true
  } >"$W/host-state"
}

existed_before() { grep -qxF "existed $1" "$W/host-state" 2>/dev/null; }

# ---------------------------------------------------------------- certificates

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# issue NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
issue() {
  local name="$1" subject="$2" usage="$3" sans="${4:-}"
  [[ -f "$pki/$name.crt" ]] && return
  new_key "$pki/$name.key"
  local ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage"
  [[ -n "$sans" ]] && ext+=$'\n'"subjectAltName=$sans"
  openssl req -new -key "$pki/$name.key" -subj "$subject" 2>/dev/null |
    openssl x509 -req -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
      -days 3650 -extfile <(printf '%s\n' "$ext") -out "$pki/$name.crt" 2>/dev/null
}

ensure_pki() {
  mkdir -p "$pki"
  chmod 700 "$pki"
  # Serving certificates name the node's address: a new address means new ones.
  if [[ -f "$pki/node-ip" && "$(cat "$pki/node-ip")" != "$node_ip" ]]; then
    rm -f "$pki"/apiserver.* "$pki"/kubelet-serving.*
  fi
  echo "$node_ip" >"$pki/node-ip"
  if [[ ! -f "$pki/ca.crt" ]]; then
    new_key "$pki/ca.key"
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=sandboxd-k8s-ca" -days 3650 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$pki/ca.crt" 2>/dev/null
  fi
  local svc_ip
  svc_ip="$(first_host "$service_cidr")"
  issue etcd "/CN=sandboxd-etcd" serverAuth,clientAuth "IP:127.0.0.1,DNS:localhost"
  issue apiserver-etcd-client "/CN=kube-apiserver-etcd-client" clientAuth
  issue apiserver "/CN=kube-apiserver" serverAuth \
    "IP:127.0.0.1,IP:$node_ip,IP:$svc_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  issue admin "/O=system:masters/CN=sandboxd-admin" clientAuth
  issue controller-manager "/CN=system:kube-controller-manager" clientAuth
  issue scheduler "/CN=system:kube-scheduler" clientAuth
  issue kubelet "/O=system:nodes/CN=system:node:$node_name" clientAuth
  issue kubelet-serving "/O=system:nodes/CN=system:node:$node_name" serverAuth "IP:$node_ip,DNS:$node_name"
  if [[ ! -f "$pki/sa.key" ]]; then
    new_key "$pki/sa.key"
    openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  fi
}

# write_kubeconfig FILE CERT_NAME
write_kubeconfig() {
  local file="$1" name="$2"
  cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: sandboxd
    cluster:
      server: https://127.0.0.1:$api_port
      certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
  - name: $name
    user:
      client-certificate-data: $(base64 -w0 "$pki/$name.crt")
      client-key-data: $(base64 -w0 "$pki/$name.key")
contexts:
  - name: sandboxd
    context:
      cluster: sandboxd
      user: $name
current-context: sandboxd
EOF
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}

# ---------------------------------------------------------------- configuration files

write_configs() {
  mkdir -p "$conf" "$W/cni/net.d" "$W/cni/ipam" "$logs" "$run" "$W/kubelet" "$W/pod-logs" \
    "$W/plugins/kubelet" "$W/plugins/controller-manager" "$W/containerd/root" "$W/containerd/state" \
    "$W/containerd/opt" "$W/sysctl"
  write_kubeconfig "$kubeconfig" admin
  write_kubeconfig "$conf/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$conf/scheduler.kubeconfig" scheduler
  write_kubeconfig "$conf/kubelet.kubeconfig" kubelet

  cat >"$conf/containerd.toml" <<EOF
# This cluster's own containerd: never the one Docker or anything else uses.
version = 2
root = "$W/containerd/root"
state = "$W/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = "$W/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_ref"
  # No CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj (the pause container's -998).
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  enable_cdi = false

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$W/cni/net.d"
    max_conf_num = 1
EOF

  cat >"$W/cni/net.d/10-$network_name.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$network_name",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$W/cni/ipam",
        "ranges": [[{ "subnet": "$pod_cidr", "gateway": "$(first_host "$pod_cidr")" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    }
  ]
}
EOF

  cat >"$conf/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_healthz_port
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $pki/ca.crt
authorization:
  mode: Webhook
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
containerRuntimeEndpoint: unix://$sock
imageServiceEndpoint: unix://$sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
protectKernelDefaults: true
makeIPTablesUtilChains: false
# Kubernetes has no per-pod pids limit in the pod spec: this one holds for every pod (fork bombs).
podPidsLimit: ${SANDBOXD_K8S_POD_PIDS:-512}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%
  nodefs.inodesFree: 2%
  imagefs.available: 2%
  imagefs.inodesFree: 2%
volumePluginDir: $W/plugins/kubelet
podLogsDir: $W/pod-logs
resolvConf: /etc/resolv.conf
EOF
}

# ---------------------------------------------------------------- the pause image

pause_ref=""
pause_archive=""
prepare_pause() {
  local src="$here/build/pause/main.go" tag
  tag="$(sha256sum "$src" | cut -c1-12)"
  pause_ref="localhost/sandboxd/pause:$tag"
  pause_archive="$cache/pause/$tag.tar"
  [[ -f "$pause_archive" ]] && return
  log "building the pause image $pause_ref"
  local tmp arch
  tmp="$(mktemp -d)"
  arch="$(go env GOARCH)"
  mkdir -p "$tmp/rootfs" "$tmp/oci/blobs/sha256" "$cache/pause"
  (cd "$here/build" && CGO_ENABLED=0 GOCACHE="$cache/go-build" GOFLAGS=-mod=readonly \
    go build -trimpath -ldflags "-s -w" -o "$tmp/rootfs/pause" ./pause)
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$tmp/rootfs" -cf "$tmp/layer.tar" pause
  local layer layer_size config config_size manifest manifest_size
  layer="$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)"
  layer_size="$(stat -c %s "$tmp/layer.tar")"
  mv "$tmp/layer.tar" "$tmp/oci/blobs/sha256/$layer"
  printf '{"architecture":"%s","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$arch" "$layer" >"$tmp/config.json"
  config="$(sha256sum "$tmp/config.json" | cut -d' ' -f1)"
  config_size="$(stat -c %s "$tmp/config.json")"
  mv "$tmp/config.json" "$tmp/oci/blobs/sha256/$config"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$config_size" "$layer" "$layer_size" >"$tmp/manifest.json"
  manifest="$(sha256sum "$tmp/manifest.json" | cut -d' ' -f1)"
  manifest_size="$(stat -c %s "$tmp/manifest.json")"
  mv "$tmp/manifest.json" "$tmp/oci/blobs/sha256/$manifest"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$manifest_size" "$arch" "$pause_ref" "$tag" >"$tmp/oci/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$tmp/oci/oci-layout"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$tmp/oci" -cf "$pause_archive.tmp" .
  mv "$pause_archive.tmp" "$pause_archive"
  rm -rf "$tmp"
}

import_pause() {
  if ! ctr images ls -q | grep -qxF "$pause_ref"; then
    ctr images import "$pause_archive" >/dev/null
    log "pause image imported"
  fi
}

# ---------------------------------------------------------------- processes

# The pid of a component when it runs: its pid file names a live process whose command line
# mentions this work folder (so a reused pid is not taken for it).
pid_of() {
  local f="$run/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$W" || return 1
  echo "$pid"
}

# start NAME COMMAND...: in its own session (a caller's process group being ended does not
# take it along), from the work folder, logging to logs/NAME.log, without the lock's fd
# (a daemon holding it would block every later `up`).
start() {
  local name="$1"
  shift
  (cd "$run" && exec setsid "$@" </dev/null >>"$logs/$name.log" 2>&1 9>&-) &
  echo $! >"$run/$name.pid"
}

stop() {
  local name="$1" grace="${2:-10}" pid i
  pid="$(pid_of "$name")" || {
    rm -f "$run/$name.pid"
    return 0
  }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    [[ -d "/proc/$pid" ]] || break
    sleep 0.1
  done
  if [[ -d "/proc/$pid" ]]; then
    log "$name did not stop in ${grace}s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while [[ -d "/proc/$pid" ]]; do sleep 0.1; done
  fi
  rm -f "$run/$name.pid"
}

# wait_for COMPONENT SECONDS COMMAND...: until COMMAND succeeds; fails early when the
# component's process is gone (its log's last lines say why).
wait_for() {
  local what="$1" limit="$2" deadline
  shift 2
  deadline=$(($(date +%s) + limit))
  until "$@" >/dev/null 2>&1; do
    if [[ -f "$run/$what.pid" ]] && ! pid_of "$what" >/dev/null; then
      tail -n 5 "$logs/$what.log" >&2 || true
      die "$what exited (log: $logs/$what.log)"
    fi
    if (($(date +%s) >= deadline)); then
      die "$what not ready after ${limit}s (logs in $logs)"
    fi
    sleep 0.2
  done
}

etcd_healthy() {
  curl -sf --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/apiserver-etcd-client.crt" \
    --key "$pki/apiserver-etcd-client.key" "https://127.0.0.1:$etcd_port/health" | grep -q '"health":"true"'
}
apiserver_ready() {
  curl -sf --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$api_port/readyz" | grep -qx ok
}
containerd_ready() { ctr version; }

start_etcd() {
  pid_of etcd >/dev/null && return
  start etcd etcd --name sandboxd --data-dir "$W/etcd" --logger zap --log-level warn \
    --listen-client-urls "https://127.0.0.1:$etcd_port" --advertise-client-urls "https://127.0.0.1:$etcd_port" \
    --listen-peer-urls "https://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "https://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "sandboxd=https://127.0.0.1:$etcd_peer_port" --initial-cluster-state new \
    --cert-file "$pki/etcd.crt" --key-file "$pki/etcd.key" --trusted-ca-file "$pki/ca.crt" --client-cert-auth \
    --peer-cert-file "$pki/etcd.crt" --peer-key-file "$pki/etcd.key" --peer-trusted-ca-file "$pki/ca.crt" --peer-client-cert-auth
  log "etcd started"
}

start_apiserver() {
  pid_of apiserver >/dev/null && return
  start apiserver "$bin/kube-apiserver" \
    --bind-address=127.0.0.1 --secure-port="$api_port" --advertise-address="$node_ip" \
    --etcd-servers="https://127.0.0.1:$etcd_port" --etcd-cafile="$pki/ca.crt" \
    --etcd-certfile="$pki/apiserver-etcd-client.crt" --etcd-keyfile="$pki/apiserver-etcd-client.key" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --cert-dir="$W/apiserver" \
    --client-ca-file="$pki/ca.crt" --anonymous-auth=false --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$pki/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range="$service_cidr" --allow-privileged=false --profiling=false
  log "kube-apiserver started"
}

start_controllers() {
  if ! pid_of controller-manager >/dev/null; then
    start controller-manager "$bin/kube-controller-manager" \
      --kubeconfig="$conf/controller-manager.kubeconfig" \
      --authentication-kubeconfig="$conf/controller-manager.kubeconfig" \
      --authorization-kubeconfig="$conf/controller-manager.kubeconfig" \
      --bind-address=127.0.0.1 --secure-port="$kcm_port" --leader-elect=false \
      --use-service-account-credentials=true --service-account-private-key-file="$pki/sa.key" \
      --root-ca-file="$pki/ca.crt" --allocate-node-cidrs=false \
      --flex-volume-plugin-dir="$W/plugins/controller-manager" --profiling=false
    log "kube-controller-manager started"
  fi
  if ! pid_of scheduler >/dev/null; then
    start scheduler "$bin/kube-scheduler" \
      --kubeconfig="$conf/scheduler.kubeconfig" \
      --authentication-kubeconfig="$conf/scheduler.kubeconfig" \
      --authorization-kubeconfig="$conf/scheduler.kubeconfig" \
      --bind-address=127.0.0.1 --secure-port="$scheduler_port" --leader-elect=false --profiling=false
    log "kube-scheduler started"
  fi
}

start_containerd() {
  pid_of containerd >/dev/null && return
  start containerd containerd --config "$conf/containerd.toml"
  log "containerd started"
}

is_mountpoint() { awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo; }

start_kubelet() {
  pid_of kubelet >/dev/null && return
  # The kubelet runs in a mount namespace of its own (for the sysctl files below); its root
  # folder is a shared mount so the volumes it mounts there reach containerd.
  if ! is_mountpoint "$W/kubelet"; then
    mount --bind "$W/kubelet" "$W/kubelet"
    mount --make-rshared "$W/kubelet"
  fi
  start kubelet unshare --mount --propagation unchanged -- "$script" _kubelet "$node_ip"
  log "kubelet started"
}

# Runs in the kubelet's own mount namespace: shows it the kernel defaults it insists on,
# then becomes the kubelet.
kubelet_exec() {
  mount --make-rprivate /proc
  local entry path want
  for entry in "${kernel_defaults[@]}"; do
    path="${entry%%=*}"
    want="${entry#*=}"
    if [[ "$(cat "/proc/sys/$path")" != "$want" ]]; then
      printf '%s\n' "$want" >"$W/sysctl/${path//\//.}"
      mount --bind -o ro "$W/sysctl/${path//\//.}" "/proc/sys/$path"
    fi
  done
  exec "$bin/kubelet" --config="$conf/kubelet.yaml" --kubeconfig="$conf/kubelet.kubeconfig" \
    --root-dir="$W/kubelet" --node-ip="$node_ip" --hostname-override="$node_name"
}

# ---------------------------------------------------------------- host firewall

# Pods must never reach the host: every service of the machine listens on 0.0.0.0. Traffic
# entering from the pod bridge is dropped unless it answers a connection the host opened
# (the kubelet's probes, `kubectl exec` goes through the runtime, not the network).
# Forwarded traffic from the bridge (to other networks, other pods) is dropped the same way.
firewall_up() {
  local cmd
  # Pods on the bridge talk to each other below IP unless bridged traffic passes iptables
  # (br_netfilter): the chain below then also stops pod-to-pod connections. Docker turns it
  # on too; without it the isolation the tests check would not hold, so say so.
  if [[ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)" != 1 ]]; then
    modprobe br_netfilter 2>/dev/null || true
    echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || die "bridged traffic does not pass iptables (br_netfilter); pods could reach each other"
  fi
  for cmd in iptables ip6tables; do
    if ! "$cmd" -w 5 -n -L "$fw_chain" >/dev/null 2>&1; then
      "$cmd" -w 5 -N "$fw_chain"
    fi
    if [[ "$("$cmd" -w 5 -S "$fw_chain" | grep -c '^-A')" != 2 ]] ||
      ! "$cmd" -w 5 -C "$fw_chain" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT 2>/dev/null ||
      ! "$cmd" -w 5 -C "$fw_chain" -j DROP 2>/dev/null; then
      "$cmd" -w 5 -F "$fw_chain"
      "$cmd" -w 5 -A "$fw_chain" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
      "$cmd" -w 5 -A "$fw_chain" -j DROP
    fi
    jump_first "$cmd" INPUT
    jump_first "$cmd" FORWARD
  done
}

# Engines insert their own rules at the top of INPUT and FORWARD; ours goes back in front.
jump_first() {
  local cmd="$1" chain="$2" rule="-i $bridge -j $fw_chain"
  if [[ "$("$cmd" -w 5 -S "$chain" | grep -m1 '^-A')" == "-A $chain $rule" ]]; then return; fi
  # shellcheck disable=SC2086
  while "$cmd" -w 5 -D "$chain" $rule 2>/dev/null; do :; done
  # shellcheck disable=SC2086
  "$cmd" -w 5 -I "$chain" 1 $rule
}

firewall_down() {
  local cmd chain
  for cmd in iptables ip6tables; do
    for chain in INPUT FORWARD; do
      while "$cmd" -w 5 -D "$chain" -i "$bridge" -j "$fw_chain" 2>/dev/null; do :; done
    done
    if "$cmd" -w 5 -n -L "$fw_chain" >/dev/null 2>&1; then
      "$cmd" -w 5 -F "$fw_chain"
      "$cmd" -w 5 -X "$fw_chain"
    fi
  done
}

firewall_ok() {
  local cmd chain
  for cmd in iptables ip6tables; do
    for chain in INPUT FORWARD; do
      [[ "$("$cmd" -w 5 -S "$chain" | grep -m1 '^-A')" == "-A $chain -i $bridge -j $fw_chain" ]] || return 1
    done
    "$cmd" -w 5 -C "$fw_chain" -j DROP 2>/dev/null || return 1
  done
}

# ---------------------------------------------------------------- readiness

node_ready() {
  [[ "$(kubectl get node "$node_name" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}
cluster_usable() {
  node_ready || return 1
  [[ -z "$(kubectl get node "$node_name" -o 'jsonpath={.spec.taints}')" ]] || return 1
  kubectl -n default get serviceaccount default -o name >/dev/null || return 1
  kubectl -n default get configmap kube-root-ca.crt -o name >/dev/null || return 1
}
all_running() {
  local c
  for c in etcd apiserver controller-manager scheduler containerd kubelet; do
    pid_of "$c" >/dev/null || return 1
  done
}

# ---------------------------------------------------------------- images

# The name containerd gives an image that Docker calls NAME (docker.io/library/x:latest).
normalize_ref() {
  local ref="$1" first
  [[ "$ref" == *@* || "${ref##*/}" == *:* ]] || ref="$ref:latest"
  first="${ref%%/*}"
  if [[ "$ref" != */* ]]; then
    ref="docker.io/library/$ref"
  elif [[ "$first" != *.* && "$first" != *:* && "$first" != localhost ]]; then
    ref="docker.io/$ref"
  fi
  echo "$ref"
}

import_images() {
  local image id ref current t
  command -v docker >/dev/null 2>&1 || die "docker is not installed: no images to import"
  docker info >/dev/null 2>&1 || die "the Docker engine is not running (scripts/setup.sh starts it)"
  containerd_ready >/dev/null 2>&1 || die "the cluster's containerd is not running (cluster.sh up)"
  for image in "$@"; do
    id="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null)" || die "no image $image in Docker"
    ref="$(normalize_ref "$image")"
    current="$(ctr images ls "name==$ref" | awk -v r="$ref" '$1 == r { print $NF }')"
    if [[ ",$current," == *",sandboxd.docker-id=$id,"* ]]; then
      log "$image: already imported ($id)"
      continue
    fi
    t=$(date +%s.%N)
    log "$image: importing from Docker ($id)"
    if ! docker save "$image" | ctr images import - >/dev/null; then
      die "$image: docker save | ctr images import failed (is the Docker engine still running?)"
    fi
    ctr images label "$ref" "sandboxd.docker-id=$id" >/dev/null
    log "$image: imported as $ref in $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
  done
}

# ---------------------------------------------------------------- commands

cmd_up() {
  require_root
  ensure_packages
  ensure_binaries
  log "binaries ready ($bin)"
  detect_node_ip
  mkdir -p "$W"
  chmod 700 "$W"
  record_host_state
  prepare_pause

  # Fast path: everything runs and the cluster takes pods.
  if all_running && cluster_usable 2>/dev/null; then
    firewall_up
    log "already up (node $node_name at $node_ip)"
    up_images
    return
  fi

  ensure_pki
  write_configs
  # Before anything that makes pods: the bridge is never without its rules.
  firewall_up
  log "host firewall for $bridge in place"

  start_etcd
  start_containerd
  wait_for etcd 30 etcd_healthy
  log "etcd healthy"
  start_apiserver
  wait_for containerd 30 containerd_ready
  import_pause
  # The kubelet retries until the API server answers; the controllers exit instead when
  # their RBAC roles are not there yet, so they wait for /readyz.
  start_kubelet
  wait_for apiserver 60 apiserver_ready
  log "kube-apiserver ready"
  start_controllers
  wait_for kubelet 90 node_ready
  log "node $node_name Ready"
  wait_for controller-manager 90 cluster_usable
  log "cluster usable: $node_name at $node_ip, pods on $pod_cidr; export KUBECONFIG=$kubeconfig"
  up_images
}

up_images() {
  local images
  read -r -a images <<<"${SANDBOXD_K8S_IMAGES:-}"
  if [[ ${#images[@]} -gt 0 ]]; then import_images "${images[@]}"; fi
}

cmd_down() {
  require_root
  if [[ ! -d "$W" ]]; then
    firewall_down
    log "nothing to take down ($W does not exist)"
    return
  fi
  bin="$cache/bin/$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/build/go.mod")"
  local ids=() t

  # Pods first, through the kubelet, so the CNI plugin takes their network down.
  if pid_of apiserver >/dev/null && pid_of kubelet >/dev/null && pid_of containerd >/dev/null; then
    kubectl delete pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    t=$(($(date +%s) + 30))
    while [[ -n "$(ctr tasks ls -q 2>/dev/null)" ]] && (($(date +%s) < t)); do sleep 0.5; done
    log "pods stopped"
  fi
  stop kubelet 15
  stop scheduler
  stop controller-manager
  stop apiserver 30
  stop etcd
  if pid_of containerd >/dev/null; then
    mapfile -t ids < <(ctr containers ls -q 2>/dev/null)
    local task
    for task in $(ctr tasks ls -q 2>/dev/null); do
      ctr tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
      ctr tasks delete -f "$task" >/dev/null 2>&1 || true
    done
  fi
  stop containerd 15
  log "daemons stopped"

  kill_leftovers
  unmount_all
  remove_links
  remove_cgroups
  firewall_down
  remove_shim_sockets "${ids[@]}"
  remove_host_paths
  if [[ -d "$logs" ]]; then
    rm -rf "$cache/last-logs"
    mkdir -p "$cache"
    cp -r "$logs" "$cache/last-logs"
  fi
  rm -rf "$W"
  log "down: nothing left (logs of this run kept in $cache/last-logs)"
}

# Shims of this containerd, and every process in the pods' cgroups.
kill_leftovers() {
  local p pids=() i
  for i in 1 2 3 4 5; do
    pids=()
    for p in /proc/[0-9]*; do
      if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "-address $sock "; then pids+=("${p#/proc/}"); fi
    done
    if [[ -d /sys/fs/cgroup/pids/kubepods ]]; then
      while read -r p; do [[ -n "$p" ]] && pids+=("$p"); done < <(find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null)
    fi
    [[ ${#pids[@]} -eq 0 ]] && return
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.5
  done
  log "warning: processes still alive: ${pids[*]}"
}

unmount_all() {
  local m
  # Deepest first; the work folder's own mounts only (rootfs, shm, netns, volumes, the bind).
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: cannot unmount $m"
  done < <(awk -v w="$W" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | uniq)
  if awk -v w="$W" '$5 == w || index($5, w "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    unmount_all
  fi
}

remove_links() {
  local link
  for link in $(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
    ip link delete "$link" 2>/dev/null || true
  done
  if ip link show "$bridge" >/dev/null 2>&1; then ip link delete "$bridge"; fi
}

remove_cgroups() {
  local root
  for root in /sys/fs/cgroup/*/kubepods; do
    [[ -d "$root" ]] || continue
    existed_before "$root" && continue
    find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [[ -d "$root" ]] && log "warning: cannot remove cgroup $root"
  done
  return 0
}

# containerd 1.6 puts its shims' sockets in /run/containerd/s, named by a hash of its own
# address, the namespace and the container; a killed shim leaves its socket behind.
remove_shim_sockets() {
  local id h
  for id in "$@"; do
    h="$(printf '%s' "$sock/k8s.io/$id" | sha256sum | cut -d' ' -f1)"
    rm -f "/run/containerd/s/$h"
  done
}

remove_host_paths() {
  local p
  rm -f /var/lib/cni/results/"$network_name"-* 2>/dev/null || true
  if [[ -d /var/log/containers ]]; then
    find /var/log/containers -maxdepth 1 -type l -lname "$W/*" -delete 2>/dev/null || true
  fi
  for p in "${host_paths[@]}"; do
    [[ -e "$p" ]] || continue
    existed_before "$p" && continue
    rm -rf "$p"
  done
}

cmd_status() {
  local c pid rc=0
  bin="$cache/bin/$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/build/go.mod")"
  for c in etcd apiserver controller-manager scheduler containerd kubelet; do
    if pid="$(pid_of "$c")"; then
      printf '%-20s running (pid %s)\n' "$c" "$pid"
    else
      printf '%-20s stopped\n' "$c"
      rc=1
    fi
  done
  if firewall_ok 2>/dev/null; then
    printf '%-20s in place (%s first in INPUT and FORWARD)\n' firewall "$fw_chain"
  else
    printf '%-20s MISSING\n' firewall
    rc=1
  fi
  if [[ -f "$kubeconfig" && -x "$bin/kubectl" ]] && kubectl get nodes -o wide 2>/dev/null; then :; else rc=1; fi
  return $rc
}

cmd_env() {
  local version
  version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/build/go.mod")"
  echo "export KUBECONFIG=$kubeconfig"
  echo "export SANDBOXD_K8S_DIR=$W"
  echo "export PATH=$cache/bin/$version:\$PATH"
  echo "export SANDBOXD_K8S_CONTAINERD=$sock"
}

with_lock() {
  mkdir -p "$cache"
  exec 9>"$cache/cluster.lock"
  flock 9
  "$@"
}

main() {
  case "${1:-}" in
    up) with_lock cmd_up ;;
    down) with_lock cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    import-images)
      shift
      [[ $# -gt 0 ]] || die "usage: cluster.sh import-images IMAGE..."
      require_root
      with_lock import_images "$@"
      ;;
    _kubelet)
      bin="$cache/bin/$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/build/go.mod")"
      node_ip="$2"
      kubelet_exec
      ;;
    *)
      sed -n '2,/^set -euo/p' "$script" | sed '$d' | sed 's/^# \{0,1\}//' >&2
      exit 2
      ;;
  esac
}

# Sourcing the file (for a test) defines the functions and runs nothing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
