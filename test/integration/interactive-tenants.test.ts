import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InteractiveService, SessionKind } from "../../src/gen/sandboxd/v1/interactive_service_pb.js";
import { SandboxService } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { hashToken } from "../../src/rpc/auth.js";
import { createClient } from "../helpers/client.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { workloads } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";

// Sessions belong to the tenant that created them: to another tenant they do not exist.

let d: DaemonHandle;
const clients: { close(): void }[] = [];

function as(token: string) {
  const metadata = { authorization: `Bearer ${token}` };
  const c = { sandbox: createClient(SandboxService, d.address, { metadata }), interactive: createClient(InteractiveService, d.address, { metadata }) };
  clients.push(c.sandbox, c.interactive);
  return c;
}

beforeAll(async () => {
  // Not the shared "test-" prefix: another test run's global setup on the same engine
  // removes those containers. afterAll checks this daemon left nothing behind.
  d = await startDaemon({
    daemonId: `interactive-${randomBytes(4).toString("hex")}`,
    env: { SANDBOXD_AUTH__TOKENS: `alpha:${hashToken("alpha-secret")},beta:${hashToken("beta-secret")}` },
    clientOptions: { metadata: { authorization: "Bearer alpha-secret" } },
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await d?.stop();
  const left = await workloads([`org.sandboxd.daemon=${d?.daemonId}`]);
  expect(left.map((c) => c.name)).toEqual([]);
});

describe("sessions and tenants", () => {
  it("another tenant's session is NOT_FOUND, exactly like a missing one, for every call", async () => {
    const alpha = as("alpha-secret");
    const beta = as("beta-secret");
    const { sandbox } = await alpha.sandbox.createSandbox({ spec: { language: "python" } });
    const sandboxId = sandbox?.id ?? "";
    const { session } = await alpha.interactive.createSession({ target: { case: "sandboxId", value: sandboxId }, kind: SessionKind.IPYTHON });
    const id = session?.id ?? "";
    await collect(alpha.interactive.run({ sessionId: id, code: "secret = 'alpha only'" }));

    const missing = id.replace(/.$/, (c) => (c === "a" ? "b" : "a"));
    const notFound = async (call: (sessionId: string) => Promise<unknown>) => {
      const foreign = (await call(id).then(
        () => undefined,
        (e: { code: number; details: string }) => e,
      )) ?? { code: -1, details: "" };
      const absent = (await call(missing).then(
        () => undefined,
        (e: { code: number; details: string }) => e,
      )) ?? { code: -1, details: "" };
      expect(foreign.code).toBe(grpc.status.NOT_FOUND);
      expect(foreign.details.replace(id, "ID")).toBe(absent.details.replace(missing, "ID"));
    };
    await notFound((s) => collect(beta.interactive.run({ sessionId: s, code: "print(secret)" })));
    await notFound(async (s) => {
      const call = beta.interactive.execute();
      call.send({ sessionId: s, message: { case: "cell", value: { cellId: "x", code: "print(secret)" } } });
      call.end();
      for await (const _ of call.responses) void _;
    });
    await notFound((s) => beta.interactive.interrupt({ sessionId: s }));
    await notFound((s) => beta.interactive.reset({ sessionId: s }));
    await notFound((s) => beta.interactive.getHistory({ sessionId: s }));
    await notFound((s) => beta.interactive.closeSession({ sessionId: s }));
    expect((await beta.interactive.listSessions({})).sessions).toEqual([]);
    expect((await beta.interactive.listSessions({ sandboxId })).sessions).toEqual([]);
    // Nor can beta open a session in alpha's sandbox.
    await expect(beta.interactive.createSession({ target: { case: "sandboxId", value: sandboxId } })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

    // The owner still has everything, untouched.
    const r = await collect(alpha.interactive.run({ sessionId: id, code: "print(secret)" }));
    expect(r.stdout).toBe("alpha only\n");
    expect((await alpha.interactive.getHistory({ sessionId: id })).entries).toHaveLength(2);
    expect((await alpha.interactive.listSessions({})).sessions.map((s) => s.id)).toEqual([id]);
    await alpha.interactive.closeSession({ sessionId: id });
    await alpha.sandbox.destroySandbox({ sandboxId });
  });

  it("a session-owned sandbox belongs to the session's tenant", async () => {
    const alpha = as("alpha-secret");
    const beta = as("beta-secret");
    const { session } = await beta.interactive.createSession({ target: { case: "sandbox", value: { language: "python" } }, kind: SessionKind.SHELL });
    expect((await beta.sandbox.listSandboxes({})).sandboxes.map((s) => s.id)).toEqual([session?.sandboxId]);
    await expect(alpha.sandbox.getSandbox({ sandboxId: session?.sandboxId ?? "" })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await beta.interactive.closeSession({ sessionId: session?.id ?? "" });
    expect((await beta.sandbox.listSandboxes({})).sandboxes).toEqual([]);
  });
});
