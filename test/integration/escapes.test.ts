import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus } from "../../src/gen/sandboxd/v1/common_pb.js";
import { SessionKind } from "../../src/gen/sandboxd/v1/interactive_service_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { workloads } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";

// No process outlives its run: children that leave the run's process group (setsid, a
// double fork, start_new_session) die when the run exits or hits its deadline. Shell
// sessions keep them until the session closes.

let d: DaemonHandle;
let sandboxId: string;

beforeAll(async () => {
  d = await startDaemon({ daemonId: `escapes-${randomBytes(4).toString("hex")}` });
  const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
  sandboxId = sandbox?.id ?? "";
});

afterAll(async () => {
  await d?.stop();
  const left = await workloads([`org.sandboxd.daemon=${d?.daemonId}`]);
  expect(left.map((c) => c.name)).toEqual([]);
});

/** `sleep <n>` processes alive in the sandbox (zombies have no arguments). */
async function sleeps(): Promise<string[]> {
  const ps = await collect(d.sandbox.exec({ sandboxId, argv: ["ps", "-eo", "args"] }));
  return ps.stdout.split("\n").filter((l) => /^sleep \d+/.test(l.trim()));
}

// Each program starts `sleep <n>` outside its process group, gives it a moment to get
// there (killing the group first would prove nothing), and prints "started".
const runEscapes: Record<string, (n: number) => string> = {
  setsid: (n) => `import os, time\nos.system("setsid sleep ${n} >/dev/null 2>&1 &")\ntime.sleep(0.3)\nprint("started")`,
  "double fork": (n) =>
    `import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execvp("sleep", ["sleep", "${n}"])\n    os._exit(0)\ntime.sleep(0.3)\nprint("started")`,
  start_new_session: (n) => `import subprocess\nsubprocess.Popen(["sleep", "${n}"], start_new_session=True)\nprint("started")`,
};
const execEscapes: Record<string, (n: number) => string> = {
  setsid: (n) => `setsid sleep ${n} & sleep 0.3; echo started`,
  "double fork": (n) => `(setsid sh -c 'sleep ${n} &' &); sleep 0.3; echo started`,
  start_new_session: (n) => `python3 -c "import subprocess; subprocess.Popen(['sleep', '${n}'], start_new_session=True)"; echo started`,
};

let next = 300;

describe("no process outlives its run", () => {
  for (const rpc of ["Run", "Exec"] as const) {
    for (const ending of ["exits", "hits its deadline"] as const) {
      for (const kind of Object.keys(runEscapes)) {
        it(`${rpc}: a child started with ${kind} dies when the run ${ending}`, async () => {
          const n = next++;
          const deadline = ending !== "exits";
          const r =
            rpc === "Run"
              ? await collect(
                  d.sandbox.run({
                    sandboxId,
                    code: `${runEscapes[kind]!(n)}${deadline ? "\nimport time\ntime.sleep(60)" : ""}`,
                    timeoutMs: deadline ? 2000 : 20_000,
                  }),
                )
              : await collect(
                  d.sandbox.exec({ sandboxId, shell: `${execEscapes[kind]!(n)}${deadline ? "; sleep 60" : ""}`, timeoutMs: deadline ? 2000 : 20_000 }),
                );
          expect(r.stdout).toBe("started\n");
          expect(r.exit.status).toBe(deadline ? ExitStatus.TIMEOUT : ExitStatus.EXITED);
          expect(await sleeps()).toEqual([]);
        });
      }
    }
  }
});

describe("shell sessions keep their background jobs until they close", () => {
  it("escaped jobs (setsid, double fork, start_new_session, env -i) survive across commands and die with CloseSession", async () => {
    const { session } = await d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId }, kind: SessionKind.SHELL });
    const sessionId = session?.id ?? "";
    const sh = (code: string) => collect(d.interactive.run({ sessionId, code, timeoutMs: 20_000 }));
    try {
      expect((await sh("setsid sleep 401 >/dev/null 2>&1 &")).exit.status).toBe(ExitStatus.EXITED);
      expect((await sh("(setsid sh -c 'sleep 402 >/dev/null 2>&1 &' &)")).exit.status).toBe(ExitStatus.EXITED);
      expect(
        (
          await sh(
            `python3 -c "import subprocess; subprocess.Popen(['sleep', '403'], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)"`,
          )
        ).exit.status,
      ).toBe(ExitStatus.EXITED);
      // Without the session's environment markers either.
      expect((await sh("env -i setsid sleep 404 >/dev/null 2>&1 &")).exit.status).toBe(ExitStatus.EXITED);
      await new Promise((r) => setTimeout(r, 300));
      expect((await sh("echo still here")).stdout).toBe("still here\n");
      await new Promise((r) => setTimeout(r, 1000)); // past a rescan of the agent
      expect((await sleeps()).sort()).toEqual(["sleep 401", "sleep 402", "sleep 403", "sleep 404"]);
    } finally {
      await d.interactive.closeSession({ sessionId });
    }
    expect(await sleeps()).toEqual([]);
  });
});
