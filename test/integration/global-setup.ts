import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { leftoverContainers, repoRoot, testDaemonPrefix } from "../helpers/daemon.js";
import { backend, hasImage, pingBackend, removeWorkload } from "../helpers/engine.js";

// Workers inherit this: their daemons' ids start with test-<run>-.
process.env["SANDBOXD_TEST_RUN"] ??= randomBytes(3).toString("hex");
const staleAfterMs = 60 * 60 * 1000;

const requiredImages = (process.env["SANDBOXD_TEST_IMAGES"] ?? "sandboxd/python:latest,sandboxd/node:latest,sandboxd/base:latest").split(",");

/** Integration tests need the real engine and the images; say exactly what is missing. */
export async function setup(): Promise<void> {
  try {
    await pingBackend();
  } catch (err) {
    throw new Error(`integration tests need a running ${backend} backend: ${(err as Error).message}`);
  }
  for (const image of requiredImages) {
    if (!(await hasImage(image))) {
      const name = image.replace(/^sandboxd\//, "").replace(/:.*$/, "");
      throw new Error(
        backend === "kubernetes"
          ? `image ${image} is not on the cluster's node; import it with scripts/k8s/cluster.sh import-images ${image}`
          : `image ${image} is missing; build it with deploy/images/build.sh ${name}`,
      );
    }
  }
  // Containers of test runs that died without cleaning up; a concurrent run's are young.
  const stale = (await leftoverContainers(testDaemonPrefix)).filter((c) => Date.now() - c.createdAt.getTime() > staleAfterMs);
  for (const c of stale) await removeWorkload(c.id);
}

/** Fails the run when any test daemon left a container behind. */
export async function teardown(): Promise<void> {
  const left = await leftoverContainers();
  if (left.length > 0) {
    for (const c of left) await removeWorkload(c.id);
    // The daemon's log says what became of the sandbox: print its end, since CI keeps only this output.
    for (const id of new Set(left.map((c) => c.labels["org.sandboxd.daemon"] ?? ""))) {
      const file = join(repoRoot, ".cache", "test-logs", `${id}.log`);
      if (!id || !existsSync(file)) continue;
      const lines = readFileSync(file, "utf8").trimEnd().split("\n");
      process.stderr.write(`--- last lines of ${id}.log ---\n${lines.slice(-40).join("\n")}\n`);
    }
    throw new Error(`tests left ${left.length} containers behind: ${left.map((c) => `${c.name} (${c.labels["org.sandboxd.daemon"]})`).join(", ")}`);
  }
}
