import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxService } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { hashToken } from "../../src/rpc/auth.js";
import { createClient } from "../helpers/client.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

const tokens = `alpha:${hashToken("alpha-secret")},beta:${hashToken("beta-secret")}`;
let d: DaemonHandle;

beforeAll(async () => {
  d = await startDaemon({
    env: { SANDBOXD_AUTH__TOKENS: tokens },
    args: ["--quotas.max-sandboxes", "3", "--quotas.max-concurrent-runs", "2"],
    clientOptions: { metadata: { authorization: "Bearer alpha-secret" } },
  });
});

afterAll(async () => {
  await d?.stop();
});

const as = (token: string | undefined) => createClient(SandboxService, d.address, token ? { metadata: { authorization: `Bearer ${token}` } } : {});

describe("authenticated tenants", () => {
  it("refuses calls without a valid token", async () => {
    const anon = as(undefined);
    await expect(anon.listSandboxes({})).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: expect.stringMatching(/missing bearer token/) });
    const wrong = as("not-a-token");
    await expect(wrong.listSandboxes({})).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: "invalid bearer token" });
    anon.close();
    wrong.close();
  });

  it("a tenant sees and touches only its own sandboxes and runs; another's id is NOT_FOUND like a missing one", async () => {
    const alpha = as("alpha-secret");
    const beta = as("beta-secret");
    const { sandbox } = await alpha.createSandbox({ spec: { language: "python" } });
    const id = sandbox!.id;
    try {
      const r = await collect(alpha.exec({ sandboxId: id, shell: "echo alpha-data > /sandbox/secret; echo ok" }));
      expect(r.stdout).toBe("ok\n");
      expect((await beta.listSandboxes({})).sandboxes).toEqual([]);
      const missingId = id.replace(/.$/, (c) => (c === "a" ? "b" : "a"));
      const foreign = await beta.getSandbox({ sandboxId: id }).catch((e: { code: number; details: string }) => e);
      const missing = await beta.getSandbox({ sandboxId: missingId }).catch((e: { code: number; details: string }) => e);
      expect(foreign).toMatchObject({ code: grpc.status.NOT_FOUND });
      expect((foreign as { details: string }).details.replace(id, "ID")).toBe((missing as { details: string }).details.replace(missingId, "ID"));
      await expect(collect(beta.exec({ sandboxId: id, shell: "cat /sandbox/secret" }))).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
      await expect(beta.destroySandbox({ sandboxId: id })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
      await expect(collect(beta.attach({ runId: r.runId }))).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
      // The owner still has everything.
      expect((await alpha.getSandbox({ sandboxId: id })).sandbox?.id).toBe(id);
      expect((await collect(alpha.attach({ runId: r.runId }))).stdout).toBe("ok\n");
    } finally {
      await alpha.destroySandbox({ sandboxId: id });
      alpha.close();
      beta.close();
    }
  });

  it("enforces per-tenant quotas with RESOURCE_EXHAUSTED naming the quota", async () => {
    const beta = as("beta-secret");
    const ids: string[] = [];
    try {
      for (let i = 0; i < 3; i++) ids.push((await beta.createSandbox({ spec: { language: "python" } })).sandbox!.id);
      await expect(beta.createSandbox({ spec: { language: "python" } })).rejects.toMatchObject({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: expect.stringMatching(/max-sandboxes/),
      });
      // Another tenant is not affected by beta's quota use.
      const alpha = as("alpha-secret");
      const other = (await alpha.createSandbox({ spec: { language: "python" } })).sandbox!.id;
      await alpha.destroySandbox({ sandboxId: other });
      alpha.close();

      const slow = [beta.exec({ sandboxId: ids[0]!, shell: "sleep 3" }), beta.exec({ sandboxId: ids[1]!, shell: "sleep 3" })];
      const iters = slow.map((s) => s[Symbol.asyncIterator]());
      await Promise.all(iters.map((it) => it.next()));
      await expect(collect(beta.exec({ sandboxId: ids[2]!, shell: "true" }))).rejects.toMatchObject({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: expect.stringMatching(/max-concurrent-runs/),
      });
      for (const it of iters) while (!(await it.next()).done);
    } finally {
      for (const id of ids) await beta.destroySandbox({ sandboxId: id });
      beta.close();
    }
  });
});

describe("listening off loopback", () => {
  it("refuses to start without TLS and tokens unless --insecure", async () => {
    await expect(startDaemon({ args: ["--listen", "0.0.0.0:0"] })).rejects.toThrow(/refusing to listen on 0.0.0.0:0 without TLS/);
    const insecure = await startDaemon({ args: ["--listen", "0.0.0.0:0", "--insecure"] });
    await insecure.stop();
  });

  it("refuses to serve metrics off loopback unless --metrics-insecure", async () => {
    await expect(startDaemon({ args: ["--metrics-listen", "0.0.0.0:0"] })).rejects.toThrow(/refusing to serve metrics on 0.0.0.0:0 off loopback/);
    const allowed = await startDaemon({ args: ["--metrics-listen", "0.0.0.0:0", "--metrics-insecure"] });
    await allowed.stop();
  });

  it("serves TLS with mutual authentication and tokens", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sandboxd-tls-"));
    const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem");
    for (const name of ["server", "client"]) {
      ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`);
      writeFileSync(join(dir, `${name}.ext`), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
      ssl(
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        `${name}.ext`,
        "-out",
        `${name}.pem`,
      );
    }
    writeFileSync(join(dir, "tokens"), `gamma ${hashToken("gamma-secret")}\n`);
    const file = (n: string) => readFileSync(join(dir, n));
    const creds = grpc.credentials.createSsl(file("ca.pem"), file("client.key"), file("client.pem"));
    const tlsDaemon = await startDaemon({
      args: [
        "--listen",
        "0.0.0.0:0",
        "--tls.cert-file",
        join(dir, "server.pem"),
        "--tls.key-file",
        join(dir, "server.key"),
        "--tls.client-ca-file",
        join(dir, "ca.pem"),
        "--auth.tokens-file",
        join(dir, "tokens"),
      ],
      credentials: creds,
      clientOptions: { metadata: { authorization: "Bearer gamma-secret" } },
    });
    try {
      const port = tlsDaemon.address.slice(tlsDaemon.address.lastIndexOf(":") + 1);
      const c = createClient(SandboxService, `127.0.0.1:${port}`, { metadata: { authorization: "Bearer gamma-secret" } }, creds);
      expect((await c.listSandboxes({})).sandboxes).toEqual([]);
      c.close();
      // Without a client certificate the handshake fails.
      const noCert = createClient(
        SandboxService,
        `127.0.0.1:${port}`,
        { metadata: { authorization: "Bearer gamma-secret" }, deadlineMs: 3000 },
        grpc.credentials.createSsl(file("ca.pem")),
      );
      await expect(noCert.listSandboxes({})).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
      noCert.close();
    } finally {
      await tlsDaemon.stop();
    }
  });
});
