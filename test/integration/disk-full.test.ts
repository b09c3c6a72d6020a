import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus, SandboxState } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { workloads } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";

// The workdir and /tmp are tmpfs whose pages count against the memory limit: a full disk
// must reach the program as its own ENOSPC, never OOM-kill the agent.

const MiB = 1024n * 1024n;
let d: DaemonHandle;

beforeAll(async () => {
  d = await startDaemon({ daemonId: `diskfull-${randomBytes(4).toString("hex")}` });
});

afterAll(async () => {
  await d?.stop();
  const left = await workloads([`org.sandboxd.daemon=${d?.daemonId}`]);
  expect(left.map((c) => c.name)).toEqual([]);
});

async function state(sandboxId: string) {
  return (await d.sandbox.getSandbox({ sandboxId })).sandbox?.state;
}

describe("a full disk is the program's ENOSPC", () => {
  it("filling /sandbox and then /tmp of a 128 MiB sandbox (dd and Python) ends each run with an exit and ENOSPC; the sandbox keeps serving", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", resources: { memoryBytes: 128n * MiB } } });
    const sandboxId = sandbox?.id ?? "";
    try {
      const sh = (shell: string) => collect(d.sandbox.exec({ sandboxId, shell, timeoutMs: 60_000 }));
      for (const dir of ["/sandbox", "/tmp"]) {
        const dd = await sh(`dd if=/dev/zero of=${dir}/fill-dd bs=1M`);
        expect(dd.exit.status, `dd ${dir}`).toBe(ExitStatus.EXITED);
        expect(dd.exit.exitCode).not.toBe(0);
        expect(dd.stderr).toMatch(/No space left on device/);
        await sh(`rm -f ${dir}/fill-dd`);
        const py = await collect(
          d.sandbox.run({ sandboxId, code: `f = open("${dir}/fill-py", "wb")\nwhile True:\n    f.write(b"x" * 1048576)\n    f.flush()`, timeoutMs: 60_000 }),
        );
        expect(py.exit.status, `python ${dir}`).toBe(ExitStatus.EXITED);
        expect(py.exit.exitCode).toBe(1);
        expect(py.stderr).toMatch(/No space left on device/);
        // Full, and still serving.
        expect((await sh("echo still serving")).stdout).toBe("still serving\n");
        if (dir === "/sandbox") {
          // A Run's source goes into the workdir (beside the user's files): with no room, the
          // run says so, as its own error.
          const noRoom = await collect(d.sandbox.run({ sandboxId, code: "print('no room')" }));
          expect(noRoom.exit.status).toBe(ExitStatus.EXITED);
          expect(noRoom.stderr).toMatch(/No space left on device/);
        }
        await sh(`rm -f ${dir}/fill-py`);
        const ok = await collect(d.sandbox.run({ sandboxId, code: "print('still serving')" }));
        expect(ok.stdout).toBe("still serving\n");
        expect(ok.exit.status).toBe(ExitStatus.EXITED);
      }
      // Both full at once: that is all the tmpfs there is, and the processes still have room.
      for (const dir of ["/sandbox", "/tmp"]) expect((await sh(`dd if=/dev/zero of=${dir}/fill bs=1M`)).stderr).toMatch(/No space left on device/);
      expect((await sh("python3 -c 'print(sum(range(10**6)))'")).stdout).toBe("499999500000\n");
      expect(await state(sandboxId)).toBe(SandboxState.RUNNING);
      await sh("rm -f /sandbox/fill /tmp/fill");
      expect((await collect(d.sandbox.run({ sandboxId, code: "print('after')" }))).stdout).toBe("after\n");
      expect(await state(sandboxId)).toBe(SandboxState.RUNNING);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId });
    }
  }, 180_000);

  it("refuses an explicit disk that does not fit in the memory, saying what would", async () => {
    const err = await d.sandbox
      .createSandbox({ spec: { language: "python", resources: { memoryBytes: 128n * MiB, diskBytes: 100n * MiB } } })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 3, details: expect.stringMatching(/disk_bytes 100 MiB does not fit.*at most 32 MiB/) });
  });
});

describe("the agent", () => {
  it("is not the OOM killer's choice: a run's processes have oom_score_adj 1000, the agent keeps its own", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", resources: { memoryBytes: 128n * MiB } } });
    const sandboxId = sandbox?.id ?? "";
    try {
      const r = await collect(
        d.sandbox.exec({
          sandboxId,
          shell: "cat /proc/$$/oom_score_adj; cat /proc/self/oom_score_adj; cut -d' ' -f4 /proc/$$/stat | xargs -I{} cat /proc/{}/oom_score_adj",
        }),
      );
      const [shell, child, agent] = r.stdout.trim().split("\n").map(Number);
      expect([shell, child]).toEqual([1000, 1000]);
      expect(agent).toBeLessThan(1000);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId });
    }
  });

  it("killed from inside (kill -9 of its pid, found via /proc), is restarted: the next run succeeds and the sandbox stays RUNNING", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", resources: { memoryBytes: 128n * MiB } } });
    const sandboxId = sandbox?.id ?? "";
    try {
      // The shell's parent is the agent: the fourth field of /proc/$$/stat.
      const kill = await collect(d.sandbox.exec({ sandboxId, shell: "kill -9 $(cut -d' ' -f4 /proc/$$/stat); sleep 5" })).catch(
        (e: unknown) => e as { code: number },
      );
      expect(kill).toMatchObject({ code: 14 });
      const next = await collect(d.sandbox.run({ sandboxId, code: "print('agent is back')" }));
      expect(next.stdout).toBe("agent is back\n");
      expect(await state(sandboxId)).toBe(SandboxState.RUNNING);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId });
    }
  });

  it("that keeps dying leaves a failed sandbox: GetSandbox says FAILED and calls answer FAILED_PRECONDITION", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    const sandboxId = sandbox?.id ?? "";
    try {
      let failed = false;
      for (let i = 0; i < 10 && !failed; i++) {
        const r = await collect(d.sandbox.run({ sandboxId, code: "import os, time\nos.kill(os.getppid(), 9)\ntime.sleep(5)" })).catch(
          (e: unknown) => e as { code: number; details: string },
        );
        if ((r as { code?: number }).code === 9) failed = true;
        else expect(r).toMatchObject({ code: 14 });
        if (!failed) await new Promise((res) => setTimeout(res, 300));
      }
      for (let i = 0; i < 50 && (await state(sandboxId)) !== SandboxState.FAILED; i++) await new Promise((res) => setTimeout(res, 100));
      expect(await state(sandboxId)).toBe(SandboxState.FAILED);
      const err = await collect(d.sandbox.run({ sandboxId, code: "print(1)" })).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 9, details: expect.stringMatching(/failed: its agent died/) });
    } finally {
      await d.sandbox.destroySandbox({ sandboxId });
    }
  }, 60_000);
});
