import { invalidArgument } from "../common/errors.js";

/** The daemon's limits on what a request may ask for (from `Config.limits`). */
export interface RequestLimits {
  maxCodeBytes: number;
  maxTimeoutMs: number;
}

const envKey = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The checks every request that runs something shares (Run, Exec, Install, session cells
 * and sessions), in one place so that each answers the same INVALID_ARGUMENT for the same
 * mistake.
 */
export function checkEnv(env: Record<string, string>): void {
  for (const [k, v] of Object.entries(env)) {
    if (!envKey.test(k)) throw invalidArgument(`invalid environment variable name ${JSON.stringify(k.slice(0, 100))}`);
    if (v.includes("\0")) throw invalidArgument(`environment variable ${k} contains a NUL byte`);
  }
}

/** `field` names the request's field in the message (timeout_ms, cell_timeout_ms). */
export function checkTimeout(ms: number, limits: RequestLimits, field = "timeout_ms"): void {
  if (ms > limits.maxTimeoutMs) throw invalidArgument(`${field} ${ms} is above the daemon's maximum ${limits.maxTimeoutMs}`, { reason: "INVALID_LIMIT" });
}

export function checkCodeSize(code: string, limits: RequestLimits): void {
  const bytes = Buffer.byteLength(code);
  if (bytes > limits.maxCodeBytes) throw invalidArgument(`code is ${bytes} bytes; the limit is ${limits.maxCodeBytes}`, { reason: "CODE_TOO_LARGE" });
}

/** A workdir a client chose: absolute, without `..` or NUL. */
export function checkWorkdir(workdir: string): void {
  if (!workdir.startsWith("/") || workdir.split("/").includes("..") || workdir.includes("\0")) {
    throw invalidArgument(`workdir must be an absolute path without '..', got ${JSON.stringify(workdir.slice(0, 200))}`, { reason: "INVALID_PATH" });
  }
}
