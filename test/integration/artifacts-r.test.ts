import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Artifact } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { hasImage } from "../helpers/engine.js";
import { collect, type Collected } from "../helpers/events.js";

const image = "sandboxd/r:latest";
const haveImage = await hasImage(image);

let d: DaemonHandle;
let sandboxId: string;

beforeAll(async () => {
  if (!haveImage) return;
  d = await startDaemon();
  sandboxId = (await d.sandbox.createSandbox({ spec: { language: "r" } })).sandbox?.id ?? "";
});

afterAll(async () => {
  await d?.stop();
});

const artifactsOf = (r: Collected): Artifact[] => r.events.flatMap((e) => (e.event.case === "artifact" ? [e.event.value] : []));
const run = (code: string, clearArtifacts = false) => collect(d.sandbox.run({ sandboxId, code, clearArtifacts, timeoutMs: 120_000 }));

async function bytesOf(id: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const r of d.sandbox.downloadArtifact({ sandboxId, artifactId: id })) if (r.message.case === "chunk") parts.push(Buffer.from(r.message.value));
  return Buffer.concat(parts);
}

describe.skipIf(!haveImage)("plot capture (R)", () => {
  it("captures base graphics; a run with clear_artifacts starts again at 1", async () => {
    const first = await run("plot(1:10)");
    expect(artifactsOf(first).map((a) => [a.index, a.format])).toEqual([[1, "png"]]);
    const second = await run("hist(rnorm(100))", true);
    expect(artifactsOf(second).map((a) => a.index)).toEqual([1]);
    expect((await d.sandbox.listArtifacts({ sandboxId })).artifacts.length).toBe(1);
  });

  it("captures base, ggplot2, lattice and plotly, keeping stdout exactly as printed", async () => {
    const code = `
plot(1:10)
hist(rnorm(100))
library(ggplot2)
print(ggplot(data.frame(x = 1:3, y = c(2, 1, 3)), aes(x, y)) + geom_line())
library(lattice)
print(xyplot(y ~ x, data.frame(x = 1:3, y = c(2, 1, 3))))
cat("plotted\\n")
plotly::plot_ly(x = 1:3, y = c(2, 1, 3), type = "scatter", mode = "lines")
`;
    const r = await run(code, true);
    expect(r.stdout).toBe("plotted\n");
    expect(r.exit.exitCode).toBe(0);
    const arts = artifactsOf(r);
    expect(arts.map((a) => a.format)).toEqual(["png", "png", "png", "png", "html"]);
    expect(arts.map((a) => a.index)).toEqual([1, 2, 3, 4, 5]);
    for (const a of arts.slice(0, 4)) {
      const png = await bytesOf(a.id);
      expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([800, 600]);
      expect([a.width, a.height]).toEqual([800, 600]);
    }
    const html = (await bytesOf(arts[4]?.id ?? "")).toString("utf8");
    expect(html).toMatch(/^<!DOCTYPE html>[\s\S]*htmlwidget[\s\S]*<\/html>\s*$/);
  });
});
