import { SandboxdError, ErrorCode } from "../common/errors.js";
import type { ExitKind, ProcessExit, RunningProcess } from "../runtime/process.js";
import type { OutputBudget } from "./output-budget.js";

export type Phase = "install" | "compile" | "run";
export type StreamName = "stdout" | "stderr";

/** How a run ended: a process exit's fields, for the whole run (duration and byte counts over all its steps), with its status and phase. */
export interface RunExit extends Omit<ProcessExit, "kind" | "message"> {
  status: ExitKind;
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
  /** Output before this offset was taken by this follower (and its write completed). */
  doneOffset: number;
}

/**
 * One run's event log: sequence numbers, byte offsets, a bounded replay window for
 * Attach, and live followers. Memory per run is bounded by the replay window plus what
 * followers have not taken yet, which flow control bounds: output counts as consumed once
 * every follower took it (or at once when nobody follows), and `onConsumed` returns that
 * as credit to the producer. A shared OutputBudget may trim the replay further.
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
  /** Output before this offset was consumed by every follower (monotonic). */
  private consumed = 0;
  /** No longer counted by the budget (forgotten, or a finished interactive cell). */
  private released = false;
  /** Called when `consumedOffset` advanced (the run manager returns credit to the process). */
  onConsumed: ((consumedOffset: number) => void) | undefined;

  constructor(
    readonly id: string,
    readonly sandboxId: string,
    readonly tenant: string,
    private readonly replayBytes: number,
    private readonly budget?: OutputBudget,
  ) {
    budget?.add(this);
  }

  get consumedOffset(): number {
    return this.consumed;
  }

  /** Byte offset after the last output appended so far. */
  get outputEnd(): number {
    return this.outputOffset;
  }

  get retainedBytes(): number {
    return this.retainedOutputBytes;
  }

  private retain(delta: number): void {
    this.retainedOutputBytes += delta;
    if (!this.released) this.budget?.adjust(delta);
  }

  /** Output was taken by every follower, or nobody follows (then the replay window bounds it). */
  private updateConsumed(): void {
    let target = this.outputOffset;
    for (const c of this.cursors) target = Math.min(target, c.doneOffset);
    if (target <= this.consumed) return;
    this.consumed = target;
    this.onConsumed?.(target);
  }

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
      this.retain(body.data.byteLength);
    }
    const ev: RunEvent = { seq: ++this.seq, body };
    if (body.type === "started" && !this.started) this.started = ev;
    if (body.type === "exited") {
      this.exitInfo = body.exit;
      this.finishedAt = new Date();
    }
    this.events.push(ev);
    this.trim();
    if (body.type === "output" && this.cursors.size === 0) this.updateConsumed();
    if (body.type === "exited") this.budget?.finish(this);
    this.budget?.enforce();
    const wake = this.wake;
    this.wake = new Set();
    for (const w of wake) w();
    return ev;
  }

  /**
   * Drops the oldest output beyond the replay window, never past a follower's cursor. The
   * chunk that straddles the window's start loses only its part before it, so exactly the
   * last `limit` bytes stay attachable, whatever the chunks' sizes.
   */
  private trim(limit = this.replayBytes): void {
    if (this.retainedOutputBytes <= limit) return;
    let minCursor = Infinity;
    for (const c of this.cursors) minCursor = Math.min(minCursor, c.nextSeq);
    while (this.retainedOutputBytes > limit && this.events.length > 1) {
      const first = this.events[0] as RunEvent;
      if (first.seq >= minCursor) break;
      if (first.body.type === "output" && this.retainedOutputBytes - first.body.data.byteLength < limit) {
        const body = first.body;
        const cut = this.retainedOutputBytes - limit;
        this.events[0] = { seq: first.seq, body: { ...body, data: body.data.subarray(cut), offset: body.offset + cut, streamOffset: body.streamOffset + cut } };
        this.retain(-cut);
        this.firstRetainedOffset = body.offset + cut;
        break;
      }
      this.events.shift();
      if (first.body.type === "output") {
        this.retain(-first.body.data.byteLength);
        this.firstRetainedOffset = first.body.offset + first.body.data.byteLength;
      }
    }
  }

  /** The budget's eviction: drops all replay that no follower still needs; returns the bytes freed. */
  evictReplay(): number {
    const before = this.retainedOutputBytes;
    this.trim(0);
    return before - this.retainedOutputBytes;
  }

  /** The run is forgotten: its output no longer counts against the budget. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget?.remove(this, this.retainedOutputBytes);
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
    const cursor: Cursor = { nextSeq: this.events[0]?.seq ?? this.seq + 1, doneOffset: fromOffset };
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
              this.taken(cursor, ev);
              continue;
            }
          } else if (skipping && ev.body.type !== "output" && ev.body.type !== "exited") {
            continue;
          }
          yield ev;
          // Resumed: the consumer asked for more, so it has written this event.
          this.taken(cursor, ev);
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
      this.updateConsumed();
    }
  }

  private taken(cursor: Cursor, ev: RunEvent): void {
    if (ev.body.type !== "output") return;
    cursor.doneOffset = Math.max(cursor.doneOffset, ev.body.offset + ev.body.data.byteLength);
    this.updateConsumed();
  }

  /** Kills the run's process tree; its exit reports `reason`. */
  cancel(reason: "cancelled" | "timeout" = "cancelled"): void {
    if (this.exitInfo) return;
    this.cancelReason ??= reason;
    this.process?.kill(reason);
  }
}
