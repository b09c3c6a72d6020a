import type { Duplex } from "node:stream";
import type Docker from "dockerode";
import { ErrorCode, type SandboxdError } from "../../common/errors.js";
import type { ContainerInfo, Lease, LeaseSpec } from "../container-runtime.js";
import type { EngineCall } from "./docker-exec.js";

/** What the lease needs of DockerRuntime. */
export interface LeaseEngine {
  call: EngineCall;
  inspect(id: string): Promise<ContainerInfo | undefined>;
  remove(id: string): Promise<boolean>;
  /** Podman's ulimits, applied to the lease container too. */
  ulimits: { Name: string; Soft: number; Hard: number }[] | undefined;
}

/**
 * The lease is a container named after it, running `cat` on a stdin that only this
 * process holds (attached, StdinOnce): when the holder dies its connection closes, `cat`
 * reads EOF and the container exits and removes itself. The engine's unique names
 * decide between two claimants.
 */
export async function acquireContainerLease(docker: Docker, spec: LeaseSpec, engine: LeaseEngine): Promise<Lease | { heldBy: ContainerInfo }> {
  for (let attempt = 0; ; attempt++) {
    let container: Docker.Container;
    try {
      container = await engine.call(`create lease ${spec.name}`, () =>
        docker.createContainer({
          name: spec.name,
          Image: spec.image,
          Entrypoint: [],
          Cmd: ["cat"],
          User: "65534:65534",
          Labels: spec.labels,
          OpenStdin: true,
          StdinOnce: true,
          AttachStdin: true,
          NetworkDisabled: true,
          HostConfig: {
            AutoRemove: true,
            NetworkMode: "none",
            ReadonlyRootfs: true,
            CapDrop: ["ALL"],
            SecurityOpt: ["no-new-privileges"],
            Memory: 16 * 1024 * 1024,
            PidsLimit: 8,
            ...(engine.ulimits ? { Ulimits: engine.ulimits } : {}),
          },
        }),
      );
    } catch (err) {
      if ((err as SandboxdError).code !== ErrorCode.FailedPrecondition || attempt >= 20) throw err;
      // The name is taken: by a live holder, or by one that is just exiting.
      const holder = await engine.inspect(spec.name);
      if (holder?.running && attempt >= 12) return { heldBy: holder };
      if (holder && !holder.running) await engine.remove(holder.id);
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      const stream = (await engine.call(`attach lease ${spec.name}`, () =>
        container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }),
      )) as unknown as Duplex;
      stream.resume();
      const lost = new Promise<void>((resolve) => {
        stream.once("close", () => resolve());
        stream.once("end", () => resolve());
        stream.once("error", () => resolve());
      });
      await engine.call(`start lease ${spec.name}`, () => container.start());
      let released = false;
      return {
        lost: lost.then(() => (released ? new Promise<void>(() => {}) : undefined)),
        release: async () => {
          if (released) return;
          released = true;
          stream.end();
          stream.destroy();
          await engine.remove(container.id).catch(() => false);
        },
      };
    } catch (err) {
      await engine.remove(container.id).catch(() => false);
      throw err;
    }
  }
}
