import { createHash, randomBytes } from "node:crypto";
import { ErrorCode, SandboxdError, invalidArgument } from "../common/errors.js";
import { repackTar } from "./tar-guard.js";
import { TransferProcess, type TransferTarget } from "./transfer-process.js";
import { downloadScript, uploadFileScript, uploadTarScript } from "./transfer-scripts.js";

export type { TransferTarget } from "./transfer-process.js";

export interface UploadResult {
  bytes: number;
  files: number;
  sha256: string;
}

export type DownloadPart =
  | { type: "header"; kind: "file" | "tar"; mode: number; size: number }
  | { type: "chunk"; data: Uint8Array }
  | { type: "trailer"; bytes: number; sha256: string };

/** Download chunks are gathered up to this size: fewer, larger gRPC messages. */
const chunkBytes = 256 * 1024;
/** A download's header line is at most this long. */
const maxHeader = 8 * 1024;

const scriptErrors: Record<string, { code: ErrorCode; reason: string }> = {
  INVALID_ARGUMENT: { code: ErrorCode.InvalidArgument, reason: "INVALID_PATH" },
  PERMISSION_DENIED: { code: ErrorCode.PermissionDenied, reason: "PATH_NOT_ALLOWED" },
  NOT_FOUND: { code: ErrorCode.NotFound, reason: "PATH_NOT_FOUND" },
  FAILED_PRECONDITION: { code: ErrorCode.FailedPrecondition, reason: "SANDBOX_BROKEN" },
  ABORTED: { code: ErrorCode.Cancelled, reason: "UPLOAD_INCOMPLETE" },
};

/** The exit status each `ERR <CODE>` ends the script with (transfer-scripts.ts, err()). */
const exitCodes: Record<number, string> = { 10: "INVALID_ARGUMENT", 11: "PERMISSION_DENIED", 12: "NOT_FOUND", 13: "FAILED_PRECONDITION", 14: "ABORTED" };

/**
 * Turns a script's `ERR CODE message` line (and its stderr) into the daemon's error. When the
 * engine lost the line (exec fallback: Podman's conmon resets attach streams under load), the
 * exit status still says which refusal it was.
 */
function scriptError(line: string, stderr: string, exitCode: number): SandboxdError {
  const lostLine = exitCodes[exitCode];
  const m =
    /^ERR (\S+) (.*)$/.exec(line) ?? (lostLine ? ["", lostLine, `the transfer was refused (${lostLine}); the engine lost the sandbox's message`] : null);
  const detail = stderr.trim().split("\n").slice(-3).join("; ");
  if (/No space left on device|Disk quota exceeded/i.test(stderr)) {
    return new SandboxdError(ErrorCode.ResourceExhausted, `the sandbox's disk is full${m ? `: ${m[2]}` : ""}`, { reason: "DISK_FULL" });
  }
  if (m?.[1] !== undefined && m[2] !== undefined) {
    const mapped = scriptErrors[m[1]];
    if (mapped) return new SandboxdError(mapped.code, m[2], { reason: mapped.reason });
    return new SandboxdError(ErrorCode.FailedPrecondition, `${m[2]}${detail ? ` (${detail})` : ""}`, { reason: "TRANSFER_FAILED" });
  }
  return new SandboxdError(ErrorCode.Unavailable, `the transfer ended with exit code ${exitCode}${detail ? `: ${detail}` : ""}`, { reason: "TRANSFER_FAILED" });
}

function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return lines[lines.length - 1] ?? "";
}

/**
 * Streams a client's chunks into one file inside the sandbox. Nothing is buffered beyond
 * the channel's stdin window: each chunk is written only when the script's stdin has room,
 * so the gRPC flow control slows the client down. The file appears only once complete (see the script).
 */
export async function uploadFile(
  target: TransferTarget,
  path: string,
  mode: number,
  chunks: AsyncIterable<Uint8Array>,
  signal: AbortSignal,
): Promise<UploadResult> {
  const token = randomBytes(16).toString("hex");
  const pump = await TransferProcess.start(target, uploadFileScript, [path, mode.toString(8), token], true);
  pump.drain();
  const hash = createHash("sha256");
  let bytes = 0;
  let failure: unknown;
  try {
    let open = true;
    for await (const chunk of chunks) {
      if (signal.aborted) throw signal.reason;
      hash.update(chunk);
      bytes += chunk.byteLength;
      if (!(await pump.write(chunk))) {
        open = false;
        break;
      }
    }
    if (open) {
      await endSettled(signal);
      if (signal.aborted) throw signal.reason;
      await pump.write(Buffer.from(token, "ascii"));
    }
  } catch (err) {
    failure = err;
  }
  pump.endStdin();
  const result = await pump.result(signal);
  if (failure !== undefined) throw signal.aborted ? signal.reason : failure;
  const line = lastLine(result.stdout);
  if (result.code !== 0 || line !== "OK") throw scriptError(line, result.stderr, result.code);
  return { bytes, files: 1, sha256: hash.digest("hex") };
}

/** Streams a client's tar into a directory: checked and re-packed on the way (see repackTar). */
export async function uploadTar(target: TransferTarget, path: string, chunks: AsyncIterable<Uint8Array>, signal: AbortSignal): Promise<UploadResult> {
  const token = randomBytes(16).toString("hex");
  const pump = await TransferProcess.start(target, uploadTarScript, [path, token], true);
  pump.drain();
  const hash = createHash("sha256");
  let bytes = 0;
  const counted = (async function* () {
    for await (const chunk of chunks) {
      hash.update(chunk);
      bytes += chunk.byteLength;
      yield chunk;
    }
    await endSettled(signal);
    if (signal.aborted) throw signal.reason;
  })();
  const local = new AbortController();
  const onAbort = () => local.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  let failure: unknown;
  let files = 0;
  try {
    const res = await repackTar(
      counted,
      async (chunk) => {
        if (!(await pump.write(chunk))) {
          // The script stopped reading: its own error explains why.
          throw new ScriptGone();
        }
      },
      `.sandboxd-commit-${token}`,
      local.signal,
    );
    files = res.files;
  } catch (err) {
    failure = err;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  pump.endStdin();
  const result = await pump.result(signal);
  if (failure !== undefined && !(failure instanceof ScriptGone)) throw signal.aborted ? signal.reason : failure;
  const line = lastLine(result.stdout);
  if (result.code !== 0 || line !== "OK") throw scriptError(line, result.stderr, result.code);
  return { bytes, files, sha256: hash.digest("hex") };
}

class ScriptGone extends Error {}

const settleTurns = 20;
const settleMinMs = 250;
const settleMaxMs = 2000;

/**
 * A cancelled upload must never land, but its end can look like a clean one: Node's HTTP/2
 * client ends its stream (END_STREAM) and then resets it, and grpc-js reports the end to
 * the handler before it reports the cancellation (measured here: 15–90 ms later on a loaded
 * machine). So an upload is committed only after a settling pause (at least 250 ms and 20
 * event-loop turns, at most 2 s) without cancellation. A client that really finished waits
 * for the response meanwhile; the pause is the price of never committing a cut-off file.
 * (The adapter could tell at once: the HTTP/2 stream emits 'aborted' on the reset, but
 * grpc-js does not expose it to handlers.)
 */
async function endSettled(signal: AbortSignal): Promise<void> {
  // The reset reaches grpc-js's cancel notification after a few event-loop turns (the
  // stream's writable side has to finish first); count turns, not only time, so a loaded
  // daemon waits longer.
  const started = Date.now();
  for (let turn = 0; !signal.aborted; turn++) {
    const waited = Date.now() - started;
    if ((turn >= settleTurns && waited >= settleMinMs) || waited >= settleMaxMs) break;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * Streams a file, or a directory as tar, out of the sandbox: header, chunks, trailer. The
 * script's output is acknowledged to the channel only as fast as the caller consumes the
 * generator (the gRPC writer waits for 'drain'), so a slow client holds the process back
 * (at the channel's credit window) instead of the daemon buffering. Leaving the generator early kills the transfer.
 */
export async function* download(target: TransferTarget, path: string, kind: "auto" | "file" | "tar", signal: AbortSignal): AsyncGenerator<DownloadPart> {
  const run = await TransferProcess.start(target, downloadScript, [path, kind], false);
  const it = run.stdout();
  let completed = false;
  const onAbort = () => run.kill();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    // The header line comes first; anything after its newline is already content.
    let head = Buffer.alloc(0);
    let rest: Buffer | undefined;
    for (;;) {
      const n = await it.next();
      if (n.done) break;
      head = Buffer.concat([head, n.value]);
      const nl = head.indexOf(0x0a);
      if (nl >= 0) {
        rest = head.subarray(nl + 1);
        head = head.subarray(0, nl);
        break;
      }
      if (head.length > maxHeader) break;
    }
    const line = head.toString("utf8");
    const ok = /^OK (FILE|TAR) ([0-7]+) (\d+)$/.exec(line);
    if (!ok) {
      // The rest of its output (none, or what a refusal printed) up to its exit; a header
      // line that never ended is no script of ours talking: stop it.
      if (head.length > maxHeader) run.kill();
      while (!(await it.next()).done);
      const result = await run.finished;
      throw scriptError(line, result.stderr, result.code);
    }
    const isTar = ok[1] === "TAR";
    yield { type: "header", kind: isTar ? "tar" : "file", mode: parseInt(ok[2] ?? "0", 8), size: Number(ok[3]) };
    const hash = createHash("sha256");
    let bytes = 0;
    let pending: Buffer[] = rest && rest.length > 0 ? [rest] : [];
    let pendingBytes = rest?.length ?? 0;
    const flush = (): DownloadPart => {
      const data = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      hash.update(data);
      bytes += data.length;
      return { type: "chunk", data };
    };
    for (;;) {
      if (pendingBytes >= chunkBytes) yield flush();
      const n = await it.next();
      if (n.done) break;
      pending.push(n.value);
      pendingBytes += n.value.length;
    }
    if (pendingBytes > 0) yield flush();
    if (signal.aborted) throw signal.reason;
    const result = await run.finished;
    // GNU tar exits 1 when a file changed while it was read; the archive is still whole.
    if (result.code !== 0 && !(isTar && result.code === 1)) {
      throw new SandboxdError(
        ErrorCode.Unavailable,
        `reading ${path} failed with exit code ${result.code}${result.stderr ? `: ${result.stderr.trim().slice(0, 500)}` : ""}`,
        { reason: "TRANSFER_FAILED" },
      );
    }
    completed = true;
    yield { type: "trailer", bytes, sha256: hash.digest("hex") };
  } finally {
    signal.removeEventListener("abort", onAbort);
    if (!completed) run.kill();
    await it.return(undefined).catch(() => undefined);
  }
}

/** Mode bits of a FILE upload: 0 means the default 0644; anything beyond 07777 is refused. */
export function uploadMode(mode: number): number {
  if (mode === 0) return 0o644;
  if (mode > 0o7777 || mode < 0) throw invalidArgument(`mode ${mode.toString(8)} is not a file mode (at most 07777)`, { reason: "INVALID_MODE" });
  return mode;
}
