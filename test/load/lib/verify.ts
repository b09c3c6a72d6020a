import { createHash } from "node:crypto";
import { ExitStatus, Stream, type RunEvent } from "../../../src/gen/sandboxd/v1/common_pb.js";

export const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

export interface ExpectedRun {
  stdout: Buffer;
  stderr: Buffer;
  status: ExitStatus;
  exitCode?: number;
  /** Cells may not start with a `started` event; runs do. */
  startedFirst?: boolean;
}

export interface StreamCheck {
  problems: string[];
  stdoutBytes: number;
  stderrBytes: number;
  events: number;
}

/**
 * What "zero lost or reordered output bytes" means for one stream of events:
 * seq numbers 1, 2, 3, ... with no gap or repeat (keepalives, seq 0, aside); output offsets
 * contiguous over both streams and per stream; the bytes of each stream equal to the
 * expected ones (length and SHA-256); exactly one exit, last, whose byte counts agree.
 */
export function checkRunEvents(events: readonly RunEvent[], want: ExpectedRun): StreamCheck {
  const problems: string[] = [];
  const real = events.filter((e) => e.event.case !== "keepalive");
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let offset = 0;
  const streamOffsets: Record<number, number> = { [Stream.STDOUT]: 0, [Stream.STDERR]: 0 };
  real.forEach((e, i) => {
    if (Number(e.seq) !== i + 1) problems.push(`event ${i} has seq ${e.seq}, expected ${i + 1}`);
  });
  if (want.startedFirst !== false && real[0]?.event.case !== "started") problems.push(`first event is ${real[0]?.event.case ?? "missing"}, expected started`);
  const exits = real.filter((e) => e.event.case === "exited");
  if (exits.length !== 1) problems.push(`${exits.length} exited events`);
  if (real[real.length - 1]?.event.case !== "exited") problems.push(`last event is ${real[real.length - 1]?.event.case ?? "missing"}, expected exited`);
  for (const e of real) {
    if (e.event.case !== "output") continue;
    const o = e.event.value;
    if (Number(o.offset) !== offset) problems.push(`output at offset ${o.offset}, expected ${offset}`);
    const so = streamOffsets[o.stream] ?? 0;
    if (Number(o.streamOffset) !== so) problems.push(`stream ${o.stream} output at stream offset ${o.streamOffset}, expected ${so}`);
    offset += o.data.byteLength;
    streamOffsets[o.stream] = so + o.data.byteLength;
    (o.stream === Stream.STDERR ? err : out).push(Buffer.from(o.data));
  }
  const stdout = Buffer.concat(out);
  const stderr = Buffer.concat(err);
  if (stdout.length !== want.stdout.length || sha256(stdout) !== sha256(want.stdout)) {
    problems.push(
      `stdout differs: ${stdout.length} bytes (sha256 ${sha256(stdout).slice(0, 12)}), expected ${want.stdout.length} (${sha256(want.stdout).slice(0, 12)}); first difference at ${firstDifference(stdout, want.stdout)}`,
    );
  }
  if (stderr.length !== want.stderr.length || sha256(stderr) !== sha256(want.stderr)) {
    problems.push(
      `stderr differs: ${stderr.length} bytes, expected ${want.stderr.length}; first difference at ${firstDifference(stderr, want.stderr)}; got ${JSON.stringify(stderr.subarray(0, 300).toString())}`,
    );
  }
  const exit = exits[0]?.event.case === "exited" ? exits[0].event.value : undefined;
  if (exit) {
    if (exit.status !== want.status) problems.push(`exit status ${ExitStatus[exit.status]}, expected ${ExitStatus[want.status]} (${exit.message})`);
    if (want.exitCode !== undefined && exit.exitCode !== want.exitCode) problems.push(`exit code ${exit.exitCode}, expected ${want.exitCode}`);
    if (exit.truncated) problems.push("exit says truncated");
    if (Number(exit.stdoutBytes) !== stdout.length) problems.push(`exit.stdout_bytes ${exit.stdoutBytes}, received ${stdout.length}`);
    if (Number(exit.stderrBytes) !== stderr.length) problems.push(`exit.stderr_bytes ${exit.stderrBytes}, received ${stderr.length}`);
  }
  return { problems, stdoutBytes: stdout.length, stderrBytes: stderr.length, events: real.length };
}

export function firstDifference(a: Uint8Array, b: Uint8Array): number | "none" {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? "none" : n;
}

/** Drains a server stream of `{event}` messages into events, without judging them. */
export async function drain(stream: AsyncIterable<{ event?: RunEvent | undefined }>): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  for await (const m of stream) if (m.event) events.push(m.event);
  return events;
}
