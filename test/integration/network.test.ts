import { createServer, type Server } from "node:http";
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetworkMode } from "../../src/gen/sandboxd/v1/common_pb.js";
import type Dockerode from "dockerode";
import { docker, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { onKubernetes, plainUlimits } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";
import { freePort } from "../helpers/ports.js";

// NETWORK_MODE_BRIDGE gives a sandbox a way out, never a way to the host or to a peer.
// Every target is a server this test starts on this machine: host services on 0.0.0.0
// (an HTTP server and the daemon's own metrics listener), a peer sandbox's server, a plain
// container on the engine's default network, and one host port the operator allowed (the
// positive control: reachability is really tested).
let d: DaemonHandle;
const servers: Server[] = [];
let hostPort = 0;
let allowedPort = 0;
let metricsPort = 0;

async function serve(port: number): Promise<void> {
  const server = createServer((_req, res) => res.end("host service\n"));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, "0.0.0.0", resolve));
}

beforeAll(async () => {
  hostPort = await freePort();
  allowedPort = await freePort();
  metricsPort = await freePort();
  await serve(hostPort);
  await serve(allowedPort);
  d = await startDaemon({
    args: ["--metrics-listen", `0.0.0.0:${metricsPort}`, "--metrics-insecure", "--network.host-allow-ports", String(allowedPort)],
  });
});

const containers: Dockerode.Container[] = [];

/** A plain container on the engine's default network serving HTTP; its address. */
async function engineContainer(): Promise<string> {
  const c = await docker.createContainer({
    Image: "sandboxd/python:latest",
    Cmd: ["python3", "-m", "http.server", "8000"],
    User: "1000:1000",
    HostConfig: { Ulimits: plainUlimits() },
  });
  containers.push(c);
  await c.start();
  const info = await c.inspect();
  const ip = info.NetworkSettings.IPAddress || Object.values(info.NetworkSettings.Networks ?? {})[0]?.IPAddress || "";
  expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  return ip;
}

afterAll(async () => {
  for (const c of containers) await c.remove({ force: true }).catch(() => {});
  await d?.stop();
  for (const s of servers) await new Promise((r) => s.close(r));
});

/** Each target's fate, tried from inside the sandbox at once (a dropped packet takes the 3 s timeout). */
async function probe(sandboxId: string, targets: Record<string, [string, number]>): Promise<Record<string, string>> {
  const code = [
    "import json, socket, threading",
    `targets = ${JSON.stringify(targets)}`,
    "out = {}",
    "def attempt(name, host, port):",
    "    try:",
    "        socket.create_connection((host, port), timeout=3).close()",
    "        out[name] = 'reached'",
    "    except OSError:",
    "        out[name] = 'blocked'",
    "ts = [threading.Thread(target=attempt, args=(n, h, p)) for n, (h, p) in targets.items()]",
    "[t.start() for t in ts]; [t.join() for t in ts]",
    "print(json.dumps(out, sort_keys=True))",
  ].join("\n");
  const r = await collect(d.sandbox.run({ sandboxId, code, timeoutMs: 30_000 }));
  expect(r.exit.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, string>;
}

async function shell(sandboxId: string, cmd: string): Promise<string> {
  const r = await collect(d.sandbox.exec({ sandboxId, shell: cmd }));
  return r.stdout.trim();
}

describe.skipIf(onKubernetes)("bridged sandboxes reach neither the host nor each other", () => {
  it("the host's services, a peer sandbox and other containers are unreachable; an allowed host port is", async () => {
    const a = (await d.sandbox.createSandbox({ spec: { language: "python", network: NetworkMode.BRIDGE } })).sandbox!.id;
    const b = (await d.sandbox.createSandbox({ spec: { language: "python", network: NetworkMode.BRIDGE } })).sandbox!.id;
    const engineContainerIp = await engineContainer();
    const peerServer = collect(d.sandbox.exec({ sandboxId: b, argv: ["python3", "-m", "http.server", "8000", "--bind", "0.0.0.0"], timeoutMs: 120_000 })).catch(
      () => undefined,
    );
    try {
      const hex = await shell(a, "awk '$2 == \"00000000\" { print $3; exit }' /proc/net/route");
      const gateway = [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(".");
      expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      const peerIp = await shell(b, "hostname -i | awk '{print $1}'");
      expect(peerIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(peerIp).not.toBe(gateway);
      // The peer's server is up: it answers on its own address.
      await expect.poll(async () => (await probe(b, { self: [peerIp, 8000] }))["self"], { timeout: 20_000, interval: 500 }).toBe("reached");

      const targets: Record<string, [string, number]> = {
        "gateway service": [gateway, hostPort],
        "gateway metrics": [gateway, metricsPort],
        "peer sandbox": [peerIp, 8000],
        "engine container": [engineContainerIp, 8000],
        "allowed host port": [gateway, allowedPort],
      };
      // Every other address of this host, as a sandbox might guess it.
      for (const [ifname, addrs] of Object.entries(networkInterfaces())) {
        for (const addr of addrs ?? []) {
          if (addr.family === "IPv4" && !addr.internal && addr.address !== gateway) targets[`host ${ifname}`] = [addr.address, hostPort];
        }
      }
      const seen = await probe(a, targets);
      const expected = Object.fromEntries(Object.keys(targets).map((k) => [k, k === "allowed host port" ? "reached" : "blocked"]));
      expect(seen).toEqual(expected);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: a });
      await d.sandbox.destroySandbox({ sandboxId: b });
      await peerServer;
    }
  });

  it("each bridged sandbox has a network of its own, removed with it", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push((await d.sandbox.createSandbox({ spec: { language: "python", network: NetworkMode.BRIDGE } })).sandbox!.id);
    const nets = await docker.listNetworks({ filters: { label: [`org.sandboxd.daemon=${d.daemonId}`] } });
    expect(nets).toHaveLength(2);
    for (const id of ids) expect(nets.filter((n) => n.Labels?.["org.sandboxd.sandbox-id"] === id)).toHaveLength(1);
    for (const id of ids) await d.sandbox.destroySandbox({ sandboxId: id });
    expect(await docker.listNetworks({ filters: { label: [`org.sandboxd.daemon=${d.daemonId}`] } })).toHaveLength(0);
  });
});

// On Kubernetes every pod is on the cluster's pod network, so "no network" means: nothing
// answers. The cluster's host firewall (scripts/k8s) drops every connection a pod opens to
// the node and beyond, and bridged pod-to-pod traffic passes the same chain.
describe.runIf(onKubernetes)("sandbox pods reach neither the node nor each other", () => {
  it("the node's services (every address), the kubelet, the metrics listener and a peer sandbox are unreachable; a pod reaches itself", async () => {
    const a = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox!.id;
    const b = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox!.id;
    const peerServer = collect(d.sandbox.exec({ sandboxId: b, argv: ["python3", "-m", "http.server", "8000", "--bind", "0.0.0.0"], timeoutMs: 120_000 })).catch(
      () => undefined,
    );
    try {
      // The pod's gateway; without a default route (this cluster's pod network has none) the bridge: the subnet's first address.
      const routes = (await shell(a, "cat /proc/net/route"))
        .split("\n")
        .slice(1)
        .map((l) => l.trim().split(/\s+/));
      const ip = (hex: string) => [6, 4, 2, 0].map((k) => parseInt(hex.slice(k, k + 2), 16));
      const viaDefault = routes.find((r) => r[1] === "00000000");
      const gateway = viaDefault
        ? ip(viaDefault[2] ?? "").join(".")
        : ip(routes[0]?.[1] ?? "")
            .map((o, k) => (k === 3 ? o + 1 : o))
            .join(".");
      expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      const peerIp = await shell(b, "hostname -i | awk '{print $1}'");
      expect(peerIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      // Positive controls: the peer's server answers on its own address, and the host reaches it (as probes would).
      await expect.poll(async () => (await probe(b, { self: [peerIp, 8000] }))["self"], { timeout: 20_000, interval: 500 }).toBe("reached");
      await expect
        .poll(
          async () =>
            await fetch(`http://${peerIp}:8000/`)
              .then((r) => r.status)
              .catch(() => 0),
          { timeout: 10_000, interval: 500 },
        )
        .toBe(200);

      const targets: Record<string, [string, number]> = {
        "gateway service": [gateway, hostPort],
        "gateway metrics": [gateway, metricsPort],
        "gateway kubelet": [gateway, 10250],
        "peer sandbox": [peerIp, 8000],
      };
      for (const [ifname, addrs] of Object.entries(networkInterfaces())) {
        for (const addr of addrs ?? []) {
          if (addr.family === "IPv4" && !addr.internal && addr.address !== gateway) {
            targets[`host ${ifname}`] = [addr.address, hostPort];
            targets[`kubelet ${ifname}`] = [addr.address, 10250];
          }
        }
      }
      const seen = await probe(a, targets);
      expect(seen).toEqual(Object.fromEntries(Object.keys(targets).map((k) => [k, "blocked"])));
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: a });
      await d.sandbox.destroySandbox({ sandboxId: b });
      await peerServer;
    }
  });
});
