import { posix } from "node:path";
import { invalidArgument, permissionDenied } from "../common/errors.js";

/**
 * Where file transfers may read and write inside a sandbox: its workdir and /tmp, the two
 * writable mounts. Everything else is the read-only image (or /dev, /proc), which a
 * transfer has no business touching even where the sandbox user could.
 */
export function allowedRoots(workdir: string): string[] {
  return [workdir, "/tmp"];
}

const maxPathLength = 4096;

/**
 * The absolute path a client's path names: relative paths are relative to the workdir.
 * Refuses NUL bytes, control characters and any `..` component (INVALID_ARGUMENT), and
 * paths outside the allowed roots (PERMISSION_DENIED is decided later, inside the
 * sandbox, after symlinks are resolved; this lexical check only catches the obvious).
 * An empty path is the workdir itself.
 */
export function resolveClientPath(workdir: string, path: string): string {
  if (path.length > maxPathLength) throw invalidArgument(`path is longer than ${maxPathLength} bytes`, { reason: "INVALID_PATH" });
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(path)) throw invalidArgument(`path ${JSON.stringify(path.slice(0, 200))} contains control characters`, { reason: "INVALID_PATH" });
  if (path.split("/").includes("..")) {
    throw invalidArgument(`path ${JSON.stringify(path.slice(0, 200))} contains '..'; use a path inside the workdir or /tmp`, { reason: "INVALID_PATH" });
  }
  const joined = path.startsWith("/") ? path : posix.join(workdir, path);
  const normal = posix.normalize(joined);
  return normal.length > 1 && normal.endsWith("/") ? normal.slice(0, -1) : normal;
}

/** True when `path` (absolute, normalized) is one of the roots or inside one. */
export function isWithinRoots(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => path === root || path.startsWith(root.endsWith("/") ? root : `${root}/`));
}

/**
 * The absolute path of a client's transfer path, refused early (PERMISSION_DENIED) when it
 * plainly leaves the workdir and /tmp; the transfer checks again inside the sandbox after
 * symlinks are resolved.
 */
export function checkTransferPath(workdir: string, path: string): string {
  const abs = resolveClientPath(workdir, path);
  if (!isWithinRoots(abs, allowedRoots(workdir))) {
    throw permissionDenied(
      `${JSON.stringify(path.slice(0, 200))} is outside the sandbox's workdir (${workdir}) and /tmp, the only places files can be transferred`,
      { reason: "PATH_NOT_ALLOWED" },
    );
  }
  return abs;
}
