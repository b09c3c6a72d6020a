import type { RunEvent, RunExited } from "../../src/gen/sandboxd/v1/common_pb.js";
import { Stream } from "../../src/gen/sandboxd/v1/common_pb.js";

export interface Collected {
  events: RunEvent[];
  stdout: string;
  stderr: string;
  exit: RunExited;
  runId: string;
}

/** Drains a stream of `{event}` responses into what a user checks: text, exit, order. */
export async function collect(stream: AsyncIterable<{ event?: RunEvent | undefined }>): Promise<Collected> {
  const events: RunEvent[] = [];
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let exit: RunExited | undefined;
  let runId = "";
  for await (const r of stream) {
    const ev = r.event;
    if (!ev) continue;
    events.push(ev);
    const e = ev.event;
    if (e.case === "output") (e.value.stream === Stream.STDOUT ? out : err).push(Buffer.from(e.value.data));
    if (e.case === "exited") exit = e.value;
    if (e.case === "started" && !runId) runId = e.value.runId;
  }
  if (!exit) throw new Error(`stream ended without an exit event (${events.length} events)`);
  return { events, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), exit, runId };
}

/** A download stream's message (DownloadFiles, DownloadArtifact): a head, chunks, a trailer. */
interface TransferMessage {
  message: { case: string | undefined; value?: unknown };
}

/**
 * Drains a download stream: the first message's value when it is the `headCase` message, the
 * last one's when it is the trailer, and the chunks' bytes joined.
 */
export async function collectTransfer<H, T>(
  stream: AsyncIterable<TransferMessage>,
  headCase: string,
): Promise<{ head: H | undefined; trailer: T | undefined; data: Buffer }> {
  const parts: TransferMessage["message"][] = [];
  for await (const r of stream) parts.push(r.message);
  const first = parts[0];
  const last = parts[parts.length - 1];
  const head = first?.case === headCase ? (first.value as H) : undefined;
  const trailer = last?.case === "trailer" ? (last.value as T) : undefined;
  const data = Buffer.concat(parts.flatMap((p) => (p.case === "chunk" ? [Buffer.from(p.value as Uint8Array)] : [])));
  return { head, trailer, data };
}
