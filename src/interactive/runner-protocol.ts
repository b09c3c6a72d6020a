import { readFileSync } from "node:fs";

/**
 * Frames between the daemon and a session runner (src/interactive/runner/*.py). They ride
 * the runner's stdin and stdout, which the resident agent carries as one run's streams.
 * Same layout as the agent channel (u32 length | u8 kind | u32 cell | payload), so the
 * agent's encoder and decoder are reused; the cell number tags every frame of a cell. The
 * kinds come from the one table (src/runtime/frame-kinds.json), apart from the agent's.
 * STDOUT/STDERR payloads are the raw bytes; the others are JSON, and those that carry bytes
 * besides (EXECUTE's stdin, a bundle's binary MIME values) are `u32 length | JSON | bytes`
 * with each such field in the JSON as the `[offset, length]` of its bytes (jsonWithBytes).
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

/** Where a field's bytes are in the raw part of a payload: `[offset, length]`. */
type ByteRange = [offset: number, length: number];

/** EXECUTE's JSON; `stdin` is the range of the stdin bytes. */
interface ExecuteFrame {
  code: string;
  max_output: number;
  stdin: ByteRange;
}

/** A DISPLAY or RESULT frame's JSON: text values as strings, binary ones as byte ranges. */
interface BundleFrame {
  data: Record<string, string>;
  binary: Record<string, ByteRange>;
  metadata: Record<string, unknown>;
  execution_count?: number;
}

/** A MIME bundle as the proto carries it (`map<string, bytes>`, text as UTF-8). */
export interface Bundle {
  data: Record<string, Uint8Array>;
  metadata: Record<string, unknown>;
  executionCount?: number;
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

/** `u32 length | JSON | bytes`: a payload whose JSON names ranges of the bytes after it. */
function jsonWithBytes(json: unknown, bytes: Uint8Array): Buffer {
  const text = Buffer.from(JSON.stringify(json));
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32BE(text.length, 0);
  return Buffer.concat([length, text, bytes]);
}

function parseJsonWithBytes<T>(payload: Uint8Array): { json: T; bytes: Buffer } {
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (buf.length < 4) throw new Error("runner payload shorter than its JSON length");
  const n = buf.readUInt32BE(0);
  if (4 + n > buf.length) throw new Error(`runner payload's JSON (${n} bytes) runs past its end`);
  return { json: JSON.parse(buf.toString("utf8", 4, 4 + n)) as T, bytes: buf.subarray(4 + n) };
}

/** A copy of the bytes `range` names (the payload is a view the decoder may reuse). */
function rangeOf(bytes: Buffer, range: ByteRange): Buffer {
  const [offset, length] = range;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > bytes.length) {
    throw new Error(`byte range [${offset}, ${length}] outside the payload's ${bytes.length} bytes`);
  }
  return Buffer.from(bytes.subarray(offset, offset + length));
}

/** EXECUTE's payload: the cell's code and cap in the JSON, its stdin as raw bytes. */
export function encodeExecute(code: string, maxOutputBytes: number, stdin: Uint8Array): Buffer {
  const json: ExecuteFrame = { code, max_output: maxOutputBytes, stdin: [0, stdin.byteLength] };
  return jsonWithBytes(json, stdin);
}

/** Decodes a DISPLAY or RESULT payload: text values as UTF-8, binary ones as their bytes. */
export function decodeBundle(payload: Uint8Array): Bundle {
  const { json, bytes } = parseJsonWithBytes<BundleFrame>(payload);
  const data: Record<string, Uint8Array> = {};
  for (const [mime, value] of Object.entries(json.data ?? {})) data[mime] = Buffer.from(value, "utf8");
  for (const [mime, range] of Object.entries(json.binary ?? {})) data[mime] = rangeOf(bytes, range);
  return { data, metadata: json.metadata ?? {}, ...(json.execution_count !== undefined ? { executionCount: json.execution_count } : {}) };
}

const sourceDir = new URL("./runner/", import.meta.url);

/** The runner programs, sent into the sandbox at each runner start. */
export const runnerSources = {
  common: readFileSync(new URL("sandboxd_session.py", sourceDir)),
  ipython: readFileSync(new URL("ipython_runner.py", sourceDir)),
  shell: readFileSync(new URL("shell_runner.py", sourceDir)),
};
