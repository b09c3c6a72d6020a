import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorDetailSchema, ErrorStatusSchema, SecuritySeverity } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

let d: DaemonHandle;

const noSubprocess = {
  severityThreshold: SecuritySeverity.MEDIUM,
  patterns: [{ pattern: String.raw`os\.system\s*\(`, description: "System command execution", severity: SecuritySeverity.HIGH }],
  restrictedModules: [{ name: "subprocess", description: "Process spawning", severity: SecuritySeverity.HIGH }],
};

beforeAll(async () => {
  d = await startDaemon();
});

afterAll(async () => {
  await d?.stop();
});

function detailOf(err: unknown) {
  const raw = (err as { metadata: Metadata }).metadata.get("grpc-status-details-bin")[0] as Buffer;
  return anyUnpack(fromBinary(ErrorStatusSchema, raw).details[0]!, ErrorDetailSchema);
}

describe("CheckCode", () => {
  it("reports every violation with rule, severity, line and column", async () => {
    const res = await d.sandbox.checkCode({
      language: "python",
      code: "x = 1\nimport subprocess\nimport os\nos.system('ls')\n",
      policy: { case: "inline", value: noSubprocess },
    });
    expect(res.safe).toBe(false);
    expect(res.violations.map((v) => [v.rule, v.line, v.column, v.severity])).toEqual([
      // An import is reported at the module name.
      ["import:subprocess", 2, 8, SecuritySeverity.HIGH],
      [String.raw`os\.system\s*\(`, 4, 1, SecuritySeverity.HIGH],
    ]);
  });

  it("knows strings from comments", async () => {
    const check = (code: string) => d.sandbox.checkCode({ language: "python", code, policy: { case: "inline", value: noSubprocess } });
    expect((await check('s = "#"; import subprocess')).safe).toBe(false);
    expect((await check("# import subprocess")).safe).toBe(true);
    expect((await check('"""A docstring that mentions import subprocess."""\nprint(1)')).safe).toBe(true);
  });

  it("checks presets by name and refuses unknown ones and invalid regexes", async () => {
    const res = await d.sandbox.checkCode({ language: "python", code: "import os\nos.system('rm -rf /')", policy: { case: "preset", value: "production" } });
    expect(res.safe).toBe(false);
    await expect(d.sandbox.checkCode({ language: "python", code: "1", policy: { case: "preset", value: "nope" } })).rejects.toMatchObject({
      code: 3,
      details: expect.stringMatching(/production/),
    });
    await expect(
      d.sandbox.checkCode({
        language: "python",
        code: "1",
        policy: { case: "inline", value: { ...noSubprocess, patterns: [{ pattern: "([unclosed", description: "bad", severity: SecuritySeverity.HIGH }] } },
      }),
    ).rejects.toMatchObject({ code: 3, details: expect.stringMatching(/patterns\[0\]/) });
  });
});

describe("sandboxes with a policy", () => {
  it("refuses a violating run before anything runs, with the violations in the status details", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", security: { case: "securityPolicy", value: noSubprocess } } });
    const id = sandbox!.id;
    try {
      const err = await collect(d.sandbox.run({ sandboxId: id, code: "open('/sandbox/ran', 'w').write('x')\nimport subprocess\n" })).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 7, details: expect.stringMatching(/security policy/) });
      const detail = detailOf(err);
      expect(detail?.reason).toBe("POLICY_VIOLATION");
      expect(detail?.violations.map((v) => [v.rule, v.line])).toEqual([["import:subprocess", 2]]);
      const probe = await collect(d.sandbox.exec({ sandboxId: id, shell: "test -e /sandbox/ran && echo ran || echo nothing-ran" }));
      expect(probe.stdout).toBe("nothing-ran\n");
      // Safe code runs; restricted libraries are not installed.
      expect((await collect(d.sandbox.run({ sandboxId: id, code: "print('safe')" }))).stdout).toBe("safe\n");
      await expect(collect(d.sandbox.install({ sandboxId: id, libraries: ["subprocess"] }))).rejects.toMatchObject({ code: 7 });
      // CheckCode against the sandbox's own policy.
      const res = await d.sandbox.checkCode({ code: "import subprocess", policy: { case: "sandboxId", value: id } });
      expect(res.safe).toBe(false);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });

  it("an invalid policy is refused at creation and nothing is created", async () => {
    const before = (await d.sandbox.listSandboxes({})).sandboxes.length;
    await expect(d.sandbox.createSandbox({ spec: { language: "python", security: { case: "securityPreset", value: "paranoid" } } })).rejects.toMatchObject({
      code: 3,
    });
    expect((await d.sandbox.listSandboxes({})).sandboxes.length).toBe(before);
  });
});

describe("policy checks cannot stall the daemon", () => {
  it("a pathological input for a preset's regex is refused in bounded time while other calls keep working", async () => {
    // llm-sandbox's production preset has `open\s*\([^)]*...` patterns that backtrack on this.
    const hostile = "open(".repeat(200_000);
    const t0 = Date.now();
    const check = d.sandbox
      .checkCode({ language: "python", code: hostile, policy: { case: "preset", value: "production" } })
      .catch((e: { code: number; details: string }) => e);
    // Meanwhile the daemon answers.
    expect((await d.sandbox.listSandboxes({})).sandboxes).toBeDefined();
    const res = await check;
    expect(res).toMatchObject({ code: 7, details: expect.stringMatching(/could not be checked .* within 2000 ms/) });
    expect(Date.now() - t0).toBeLessThan(15_000);
    // The checker recovered.
    expect((await d.sandbox.checkCode({ language: "python", code: "import os", policy: { case: "preset", value: "production" } })).safe).toBe(false);
  });
});

describe("interactive cells under a policy", () => {
  it("refuses a violating cell (Run and Execute) before it runs; safe cells run", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", security: { case: "securityPolicy", value: noSubprocess } } });
    const id = sandbox!.id;
    try {
      const { session } = await d.interactive.createSession({ target: { case: "sandboxId", value: id } });
      const sid = session!.id;
      const ok = await collect(d.interactive.run({ sessionId: sid, code: "x = 41\nprint(x + 1)" }));
      expect(ok.stdout).toBe("42\n");
      const refused = await collect(d.interactive.run({ sessionId: sid, code: "x = 0\nimport subprocess" })).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 7 });
      expect(detailOf(refused)?.violations.map((v) => v.rule)).toEqual(["import:subprocess"]);
      // Nothing of the refused cell ran: x is still 41.
      expect((await collect(d.interactive.run({ sessionId: sid, code: "print(x)" }))).stdout).toBe("41\n");

      const stream = d.interactive.execute();
      stream.send({ sessionId: sid, message: { case: "cell", value: { cellId: "c1", code: "print('first')" } } });
      stream.send({ sessionId: sid, message: { case: "cell", value: { cellId: "c2", code: "import subprocess" } } });
      stream.end();
      const seen: string[] = [];
      const err = await (async () => {
        try {
          for await (const r of stream.responses) if (r.event?.event.case === "output") seen.push(Buffer.from(r.event.event.value.data).toString());
        } catch (e) {
          return e;
        }
      })();
      expect(err).toMatchObject({ code: 7 });
      expect(seen.join("")).not.toContain("Traceback");
      await d.interactive.closeSession({ sessionId: sid });
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });
});
