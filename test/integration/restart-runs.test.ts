import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ExitStatus } from "../../src/gen/sandboxd/v1/common_pb.js";
import { leftoverContainers, runPrefix, startDaemon } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

// A run that was live when its daemon died cannot go on: the agent's channel closed with
// the daemon, and the agent ended the run's processes. A restarted daemon says so: Attach
// answers the run LOST (not NOT_FOUND, which reads as a wrong id), and nothing of it runs.
describe("runs live when the daemon is killed", () => {
  it("are LOST to Attach after the restart, and their processes are gone", async () => {
    const daemonId = `${runPrefix()}${randomBytes(4).toString("hex")}`;
    const first = await startDaemon({ daemonId });
    const { sandbox } = await first.sandbox.createSandbox({ spec: { language: "python" } });
    const sandboxId = sandbox!.id;
    const stream = first.sandbox.exec({ sandboxId, shell: "echo started; exec sleep 313", timeoutMs: 120_000, detachOnCancel: true })[Symbol.asyncIterator]();
    let runId = "";
    for (;;) {
      const { value, done } = await stream.next();
      if (done) throw new Error("run ended early");
      const ev = value.event?.event;
      if (ev?.case === "started") runId = ev.value.runId;
      if (ev?.case === "output") break;
    }
    expect(runId).not.toBe("");
    await first.stop("SIGKILL");
    await stream.return?.(undefined).catch(() => undefined);

    const second = await startDaemon({ daemonId });
    try {
      const lost = await collect(second.sandbox.attach({ runId }));
      expect(lost.exit.status).toBe(ExitStatus.LOST);
      expect(lost.exit.message).toMatch(/daemon/);
      expect(lost.runId === "" || lost.runId === runId).toBe(true);
      // Asked again: the same answer (it is kept like any finished run).
      expect((await collect(second.sandbox.attach({ runId }))).exit.status).toBe(ExitStatus.LOST);
      // Its process did not survive the daemon.
      const ps = await collect(
        second.sandbox.exec({ sandboxId, shell: "grep -l 'sleep' /proc/[0-9]*/cmdline 2>/dev/null | xargs -r cat | tr '\\0' ' '; echo" }),
      );
      expect(ps.stdout).not.toMatch(/sleep 313/);
      // An id that never existed is still NOT_FOUND.
      await expect(collect(second.sandbox.attach({ runId: "run_neverexisted" }))).rejects.toMatchObject({ code: 5 });
      await second.sandbox.destroySandbox({ sandboxId });
    } finally {
      await second.stop();
    }
  });
});

describe("a daemon stopped right after ephemeral runs", () => {
  it("finishes removing their sandboxes before it exits", async () => {
    const d = await startDaemon();
    for (let i = 0; i < 3; i++) {
      const r = await collect(d.sandbox.run({ language: "python", code: `print(${i})` }));
      expect(r.stdout).toBe(`${i}\n`);
    }
    // The last ephemeral sandbox is still being removed when the daemon is told to stop.
    expect(await d.stop()).toBe(0);
    expect(await leftoverContainers(d.daemonId)).toEqual([]);
  });
});
