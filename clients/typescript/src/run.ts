import { ExitStatus, RunPhase, Stream, type Artifact, type CellError, type DisplayData, type RunEvent } from "./gen/sandboxd/v1/common_pb.js";

export type ExitStatusName = "EXITED" | "TIMEOUT" | "KILLED" | "OOM" | "CANCELLED" | "LOST" | "UNSPECIFIED";

/** What a finished run left: its output, how it ended, what it produced. */
export interface RunResult {
  runId: string;
  /** stdout as UTF-8 text (install-phase output excluded). */
  stdout: string;
  stderr: string;
  /** The exact bytes, for programs whose output is not text. */
  stdoutBytes: Uint8Array;
  stderrBytes: Uint8Array;
  status: ExitStatusName;
  exitCode: number;
  /** The signal that ended the process (KILLED, TIMEOUT, OOM). */
  signal: number;
  durationMs: number;
  truncated: boolean;
  /** Which step the run ended in: install, compile or run. */
  phase: "INSTALL" | "COMPILE" | "RUN" | "UNSPECIFIED";
  message: string;
  /** The run's own peak memory (largest resident set of its processes, as reaped) and CPU time; 0 where not measured. */
  peakMemoryBytes: number;
  cpuTimeMs: number;
  artifacts: Artifact[];
  displays: DisplayData[];
  errors: CellError[];
  /** Every event, in order (keepalives excluded). */
  events: RunEvent[];
  /** True when the process exited by itself with code 0 (and raised nothing). */
  ok: boolean;
}

export interface OutputCallbacks {
  onStdout?: (text: string, data: Uint8Array) => void;
  onStderr?: (text: string, data: Uint8Array) => void;
  onEvent?: (event: RunEvent) => void;
}

/** Folds events into a RunResult; callbacks see output as it arrives. */
export class RunCollector {
  readonly #out: Uint8Array[] = [];
  readonly #err: Uint8Array[] = [];
  readonly #decoders = { out: new TextDecoder(), err: new TextDecoder() };
  readonly events: RunEvent[] = [];
  readonly artifacts: Artifact[] = [];
  readonly displays: DisplayData[] = [];
  readonly errors: CellError[] = [];
  runId = "";
  exited: Extract<RunEvent["event"], { case: "exited" }>["value"] | undefined;

  constructor(private readonly callbacks: OutputCallbacks = {}) {}

  feed(ev: RunEvent): void {
    const e = ev.event;
    if (e.case === "keepalive") return;
    this.events.push(ev);
    this.callbacks.onEvent?.(ev);
    switch (e.case) {
      case "started":
        this.runId ||= e.value.runId;
        break;
      case "output": {
        if (e.value.phase === RunPhase.INSTALL) break;
        const isErr = e.value.stream === Stream.STDERR;
        (isErr ? this.#err : this.#out).push(e.value.data);
        const text = (isErr ? this.#decoders.err : this.#decoders.out).decode(e.value.data, { stream: true });
        if (isErr) this.callbacks.onStderr?.(text, e.value.data);
        else this.callbacks.onStdout?.(text, e.value.data);
        break;
      }
      case "artifact":
        this.artifacts.push(e.value);
        break;
      case "display":
        this.displays.push(e.value);
        break;
      case "error":
        this.errors.push(e.value);
        break;
      case "exited":
        this.exited = e.value;
        break;
      default:
        break;
    }
  }

  result(): RunResult {
    const ex = this.exited;
    const stdoutBytes = concat(this.#out);
    const stderrBytes = concat(this.#err);
    const status = (ex ? ExitStatus[ex.status] : "LOST") as ExitStatusName;
    const exitCode = ex?.exitCode ?? -1;
    return {
      runId: this.runId,
      stdout: new TextDecoder().decode(stdoutBytes),
      stderr: new TextDecoder().decode(stderrBytes),
      stdoutBytes,
      stderrBytes,
      status,
      exitCode,
      signal: ex?.signal ?? 0,
      durationMs: ex?.durationMs ?? 0,
      truncated: ex?.truncated ?? false,
      phase: (ex ? RunPhase[ex.phase] : "UNSPECIFIED") as RunResult["phase"],
      message: ex?.message ?? "the stream ended without an exit event",
      peakMemoryBytes: Number(ex?.peakMemoryBytes ?? 0n),
      cpuTimeMs: Number(ex?.cpuTimeMs ?? 0n),
      artifacts: this.artifacts,
      displays: this.displays,
      errors: this.errors,
      events: this.events,
      ok: status === "EXITED" && exitCode === 0 && this.errors.length === 0,
    };
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * A run in flight: iterate it for the events as they happen, or await `result()` for the
 * outcome. Iterate at most once; `result()` drains what iteration left.
 */
export class Execution implements AsyncIterable<RunEvent> {
  readonly #events: AsyncIterator<RunEvent>;
  readonly #collector: RunCollector;
  #consumed = false;
  #result: Promise<RunResult> | undefined;

  constructor(events: AsyncIterable<RunEvent>, callbacks: OutputCallbacks = {}) {
    this.#events = events[Symbol.asyncIterator]();
    this.#collector = new RunCollector(callbacks);
  }

  /** The run id, once the `started` event has been seen. */
  get runId(): string {
    return this.#collector.runId;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<RunEvent> {
    if (this.#consumed) throw new Error("an Execution can be iterated once");
    this.#consumed = true;
    try {
      for (;;) {
        const next = await this.#events.next();
        if (next.done) return;
        this.#collector.feed(next.value);
        if (next.value.event.case !== "keepalive") yield next.value;
      }
    } finally {
      await this.#events.return?.();
    }
  }

  /** Waits for the run to end; resolves for every exit status (check `status`). */
  result(): Promise<RunResult> {
    this.#result ??= (async () => {
      if (!this.#consumed) {
        for await (const _ of this) {
          // the collector keeps everything
        }
      }
      return this.#collector.result();
    })();
    return this.#result;
  }

  /** Stops reading: the call is cancelled, and the run with it (unless detached). */
  async cancel(): Promise<void> {
    await this.#events.return?.();
  }
}
