import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus, SecuritySeverity } from "../../src/gen/sandboxd/v1/common_pb.js";
import { SandboxService } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { hashToken } from "../../src/rpc/auth.js";
import { createClient } from "../helpers/client.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";
import { freePort } from "../helpers/ports.js";

interface Scrape {
  types: Map<string, string>;
  helps: Set<string>;
  /** `name{labels}` as rendered -> value. */
  samples: Map<string, number>;
  names: Set<string>;
}

/** Parses the Prometheus text format as a scraper does. */
function parse(text: string): Scrape {
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples = new Map<string, number>();
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") types.set(meta[2]!, meta[3]!);
      else helps.add(meta[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable line: ${line}`);
    names.add(m[1]!);
    const v = m[3]!;
    samples.set(`${m[1]}${m[2] ?? ""}`, v === "+Inf" ? Infinity : v === "-Inf" ? -Infinity : Number(v));
  }
  return { types, helps, samples, names };
}

/** The family a sample name belongs to (a histogram's _bucket, _sum, _count). */
function family(name: string, types: Map<string, string>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && types.get(base) === "histogram") return base;
  }
  return name;
}

const token = "metrics-secret";
let d: DaemonHandle;
let metricsAt: string;

const scrape = async () => {
  const res = await fetch(`http://${metricsAt}/metrics`);
  expect(res.status).toBe(200);
  return parse(await res.text());
};
const value = (s: Scrape, key: string) => s.samples.get(key) ?? 0;

beforeAll(async () => {
  metricsAt = `127.0.0.1:${await freePort()}`;
  d = await startDaemon({
    env: { SANDBOXD_AUTH__TOKENS: `metrics:${hashToken(token)}` },
    args: ["--metrics-listen", metricsAt],
    clientOptions: { metadata: { authorization: `Bearer ${token}` } },
  });
});

afterAll(async () => {
  await d?.stop();
});

const run = "/sandboxd.v1.SandboxService/Run";

describe("/metrics", () => {
  it("counts what the daemon did: runs by outcome, latency, output, transfers, refusals, auth failures and calls", async () => {
    const before = await scrape();
    const { sandbox } = await d.sandbox.createSandbox({
      spec: {
        language: "python",
        security: {
          case: "securityPolicy",
          value: {
            severityThreshold: SecuritySeverity.MEDIUM,
            restrictedModules: [{ name: "subprocess", description: "no", severity: SecuritySeverity.HIGH }],
          },
        },
      },
    });
    const id = sandbox!.id;
    try {
      const ok = await collect(d.sandbox.run({ sandboxId: id, code: "print('hello')" }));
      expect(ok.exit.status).toBe(ExitStatus.EXITED);
      const three = await collect(d.sandbox.run({ sandboxId: id, code: "import sys\nsys.stderr.write('bad')\nsys.exit(3)" }));
      expect(three.exit.exitCode).toBe(3);
      const slow = await collect(d.sandbox.run({ sandboxId: id, code: "import time\ntime.sleep(60)", timeoutMs: 1000 }));
      expect(slow.exit.status).toBe(ExitStatus.TIMEOUT);
      await expect(collect(d.sandbox.run({ sandboxId: id, code: "import subprocess\n" }))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });

      const data = Buffer.alloc(1000, 7);
      await d.sandbox.uploadFiles([
        { message: { case: "header", value: { sandboxId: id, path: "blob.bin", mode: 0o600 } } },
        { message: { case: "chunk", value: data } },
      ]);
      let downloaded = 0;
      for await (const r of d.sandbox.downloadFiles({ sandboxId: id, path: "blob.bin" }))
        if (r.message.case === "chunk") downloaded += r.message.value.byteLength;
      expect(downloaded).toBe(1000);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
    const anon = createClient(SandboxService, d.address, {});
    const wrong = createClient(SandboxService, d.address, { metadata: { authorization: "Bearer wrong" } });
    await expect(anon.listSandboxes({})).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(wrong.listSandboxes({})).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    anon.close();
    wrong.close();

    // A call is counted once its handler returned, just after the caller saw its status:
    // wait until the last call is in, then every value must be exact.
    const destroyKey = `sandboxd_grpc_calls_total{method="/sandboxd.v1.SandboxService/DestroySandbox",code="OK"}`;
    const unauthKey = `sandboxd_grpc_calls_total{method="/sandboxd.v1.SandboxService/ListSandboxes",code="UNAUTHENTICATED"}`;
    let after = await scrape();
    for (let i = 0; i < 100 && (value(after, destroyKey) < 1 || value(after, unauthKey) < 2); i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await scrape();
    }
    const moved = (key: string) => value(after, key) - value(before, key);

    expect(moved('sandboxd_runs_total{language="python",outcome="exited"}')).toBe(1);
    expect(moved('sandboxd_runs_total{language="python",outcome="failed"}')).toBe(1);
    expect(moved('sandboxd_runs_total{language="python",outcome="timeout"}')).toBe(1);
    expect(moved('sandboxd_run_duration_seconds_count{language="python"}')).toBe(3);
    expect(moved('sandboxd_run_duration_seconds_bucket{language="python",le="+Inf"}')).toBe(3);
    expect(value(after, 'sandboxd_run_duration_seconds_sum{language="python"}')).toBeGreaterThanOrEqual(1);
    const creates = ["pool", "cold", "attach"].reduce((n, s) => n + moved(`sandboxd_sandbox_create_duration_seconds_count{source="${s}"}`), 0);
    expect(creates).toBe(1);
    expect(moved('sandboxd_output_bytes_total{stream="stdout"}')).toBe("hello\n".length);
    expect(moved('sandboxd_output_bytes_total{stream="stderr"}')).toBe("bad".length);
    expect(moved('sandboxd_transfer_bytes_total{direction="upload"}')).toBe(1000);
    expect(moved('sandboxd_transfer_bytes_total{direction="download"}')).toBe(1000);
    expect(moved('sandboxd_policy_refusals_total{language="python"}')).toBe(1);
    expect(moved('sandboxd_auth_failures_total{reason="missing"}')).toBe(1);
    expect(moved('sandboxd_auth_failures_total{reason="invalid"}')).toBe(1);
    expect(moved(`sandboxd_grpc_calls_total{method="${run}",code="OK"}`)).toBe(3);
    expect(moved(`sandboxd_grpc_calls_total{method="${run}",code="PERMISSION_DENIED"}`)).toBe(1);
    expect(moved(unauthKey)).toBe(2);
    expect(moved(`sandboxd_grpc_call_duration_seconds_count{method="${run}"}`)).toBe(4);

    // Types: counters are counters, histograms histograms, the rest gauges; all described.
    expect(after.types.get("sandboxd_runs_total")).toBe("counter");
    expect(after.types.get("sandboxd_pool_hits_total")).toBe("counter");
    expect(after.types.get("sandboxd_output_evicted_bytes_total")).toBe("counter");
    expect(after.types.get("sandboxd_run_duration_seconds")).toBe("histogram");
    expect(after.types.get("sandboxd_grpc_call_duration_seconds")).toBe("histogram");
    expect(after.types.get("sandboxd_sandboxes")).toBe("gauge");
    expect(after.types.get("sandboxd_process_resident_memory_bytes")).toBe("gauge");
    for (const [name, type] of after.types) {
      expect(after.helps.has(name), `${name} has HELP`).toBe(true);
      if (name.endsWith("_total")) expect(type, name).toBe("counter");
    }
    for (const name of after.names) expect(after.types.has(family(name, after.types)), `${name} has TYPE`).toBe(true);
  });

  it("keeps the probes", async () => {
    expect((await fetch(`http://${metricsAt}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${metricsAt}/readyz`)).status).toBe(200);
  });
});
