import { docker, leftoverContainers } from "../helpers/daemon.js";

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
  const stale = await leftoverContainers();
  for (const c of stale) await docker.getContainer(c.Id).remove({ force: true });
}

/** Fails the run when any test daemon left a container behind. */
export async function teardown(): Promise<void> {
  const left = await leftoverContainers();
  if (left.length > 0) {
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
    throw new Error(`tests left ${left.length} containers behind: ${left.map((c) => `${c.Names[0]} (${c.Labels["org.sandboxd.daemon"]})`).join(", ")}`);
  }
}
