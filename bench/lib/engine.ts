import type { Duplex } from "node:stream";
import type Docker from "dockerode";
import { docker } from "../../test/helpers/daemon.js";

export { docker };

/** Label on every container a benchmark creates itself, so cleanup finds them. */
export const rawLabel = "org.sandboxd-bench.raw";

/**
 * Parses the engine's multiplexed exec stream (8-byte frame headers) and hands each
 * payload to `onData(stream, chunk)`, 1 = stdout, 2 = stderr.
 */
export function demux(source: NodeJS.ReadableStream, onData: (stream: number, chunk: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  let kind = 1;
  let remaining = 0;
  source.on("data", (chunk: Buffer) => {
    let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    pending = Buffer.alloc(0);
    let off = 0;
    while (off < buf.length) {
      if (remaining === 0) {
        if (buf.length - off < 8) {
          pending = Buffer.from(buf.subarray(off));
          break;
        }
        kind = buf[off] === 2 ? 2 : 1;
        remaining = buf.readUInt32BE(off + 4);
        off += 8;
        continue;
      }
      const n = Math.min(remaining, buf.length - off);
      onData(kind, buf.subarray(off, off + n));
      off += n;
      remaining -= n;
    }
    buf = Buffer.alloc(0);
  });
}

export interface RawExecResult {
  exitCode: number;
  stdoutBytes: number;
  stderrBytes: number;
  stdout: Buffer[];
}

/**
 * One raw engine exec, the way any Docker client runs a command: create the exec, start it
 * attached, read its output to the end, then inspect it for the exit code.
 */
export async function rawExec(
  containerId: string,
  argv: string[],
  options: { onStdout?: (chunk: Buffer) => void; keep?: boolean } = {},
): Promise<RawExecResult> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: argv, AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false });
  const stream = (await exec.start({ hijack: true, stdin: false, Detach: false, Tty: false })) as Duplex;
  const result: RawExecResult = { exitCode: -1, stdoutBytes: 0, stderrBytes: 0, stdout: [] };
  await new Promise<void>((resolve, reject) => {
    demux(stream, (kind, chunk) => {
      if (kind === 1) {
        result.stdoutBytes += chunk.length;
        options.onStdout?.(chunk);
        if (options.keep) result.stdout.push(Buffer.from(chunk));
      } else result.stderrBytes += chunk.length;
    });
    stream.once("end", () => resolve());
    stream.once("close", () => resolve());
    stream.once("error", reject);
  });
  for (let attempt = 0; ; attempt++) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null) {
      result.exitCode = info.ExitCode;
      return result;
    }
    if (attempt > 100) throw new Error("exec did not report an exit code");
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * Create options identical to a sandboxd container's (image, command, env, user, workdir,
 * labels of the same size, and the same HostConfig: network, capabilities, security opts,
 * read-only root, tmpfs, memory, cpus, pids, init), so a raw create+start does the same
 * work the engine does for the daemon.
 */
export async function createOptionsLike(containerId: string): Promise<Docker.ContainerCreateOptions> {
  const info = await docker.getContainer(containerId).inspect();
  const hc = info.HostConfig as Docker.HostConfig & { Init?: boolean };
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(info.Config.Labels ?? {})) labels[k.replace(/^org\.sandboxd\./, "org.sandboxd-bench.")] = v;
  labels[rawLabel] = "true";
  const hostConfig: Docker.HostConfig = {
    NetworkMode: hc.NetworkMode ?? "none",
    CapDrop: hc.CapDrop ?? [],
    SecurityOpt: hc.SecurityOpt ?? [],
    ReadonlyRootfs: hc.ReadonlyRootfs ?? false,
    Tmpfs: hc.Tmpfs ?? {},
    Memory: hc.Memory ?? 0,
    MemorySwap: hc.MemorySwap ?? 0,
    NanoCpus: hc.NanoCpus ?? 0,
    PidsLimit: hc.PidsLimit ?? 0,
    Init: hc.Init ?? false,
  };
  if (hc.Ulimits?.length) hostConfig.Ulimits = hc.Ulimits;
  return {
    Image: info.Config.Image,
    Cmd: info.Config.Cmd as string[],
    Entrypoint: (info.Config.Entrypoint as string[] | null) ?? [],
    Env: info.Config.Env,
    WorkingDir: info.Config.WorkingDir,
    User: info.Config.User,
    Labels: labels,
    HostConfig: hostConfig,
    NetworkDisabled: hostConfig.NetworkMode === "none",
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
  };
}

/** Raw engine create + start; returns the container id. */
export async function rawCreateStart(options: Docker.ContainerCreateOptions): Promise<string> {
  const c = await docker.createContainer(options);
  await c.start();
  return c.id;
}

export async function removeContainer(id: string): Promise<void> {
  await docker
    .getContainer(id)
    .remove({ force: true, v: true })
    .catch(() => {});
}

/** Removes every container a benchmark created itself. */
export async function removeRawContainers(): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${rawLabel}=true`] } });
  await Promise.all(list.map((c) => removeContainer(c.Id)));
}

/** Containers of a daemon (its sandboxes and pool members). */
export async function daemonContainers(daemonId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`org.sandboxd.daemon=${daemonId}`] } });
}
