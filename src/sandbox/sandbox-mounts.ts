import { realpathSync, statSync } from "node:fs";
import { posix } from "node:path";
import { hostBinds, mountRoots, type Config } from "../config/config.js";
import { invalidArgument, permissionDenied } from "../common/errors.js";

/**
 * A mount a client asked for (SandboxSpec.mounts): a named volume (`volume`, resolved to
 * its engine volume by VolumeManager before the sandbox is made) or a host directory.
 */
export interface MountRequest {
  volume: string;
  hostPath: string;
  path: string;
  readOnly: boolean;
  /** Set by VolumeManager.resolveMounts: the tenant's volume this `volume` names. */
  resolved?: { id: string; name: string; engineName: string };
}

/** A checked mount, kept in the sandbox's configuration (its container label). */
export type SandboxMount =
  | { kind: "volume"; volumeId: string; volumeName: string; source: string; path: string; readOnly: boolean }
  | { kind: "host"; hostPath: string; source: string; path: string; readOnly: boolean };

const maxMounts = 16;

function badPath(message: string) {
  return invalidArgument(message, { reason: "VOLUME_MOUNT_PATH_INVALID" });
}

/** `path` in the sandbox: absolute, normalised, under a mount root, not the workdir, not /tmp. */
function checkTarget(path: string, roots: string[], workdir: string): void {
  if (path === "" || !path.startsWith("/") || path.includes("\0") || path.length > 1024)
    throw badPath(`mount path ${JSON.stringify(path.slice(0, 200))} must be absolute`);
  if (path.split("/").includes("..") || posix.normalize(path) !== path || (path.length > 1 && path.endsWith("/")))
    throw badPath(`mount path ${JSON.stringify(path)} must be normalised (no '.', '..', '//' or trailing '/')`);
  if (!roots.some((r) => path === r || path.startsWith(`${r}/`)))
    throw badPath(`mount path ${JSON.stringify(path)} is not under an allowed root (${roots.join(", ")}; setting volumes.mount-roots)`);
  if (path === workdir) throw badPath(`mount path ${JSON.stringify(path)} is the sandbox's workdir (mount under it instead)`);
  // The agent keeps its state under /tmp; the system's directories are not mount roots.
  if (path === "/tmp" || path.startsWith("/tmp/")) throw badPath(`mount path ${JSON.stringify(path)} is under /tmp, the agent's`);
}

function within(path: string, dir: string): boolean {
  return path === dir || dir === "/" || path.startsWith(`${dir}/`);
}

/**
 * A host directory a client may bind: `..` refused, symlinks resolved (realpath) and the
 * result checked against the operator's volumes.host-binds (resolved the same way). A path
 * under a read-write entry may be bound only as the entry itself: below it, tenants could
 * swap a directory for a symlink between this check and the engine's mount.
 */
function checkHostPath(hostPath: string, readOnly: boolean, config: Config): { source: string; readOnly: boolean } {
  if (!hostPath.startsWith("/") || hostPath.includes("\0") || hostPath.length > 4096)
    throw invalidArgument(`host_path ${JSON.stringify(hostPath.slice(0, 200))} must be an absolute path`, { reason: "VOLUME_HOST_PATH_INVALID" });
  if (hostPath.split("/").includes(".."))
    throw invalidArgument(`host_path ${JSON.stringify(hostPath)} must not contain '..'`, { reason: "VOLUME_HOST_PATH_INVALID" });
  const entries = hostBinds(config).flatMap((e) => {
    try {
      return [{ real: realpathSync(e.path), writable: e.writable }];
    } catch {
      return []; // an entry that does not exist allows nothing
    }
  });
  const notAllowed = () =>
    permissionDenied(`host_path ${JSON.stringify(hostPath)} is not in a directory the operator allows (volumes.host-binds)`, {
      reason: "VOLUME_HOST_PATH_NOT_ALLOWED",
    });
  if (entries.length === 0) throw notAllowed();
  let real: string;
  try {
    real = realpathSync(hostPath);
  } catch {
    // Said the same way as a path outside the allow-list: a client learns nothing of the host's files.
    throw notAllowed();
  }
  const matching = entries.filter((e) => within(real, e.real));
  if (matching.length === 0) throw notAllowed();
  if (entries.some((e) => e.writable && within(real, e.real) && real !== e.real)) {
    throw permissionDenied(`host_path ${JSON.stringify(hostPath)} is below a read-write entry of volumes.host-binds: only the entry itself may be bound`, {
      reason: "VOLUME_HOST_PATH_NOT_ALLOWED",
    });
  }
  if (!statSync(real).isDirectory()) throw invalidArgument(`host_path ${JSON.stringify(hostPath)} is not a directory`, { reason: "VOLUME_HOST_PATH_INVALID" });
  const writable = matching.some((e) => e.writable && e.real === real);
  if (!readOnly && !writable) {
    throw permissionDenied(`host_path ${JSON.stringify(hostPath)} may only be mounted read-only (its volumes.host-binds entry has no :rw)`, {
      reason: "VOLUME_HOST_PATH_READ_ONLY",
    });
  }
  return { source: real, readOnly };
}

/** Checks a request's mounts against the daemon's configuration; what the sandbox's config keeps. */
export function checkMounts(mounts: MountRequest[], config: Config, workdir: string): SandboxMount[] {
  if (mounts.length > maxMounts) throw invalidArgument(`at most ${maxMounts} mounts, got ${mounts.length}`, { reason: "VOLUME_MOUNT_INVALID" });
  const roots = mountRoots(config);
  const seen = new Set<string>();
  return mounts.map((m) => {
    checkTarget(m.path, roots, workdir);
    if (seen.has(m.path)) throw badPath(`two mounts at ${JSON.stringify(m.path)}`);
    seen.add(m.path);
    if (m.volume !== "" && m.hostPath !== "") throw invalidArgument("a mount has a volume or a host_path, not both", { reason: "VOLUME_MOUNT_INVALID" });
    if (m.volume !== "") {
      if (!m.resolved) throw invalidArgument("volumes cannot be mounted here (only in CreateSandbox's own spec)", { reason: "VOLUME_MOUNT_INVALID" });
      return { kind: "volume", volumeId: m.resolved.id, volumeName: m.resolved.name, source: m.resolved.engineName, path: m.path, readOnly: m.readOnly };
    }
    if (m.hostPath === "") throw invalidArgument(`the mount at ${m.path} names no volume and no host_path`, { reason: "VOLUME_MOUNT_INVALID" });
    const { source, readOnly } = checkHostPath(m.hostPath, m.readOnly, config);
    return { kind: "host", hostPath: m.hostPath, source, path: m.path, readOnly };
  });
}
