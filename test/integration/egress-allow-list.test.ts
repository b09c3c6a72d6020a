import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "@grpc/grpc-js";
import { ErrorDetailSchema, ErrorStatusSchema, NetworkMode, RunPhase } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { backend, docker, onKubernetes } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";
import { makeWheelCode } from "../helpers/packages.js";
import { freePort } from "../helpers/ports.js";

// NETWORK_MODE_ALLOW_LIST: the sandbox's only way out is the daemon's egress proxy, which
// lets through what the sandbox's egress policy lists. Every target is a server this test
// starts on this machine (on 0.0.0.0): a package index (listed) and a second server (not).
let d: DaemonHandle;
let metricsPort = 0;

interface GrpcError {
  code: number;
  details: string;
  metadata: Metadata;
}

function reasonOf(err: GrpcError): string | undefined {
  const raw = err.metadata?.get("grpc-status-details-bin")[0] as Buffer | undefined;
  if (!raw) return undefined;
  return anyUnpack(fromBinary(ErrorStatusSchema, raw).details[0]!, ErrorDetailSchema)?.reason;
}

async function refusal(p: Promise<unknown>): Promise<GrpcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as GrpcError,
  );
  expect(err, "the call should have failed").toBeDefined();
  return err!;
}
const servers: Server[] = [];
let indexPort = 0;
let otherPort = 0;
const requested: string[] = [];
const files = new Map<string, { body: Buffer; type: string }>();
/** An address of this host other than loopback: what a listed CIDR names. */
const hostIp =
  Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === "IPv4" && !a.internal)?.address ?? "";

async function serve(port: number, name: string): Promise<void> {
  const server = createServer((req, res) => {
    requested.push(`${name} ${req.url ?? ""}`);
    const f = files.get((req.url ?? "").split("?")[0] ?? "");
    if (f) res.writeHead(200, { "content-type": f.type, "content-length": f.body.byteLength }).end(f.body);
    else res.end(`${name} answered\n`);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, "0.0.0.0", resolve));
}

beforeAll(async () => {
  indexPort = await freePort();
  otherPort = await freePort();
  await serve(indexPort, "index");
  await serve(otherPort, "other");
  metricsPort = await freePort();
  d = await startDaemon({ args: ["--metrics-listen", `127.0.0.1:${metricsPort}`] });
});

afterAll(async () => {
  await d?.stop();
  for (const s of servers) await new Promise((r) => s.close(r));
});

/** Tries every target from inside the sandbox at once; each one's outcome. */
async function probe(
  sandboxId: string,
  checks: Record<string, { direct?: [string, number]; get?: string; connect?: string }>,
): Promise<Record<string, string>> {
  const code = [
    "import json, os, socket, threading, urllib.request, urllib.error",
    `checks = ${JSON.stringify(checks)}`,
    "proxy = os.environ['HTTP_PROXY']",
    "ph, pp = proxy.rsplit('/', 1)[-1].rsplit(':', 1)",
    // Explicitly through the proxy, whatever NO_PROXY says (localhost is the sandbox's own in NO_PROXY).
    "[os.environ.pop(k, None) for k in ('NO_PROXY', 'no_proxy')]",
    "opener = urllib.request.build_opener(urllib.request.ProxyHandler({'http': proxy}))",
    "out = {}",
    "def attempt(name, c):",
    "    try:",
    "        if 'direct' in c:",
    "            socket.create_connection(tuple(c['direct']), timeout=3).close()",
    "            out[name] = 'reached'",
    "        elif 'get' in c:",
    "            out[name] = opener.open(c['get'], timeout=10).read().decode().strip()",
    "        else:",
    "            s = socket.create_connection((ph, int(pp)), timeout=5)",
    "            s.sendall(('CONNECT %s HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n' % (c['connect'], c['connect'])).encode())",
    "            out[name] = s.recv(200).decode().split('\\r\\n')[0]",
    "            s.close()",
    "    except urllib.error.HTTPError as e:",
    "        out[name] = 'refused %d' % e.code",
    "    except OSError:",
    "        out[name] = 'blocked'",
    "ts = [threading.Thread(target=attempt, args=(n, c)) for n, c in checks.items()]",
    "[t.start() for t in ts]; [t.join() for t in ts]",
    "print(json.dumps(out, sort_keys=True))",
  ].join("\n");
  const r = await collect(d.sandbox.run({ sandboxId, code, timeoutMs: 60_000 }));
  expect(r.exit.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, string>;
}

async function env(sandboxId: string, name: string): Promise<string> {
  return (await collect(d.sandbox.exec({ sandboxId, shell: `printf %s "$${name}"` }))).stdout;
}

async function allowListed(egress: { hosts?: string[]; cidrs?: string[]; ports?: number[] }, extraEnv: Record<string, string> = {}): Promise<string> {
  const res = await d.sandbox.createSandbox({
    spec: { language: "python", network: NetworkMode.ALLOW_LIST, egress, env: extraEnv, executionTimeoutMs: 110_000 },
  });
  return res.sandbox!.id;
}

describe.skipIf(onKubernetes || backend === "podman")("egress allow-lists (NETWORK_MODE_ALLOW_LIST)", () => {
  it("reaches a listed server only through the proxy; the host's services, unlisted hosts, ports and private addresses are refused", async () => {
    expect(hostIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const id = await allowListed({ hosts: ["localhost"], cidrs: ["127.0.0.1/32"], ports: [indexPort] });
    const other = await allowListed({ hosts: ["localhost"], ports: [indexPort] });
    try {
      const proxy = await env(id, "HTTP_PROXY");
      expect(proxy).toMatch(/^http:\/\/\d+\.\d+\.\d+\.\d+:\d+$/);
      for (const name of ["HTTPS_PROXY", "http_proxy", "https_proxy"]) expect(await env(id, name)).toBe(proxy);
      const gateway = new URL(proxy).hostname;
      const proxyPort = Number(new URL(proxy).port);
      const seen = await probe(id, {
        "direct gateway index": { direct: [gateway, indexPort] },
        "direct gateway other": { direct: [gateway, otherPort] },
        "direct host index": { direct: [hostIp, indexPort] },
        "direct gateway ssh": { direct: [gateway, 22] },
        "proxy port from a second address": { direct: [hostIp, proxyPort] },
        "listed via proxy": { get: `http://localhost:${indexPort}/` },
        "listed via CONNECT": { connect: `localhost:${indexPort}` },
        "unlisted host via proxy": { get: `http://${hostIp}:${indexPort}/` },
        "unlisted port via proxy": { get: `http://localhost:${otherPort}/` },
        "unlisted port via CONNECT": { connect: `localhost:${otherPort}` },
        "unlisted address literal via CONNECT": { connect: `127.0.0.2:${indexPort}` },
      });
      expect(seen).toEqual({
        "direct gateway index": "blocked",
        "direct gateway other": "blocked",
        "direct host index": "blocked",
        "direct gateway ssh": "blocked",
        "proxy port from a second address": "blocked",
        "listed via proxy": "index answered",
        "listed via CONNECT": "HTTP/1.1 200 Connection Established",
        "unlisted host via proxy": "refused 403",
        "unlisted port via proxy": "refused 403",
        "unlisted port via CONNECT": "HTTP/1.1 403 Forbidden",
        "unlisted address literal via CONNECT": "HTTP/1.1 403 Forbidden",
      });
      // A listed name that resolves to loopback, without its CIDR listed, is refused.
      expect(await probe(other, { "listed name, loopback address": { get: `http://localhost:${indexPort}/` } })).toEqual({
        "listed name, loopback address": "refused 403",
      });
      expect(requested.filter((r) => r.startsWith("other"))).toEqual([]);
      // Refusals are counted on /metrics.
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/sandboxd_egress_denied_total\{reason="host"\} [1-9]/);
      expect(metrics).toMatch(/sandboxd_egress_denied_total\{reason="port"\} [1-9]/);
      expect(metrics).toMatch(/sandboxd_egress_denied_total\{reason="address"\} [1-9]/);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
      await d.sandbox.destroySandbox({ sandboxId: other });
    }
  });

  it("libraries install by name from a listed package index; an unlisted one is refused", async () => {
    const base = `http://${hostIp}:${indexPort}`;
    const id = await allowListed({ cidrs: [`${hostIp}/32`], ports: [indexPort] }, { PIP_INDEX_URL: `${base}/simple`, PIP_TRUSTED_HOST: hostIp });
    const refused = await allowListed(
      { cidrs: [`${hostIp}/32`], ports: [indexPort] },
      { PIP_INDEX_URL: `http://${hostIp}:${otherPort}/simple`, PIP_TRUSTED_HOST: hostIp },
    );
    try {
      const wheel = (await collect(d.sandbox.run({ sandboxId: id, code: makeWheelCode("sbx_egress", "1.0", "/tmp/build") }))).stdout.trim();
      const b64 = await collect(d.sandbox.exec({ sandboxId: id, argv: ["base64", "-w0", wheel] }));
      const body = Buffer.from(b64.stdout, "base64");
      const name = wheel.slice(wheel.lastIndexOf("/") + 1);
      files.set(`/files/${name}`, { body, type: "application/octet-stream" });
      const sha = createHash("sha256").update(body).digest("hex");
      files.set("/simple/sbx-egress/", {
        body: Buffer.from(`<html><body><a href="${base}/files/${name}#sha256=${sha}">${name}</a></body></html>`),
        type: "text/html",
      });
      const code = "import sbx_egress\nprint(sbx_egress.hello())";
      const ok = await collect(d.sandbox.run({ sandboxId: id, code, libraries: ["sbx-egress==1.0"], timeoutMs: 110_000 }));
      expect(ok.exit.phase, ok.stderr).toBe(RunPhase.RUN);
      expect(ok.exit.exitCode, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/Successfully installed sbx-egress-1\.0[\s\S]*hello from the wheel\n$/);
      expect(requested).toContain("index /simple/sbx-egress/");

      const no = await collect(d.sandbox.run({ sandboxId: refused, code, libraries: ["sbx-egress==1.0"], timeoutMs: 110_000 }));
      expect(no.exit.phase).toBe(RunPhase.INSTALL);
      expect(no.exit.exitCode).not.toBe(0);
      expect(requested.filter((r) => r.startsWith("other"))).toEqual([]);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
      await d.sandbox.destroySandbox({ sandboxId: refused });
    }
  });

  it("a bad allow-list is INVALID_ARGUMENT naming the entry; egress without ALLOW_LIST too", async () => {
    const bad = async (spec: Record<string, unknown>) => {
      const err = await refusal(d.sandbox.createSandbox({ spec: { language: "python", ...spec } }));
      expect(err.code).toBe(3);
      expect(reasonOf(err)).toBe("EGRESS_POLICY_INVALID");
      return err.details;
    };
    expect(await bad({ network: NetworkMode.ALLOW_LIST, egress: { cidrs: ["10.0.0.0/33"] } })).toMatch(/10\.0\.0\.0\/33/);
    expect(await bad({ network: NetworkMode.ALLOW_LIST, egress: { hosts: ["exa mple.com"] } })).toMatch(/exa mple\.com/);
    expect(await bad({ network: NetworkMode.ALLOW_LIST, egress: { hosts: ["example.com"], ports: [70000] } })).toMatch(/70000/);
    expect(await bad({ network: NetworkMode.ALLOW_LIST })).toMatch(/egress\.hosts or egress\.cidrs/);
    expect(await bad({ network: NetworkMode.BRIDGE, egress: { hosts: ["example.com"] } })).toMatch(/NETWORK_MODE_ALLOW_LIST/);
  });
});

describe.skipIf(onKubernetes || backend === "podman")("egress allow-lists across a daemon restart", () => {
  it("an allow-listed sandbox whose proxy ended with the daemon is removed, with its network and firewall rules", async () => {
    const id = await allowListed({ hosts: ["localhost"], cidrs: ["127.0.0.1/32"], ports: [indexPort] });
    const nets = await docker.listNetworks({ filters: { label: [`org.sandboxd.sandbox-id=${id}`] } });
    expect(nets).toHaveLength(1);
    const bridge = nets[0]!.Name.replace(/^sandboxd-/, "");
    const rules = () =>
      execFileSync("iptables", ["-S"], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.includes(` -i ${bridge} `));
    expect(rules().length).toBeGreaterThan(0);
    await d.stop();
    d = await startDaemon({ daemonId: d.daemonId, args: ["--metrics-listen", `127.0.0.1:${metricsPort}`] });
    const err = await refusal(d.sandbox.getSandbox({ sandboxId: id }));
    expect(err.code).toBe(5);
    expect(await docker.listNetworks({ filters: { label: [`org.sandboxd.sandbox-id=${id}`] } })).toHaveLength(0);
    expect(rules()).toEqual([]);
  });
});

// Podman 4's netavark leaves an internal network's bridge without a gateway address, so a
// sandbox there could not reach the proxy: refused, until the daemon assigns the address itself.
describe.runIf(backend === "podman")("egress allow-lists on Podman", () => {
  it("are FAILED_PRECONDITION NOT_SUPPORTED_BY_BACKEND, and leave no network behind", async () => {
    const err = await refusal(d.sandbox.createSandbox({ spec: { language: "python", network: NetworkMode.ALLOW_LIST, egress: { hosts: ["localhost"] } } }));
    expect(err.code).toBe(9);
    expect(err.details).toMatch(/NETWORK_MODE_ALLOW_LIST.*not available on the Podman backend/);
    expect(reasonOf(err)).toBe("NOT_SUPPORTED_BY_BACKEND");
    expect(await docker.listNetworks({ filters: { label: [`org.sandboxd.daemon=${d.daemonId}`] } })).toHaveLength(0);
  });
});

describe.runIf(onKubernetes)("egress allow-lists on Kubernetes", () => {
  it("are FAILED_PRECONDITION NOT_SUPPORTED_BY_BACKEND", async () => {
    const err = await refusal(d.sandbox.createSandbox({ spec: { language: "python", network: NetworkMode.ALLOW_LIST, egress: { hosts: ["localhost"] } } }));
    expect(err.code).toBe(9);
    expect(err.details).toMatch(/NETWORK_MODE_ALLOW_LIST.*not available on the Kubernetes backend/);
    expect(reasonOf(err)).toBe("NOT_SUPPORTED_BY_BACKEND");
  });
});
