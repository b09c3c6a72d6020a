import { createHash } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Code, SandboxdError, createClient } from "../../../clients/typescript/src/index.js";
import { startDaemon, stopDaemon } from "./daemon.js";

// C18 (clients/CONFORMANCE.md): bearer tokens and tenants.

const hash = (t: string) => createHash("sha256").update(t).digest("hex");
let d: Awaited<ReturnType<typeof startDaemon>>;

beforeAll(async () => {
  d = await startDaemon({ env: { SANDBOXD_AUTH__TOKENS: `alpha:${hash("alpha-secret")},beta:${hash("beta-secret")}` } });
});

afterAll(async () => {
  if (d) await stopDaemon(d);
});

it("C18 bearer tokens and tenants", async () => {
  using anon = createClient({ address: d.address, token: "" });
  const err = await anon.listSandboxes().catch((e: unknown) => e);
  expect(SandboxdError.is(err, Code.Unauthenticated)).toBe(true);
  using wrong = createClient({ address: d.address, token: "wrong" });
  expect(SandboxdError.is(await wrong.listSandboxes().catch((e: unknown) => e), Code.Unauthenticated)).toBe(true);

  process.env["SANDBOXD_TOKEN"] = "alpha-secret";
  using alpha = createClient({ address: d.address });
  delete process.env["SANDBOXD_TOKEN"];
  using beta = createClient({ address: d.address, token: "beta-secret" });
  await using sandbox = await alpha.createSandbox({ language: "python" });
  expect((await sandbox.run("print('alpha')").result()).stdout).toBe("alpha\n");
  expect((await beta.listSandboxes()).map((s) => s.id)).not.toContain(sandbox.id);
  expect(SandboxdError.is(await beta.getSandbox(sandbox.id).catch((e: unknown) => e), Code.NotFound)).toBe(true);
});
