import { readFileSync } from "node:fs";

/**
 * Frames between the daemon and a session runner (src/interactive/runner/*.py). They ride
 * the runner's stdin and stdout, which the resident agent carries as one run's streams.
 * Same layout as the agent channel (u32 length | u8 kind | u32 cell | payload), so the
 * agent's encoder and decoder are reused; the cell number tags every frame of a cell. The
 * kinds come from the one table (src/runtime/frame-kinds.json), apart from the agent's.
 */
export { RunnerFrame } from "../runtime/frame-kinds.js";

export interface HelloFrame {
  pid?: number;
  sid?: number;
  shell_pid?: number;
  python?: string;
  ipython?: string;
  /** The runner could not start its kernel (no IPython, no such shell). */
  error?: string;
}

/** A MIME bundle: text values as strings, the ones named in `binary` base64-encoded. */
export interface BundleFrame {
  data: Record<string, string>;
  binary: string[];
  metadata: Record<string, unknown>;
  execution_count?: number;
}

export interface ErrorFrame {
  name: string;
  value: string;
  traceback: string[];
}

export interface DoneFrame {
  /** ok | error | interrupted | exited (the shell itself exited) */
  status: "ok" | "error" | "interrupted" | "exited";
  /** A SIGINT (interrupt or timeout) reached the cell while it ran. */
  interrupted: boolean;
  execution_count?: number;
  /** SHELL: the command's exit status. */
  exit_code?: number;
  /** SHELL: the command outlived SIGINT and SIGKILL, so its shell was restarted. */
  restarted?: boolean;
  shell_exited?: boolean;
  /** IPYTHON: the cell called exit(); the runner ends after this frame. */
  exit_requested?: boolean;
  duration_ms: number;
  stdout_bytes: number;
  stderr_bytes: number;
  truncated: boolean;
}

/** Decodes a bundle into the proto's `map<string, bytes>`. */
export function decodeBundle(b: BundleFrame): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const binary = new Set(b.binary);
  for (const [mime, value] of Object.entries(b.data)) {
    out[mime] = binary.has(mime) ? Buffer.from(value, "base64") : Buffer.from(value, "utf8");
  }
  return out;
}

const sourceDir = new URL("./runner/", import.meta.url);

/** The runner programs, sent into the sandbox at each runner start. */
export const runnerSources = {
  common: readFileSync(new URL("sandboxd_session.py", sourceDir)),
  ipython: readFileSync(new URL("ipython_runner.py", sourceDir)),
  shell: readFileSync(new URL("shell_runner.py", sourceDir)),
};
