import { SandboxdError, ErrorCode } from "../common/errors.js";
import type { ExitKind, RunningProcess } from "../runtime/process.js";

export type Phase = "install" | "compile" | "run";
export type StreamName = "stdout" | "stderr";

export interface RunExit {
  status: ExitKind;
  exitCode: number;
  signal: number;
  durationMs: number;
  stdoutBytes: number;
  stderrBytes: number;
  truncated: boolean;
  phase: Phase;
  message: string;
  kernelRestarted: boolean;
}

export interface ArtifactInfo {
  id: string;
  sandboxId: string;
  name: string;
  mimeType: string;
  format: string;
  size: number;
  width: number;
  height: number;
  dpi: number;
  index: number;
  runId: string;
  createdAt: Date;
}

export type RunEventBody =
  | { type: "started"; runId: string; pid: number; phase: Phase; sandboxId: string }
  | { type: "output"; stream: StreamName; data: Uint8Array; offset: number; streamOffset: number; phase: Phase }
  | { type: "artifact"; artifact: ArtifactInfo }
  | { type: "display"; data: Record<string, Uint8Array>; metadataJson: string; artifactId: string }
  | { type: "result"; executionCount: number; data: Record<string, Uint8Array> }
  | { type: "error"; name: string; value: string; traceback: string[] }
  | { type: "exited"; exit: RunExit };

export interface RunEvent {
  seq: number;
  body: RunEventBody;
}

interface Cursor {
  nextSeq: number;
}

/**
 * One run's event log: sequence numbers, byte offsets, a bounded replay window for
 * Attach, and live followers. Memory per run is bounded by the output cap (the agent drops
 * output beyond it) plus the window kept for followers that have not caught up.
 */
export class Run {
  readonly createdAt = new Date();
  private readonly events: RunEvent[] = [];
  private seq = 0;
  private outputOffset = 0;
  private readonly streamOffsets = { stdout: 0, stderr: 0 };
  private retainedOutputBytes = 0;
  /** Offset of the first output byte still retained. */
  private firstRetainedOffset = 0;
  private started: RunEvent | undefined;
  private readonly cursors = new Set<Cursor>();
  private wake = new Set<() => void>();
  private exitInfo: RunExit | undefined;
  /** The process of the current phase, for signals and stdin. */
  process: RunningProcess | undefined;
  private cancelReason: "cancelled" | "timeout" | undefined;
  finishedAt: Date | undefined;

  constructor(
    readonly id: string,
    readonly sandboxId: string,
    readonly tenant: string,
    private readonly replayBytes: number,
  ) {}

  get exit(): RunExit | undefined {
    return this.exitInfo;
  }

  get done(): boolean {
    return this.exitInfo !== undefined;
  }

  get cancelled(): "cancelled" | "timeout" | undefined {
    return this.cancelReason;
  }

  append(body: RunEventBody): RunEvent {
    if (this.exitInfo) return { seq: this.seq, body };
    if (body.type === "output") {
      body.offset = this.outputOffset;
      body.streamOffset = this.streamOffsets[body.stream];
      this.outputOffset += body.data.byteLength;
      this.streamOffsets[body.stream] += body.data.byteLength;
      this.retainedOutputBytes += body.data.byteLength;
    }
    const ev: RunEvent = { seq: ++this.seq, body };
    if (body.type === "started" && !this.started) this.started = ev;
    if (body.type === "exited") {
      this.exitInfo = body.exit;
      this.finishedAt = new Date();
    }
    this.events.push(ev);
    this.trim();
    const wake = this.wake;
    this.wake = new Set();
    for (const w of wake) w();
    return ev;
  }

  /** Drops the oldest output beyond the replay window, never past a follower's cursor. */
  private trim(): void {
    if (this.retainedOutputBytes <= this.replayBytes) return;
    let minCursor = Infinity;
    for (const c of this.cursors) minCursor = Math.min(minCursor, c.nextSeq);
    while (this.retainedOutputBytes > this.replayBytes && this.events.length > 1) {
      const first = this.events[0] as RunEvent;
      if (first.seq >= minCursor) break;
      this.events.shift();
      if (first.body.type === "output") {
        this.retainedOutputBytes -= first.body.data.byteLength;
        this.firstRetainedOffset = first.body.offset + first.body.data.byteLength;
      }
    }
  }

  get firstAvailableOffset(): number {
    return this.firstRetainedOffset;
  }

  /**
   * Events from byte offset `fromOffset` on, then live ones until the run exits. The run's
   * `started` event always comes first. OUT_OF_RANGE when that offset was already dropped.
   */
  async *follow(fromOffset: number, signal: AbortSignal): AsyncGenerator<RunEvent> {
    if (fromOffset < this.firstRetainedOffset || fromOffset > this.outputOffset) {
      throw new SandboxdError(
        ErrorCode.OutOfRange,
        fromOffset > this.outputOffset
          ? `offset ${fromOffset} is beyond the run's output (${this.outputOffset} bytes so far)`
          : `output before offset ${this.firstRetainedOffset} is no longer kept (asked for ${fromOffset})`,
        { reason: "OFFSET_UNAVAILABLE", metadata: { first_available_offset: String(this.firstRetainedOffset), end_offset: String(this.outputOffset) } },
      );
    }
    const cursor: Cursor = { nextSeq: this.events[0]?.seq ?? this.seq + 1 };
    this.cursors.add(cursor);
    try {
      const startedFirst = this.started;
      if (startedFirst) yield startedFirst;
      let skipping = fromOffset > 0;
      for (;;) {
        const head = this.events[0];
        if (head && cursor.nextSeq < head.seq) cursor.nextSeq = head.seq;
        const idx = head ? cursor.nextSeq - head.seq : 0;
        const ev = this.events[idx];
        if (ev) {
          cursor.nextSeq = ev.seq + 1;
          if (ev === startedFirst) continue;
          if (skipping && ev.body.type === "output") {
            const end = ev.body.offset + ev.body.data.byteLength;
            if (end <= fromOffset) continue;
            skipping = false;
            if (ev.body.offset < fromOffset) {
              const cut = fromOffset - ev.body.offset;
              yield { seq: ev.seq, body: { ...ev.body, data: ev.body.data.subarray(cut), offset: fromOffset, streamOffset: ev.body.streamOffset + cut } };
              continue;
            }
          } else if (skipping && ev.body.type !== "output" && ev.body.type !== "exited") {
            continue;
          }
          yield ev;
          if (ev.body.type === "exited") return;
          continue;
        }
        if (this.exitInfo) return;
        if (signal.aborted) return;
        await new Promise<void>((resolve) => {
          const done = () => {
            signal.removeEventListener("abort", done);
            this.wake.delete(done);
            resolve();
          };
          this.wake.add(done);
          signal.addEventListener("abort", done, { once: true });
        });
        // A follower that was behind keeps its events; trimming waits for it.
        this.trim();
      }
    } finally {
      this.cursors.delete(cursor);
      this.trim();
    }
  }

  /** Kills the run's process tree; its exit reports `reason`. */
  cancel(reason: "cancelled" | "timeout" = "cancelled"): void {
    if (this.exitInfo) return;
    this.cancelReason ??= reason;
    this.process?.kill(reason);
  }
}
