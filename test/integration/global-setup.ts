import { randomBytes } from "node:crypto";
import { docker, leftoverContainers, testDaemonPrefix } from "../helpers/daemon.js";

// Workers inherit this: their daemons' ids start with test-<run>-.
process.env["SANDBOXD_TEST_RUN"] ??= randomBytes(3).toString("hex");
const staleAfterMs = 60 * 60 * 1000;

const requiredImages = (process.env["SANDBOXD_TEST_IMAGES"] ?? "sandboxd/python:latest,sandboxd/node:latest,sandboxd/base:latest").split(",");

/** Integration tests need the real engine and the images; say exactly what is missing. */
export async function setup(): Promise<void> {
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(`integration tests need a running engine (${process.env["SANDBOXD_TEST_BACKEND"] ?? "docker"}): ${(err as Error).message}`);
  }
  for (const image of requiredImages) {
    try {
      await docker.getImage(image).inspect();
    } catch {
      throw new Error(`image ${image} is missing; build it with deploy/images/build.sh ${image.replace(/^sandboxd\//, "").replace(/:.*$/, "")}`);
    }
  }
  // Containers of test runs that died without cleaning up; a concurrent run's are young.
  const stale = (await leftoverContainers(testDaemonPrefix)).filter((c) => Date.now() - c.Created * 1000 > staleAfterMs);
  for (const c of stale)
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => {});
}

/** Fails the run when any test daemon left a container behind. */
export async function teardown(): Promise<void> {
  const left = await leftoverContainers();
  if (left.length > 0) {
    for (const c of left)
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => {});
    throw new Error(`tests left ${left.length} containers behind: ${left.map((c) => `${c.Names[0]} (${c.Labels["org.sandboxd.daemon"]})`).join(", ")}`);
  }
}
