import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { startDaemon, testDaemonPrefix } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

const plot = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\n";

describe("artifacts across a daemon restart", () => {
  it("a re-adopted sandbox keeps its artifacts, their ids and its counter", async () => {
    const daemonId = `${testDaemonPrefix}${randomBytes(4).toString("hex")}`;
    const d1 = await startDaemon({ daemonId });
    let d2: Awaited<ReturnType<typeof startDaemon>> | undefined;
    try {
      const sandboxId = (await d1.sandbox.createSandbox({ spec: { language: "python" } })).sandbox?.id ?? "";
      await collect(d1.sandbox.run({ sandboxId, code: `${plot}import os\nos.makedirs('output', exist_ok=True)\nopen('output/a.txt', 'w').write('a')` }));
      const before = (await d1.sandbox.listArtifacts({ sandboxId })).artifacts;
      expect(before.map((a) => [a.index, a.name])).toEqual([
        [1, "000001.png"],
        [2, "a.txt"],
      ]);
      await d1.stop("SIGKILL");

      d2 = await startDaemon({ daemonId });
      const after = (await d2.sandbox.listArtifacts({ sandboxId })).artifacts;
      expect(after.map((a) => [a.id, a.index, a.name, a.format, Number(a.size)])).toEqual(before.map((a) => [a.id, a.index, a.name, a.format, Number(a.size)]));
      let bytes = 0;
      for await (const r of d2.sandbox.downloadArtifact({ sandboxId, artifactId: before[0]?.id ?? "" }))
        if (r.message.case === "chunk") bytes += r.message.value.byteLength;
      expect(bytes).toBe(Number(before[0]?.size));
      const next = await collect(d2.sandbox.run({ sandboxId, code: plot }));
      expect(next.events.flatMap((e) => (e.event.case === "artifact" ? [e.event.value.index] : []))).toEqual([3]);
    } finally {
      await d1.stop();
      await d2?.stop();
    }
  });
});
