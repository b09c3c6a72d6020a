import type { MessageInitShape } from "@bufbuild/protobuf";
import type { RunEvent } from "./gen/sandboxd/v1/common_pb.js";
import type { ExecuteRequestSchema, ExecuteResponse } from "./gen/sandboxd/v1/interactive_service_pb.js";
import { Code, SandboxdError, toSandboxdError } from "./errors.js";
import { RunCollector, type OutputCallbacks, type RunResult } from "./run.js";
import type { BidiCall, CallOptions } from "./transport.js";

/** One cell for `Session.execute`: code, or code with its own id, timeout and stdin. */
export interface CellInput extends OutputCallbacks {
  code: string;
  /** Echoed on every event of the cell; default `cell-1`, `cell-2`, ... in the order sent. */
  cellId?: string;
  /** Overrides the session's cell timeout (milliseconds). */
  timeoutMs?: number;
  /** SHELL sessions: bytes given to the command's stdin (EOF after them). */
  stdin?: Uint8Array | string;
}

/** An event of an `Execute` stream, tagged with the id of the cell it belongs to. */
export interface CellEvent {
  cellId: string;
  event: RunEvent;
}

export interface ExecuteOptions extends CallOptions {
  /**
   * Milliseconds `close()` (and an abort) waits for the interrupted cells to end before it
   * cancels the call. Default 10000.
   */
  closeGraceMs?: number;
}

type Request = MessageInitShape<typeof ExecuteRequestSchema>;

interface CellState {
  collector: RunCollector;
  done: boolean;
  promise: Promise<RunResult>;
  resolve: (r: RunResult) => void;
  reject: (err: unknown) => void;
}

const encode = (v: Uint8Array | string | undefined) => (typeof v === "string" ? new TextEncoder().encode(v) : (v ?? new Uint8Array()));

/**
 * An interactive `Execute` stream on a session: cells go in (`send`), their events come out
 * in the order the cells were sent, each tagged with its cell id. Iterate it for the events
 * (keepalives left out) and/or await `cell(id)` for a cell's result; the stream reads the
 * daemon's responses whether or not it is iterated.
 *
 * The daemon keeps running a cell when its client goes away, so `close()` (also run by
 * `await using`, by an abort of the signal, and by leaving a `for await` loop early)
 * first interrupts every cell that has not ended, then cancels the call.
 */
export class ExecuteStream implements AsyncIterable<CellEvent>, AsyncDisposable {
  readonly sessionId: string;
  readonly #call: BidiCall<Request, ExecuteResponse>;
  readonly #cells = new Map<string, CellState>();
  readonly #order: string[] = [];
  readonly #graceMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => {
    if (this.#signal) this.#failure ??= abortError(this.#signal);
    this.#wakeUp();
    void this.close();
  };
  readonly #queue: CellEvent[] = [];
  #wake: (() => void) | undefined;
  #next = 1;
  #halfClosed = false;
  #finished = false;
  #failure: SandboxdError | undefined;
  #iterated = false;
  #closing: Promise<void> | undefined;
  readonly #ended: Promise<void>;

  /** @internal Session.execute makes these. */
  constructor(
    sessionId: string,
    open: (options: CallOptions) => BidiCall<Request, ExecuteResponse>,
    cells: AsyncIterable<string | CellInput> | Iterable<string | CellInput> | undefined,
    options: ExecuteOptions,
  ) {
    this.sessionId = sessionId;
    this.#graceMs = options.closeGraceMs ?? 10_000;
    this.#signal = options.signal;
    // The signal is handled here, not by the call: an abort interrupts the cells first.
    const { signal: _signal, closeGraceMs: _grace, ...callOptions } = options;
    this.#call = open(callOptions);
    this.#ended = this.#pump();
    if (this.#signal?.aborted) this.#onAbort();
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    // A plain list goes out at once (so `cell("cell-2")` works right after); an async source as it yields.
    if (cells && Symbol.iterator in cells) {
      for (const c of cells) this.send(c);
      this.end();
    } else if (cells) void this.#feed(cells);
  }

  /**
   * Queues a cell; returns its id. Cells run one at a time in the order sent. Throws once
   * the stream is half-closed (`end`) or over.
   */
  send(cell: string | CellInput, options: Omit<CellInput, "code"> = {}): string {
    const c: CellInput = typeof cell === "string" ? { ...options, code: cell } : { ...options, ...cell };
    if (this.#halfClosed || this.#finished)
      throw new SandboxdError(Code.FailedPrecondition, "the Execute stream takes no more cells", { reason: "STREAM_CLOSED" });
    let cellId = c.cellId ?? "";
    while (!cellId || (c.cellId === undefined && this.#cells.has(cellId))) cellId = `cell-${this.#next++}`;
    if (this.#cells.has(cellId))
      throw new SandboxdError(Code.InvalidArgument, `cell id ${cellId} was already sent on this stream`, { reason: "DUPLICATE_CELL_ID" });
    let resolve!: (r: RunResult) => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<RunResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined); // a result nobody asked for does not fail the process
    const callbacks: OutputCallbacks = {};
    if (c.onStdout) callbacks.onStdout = c.onStdout;
    if (c.onStderr) callbacks.onStderr = c.onStderr;
    if (c.onEvent) callbacks.onEvent = c.onEvent;
    this.#cells.set(cellId, { collector: new RunCollector(callbacks), done: false, promise, resolve, reject });
    this.#order.push(cellId);
    this.#call.send({
      sessionId: this.sessionId,
      message: { case: "cell", value: { cellId, code: c.code, timeoutMs: c.timeoutMs ?? 0, stdin: encode(c.stdin) } },
    });
    return cellId;
  }

  /**
   * Interrupts a cell: a queued one is dropped (it ends CANCELLED without running), the
   * running one is stopped. Without an id: whatever cell is running. Its outcome arrives as
   * the cell's `exited` event.
   */
  interrupt(cellId = ""): void {
    if (this.#finished) return;
    if (this.#halfClosed)
      throw new SandboxdError(Code.FailedPrecondition, "the Execute stream is half-closed (end): interrupt before ending it", { reason: "STREAM_CLOSED" });
    this.#call.send({ sessionId: this.sessionId, message: { case: "interrupt", value: { cellId } } });
  }

  /**
   * Half-closes: no more cells, and no more interrupts; the queued ones finish, then the
   * stream ends.
   */
  end(): void {
    if (this.#halfClosed) return;
    this.#halfClosed = true;
    this.#call.end();
  }

  /** The cell's result once it has ended; rejects with the stream's error if it fails first. */
  cell(cellId: string): Promise<RunResult> {
    const state = this.#cells.get(cellId);
    if (!state) return Promise.reject(new SandboxdError(Code.InvalidArgument, `no cell ${cellId} was sent on this stream`, { reason: "CELL_NOT_FOUND" }));
    return state.promise;
  }

  /** The ids of the cells sent, in order. */
  get cellIds(): readonly string[] {
    return this.#order;
  }

  /** Resolves when the daemon has ended the stream (after `end()` and the last cell), rejects with its error. */
  async done(): Promise<void> {
    await this.#ended;
    if (this.#failure) throw this.#failure;
  }

  /**
   * Interrupts every cell that has not ended (queued ones first, so none starts), half-closes
   * and waits up to `closeGraceMs` for the daemon to end the stream, then cancels the call.
   * Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (!this.#finished) {
        // After end() nothing more can be sent: the cells left run out (or the grace does).
        if (!this.#halfClosed) for (const id of [...this.#order].reverse()) if (!this.#cells.get(id)?.done) this.interrupt(id);
        this.end();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.#ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#graceMs)))]);
        clearTimeout(timer);
      }
      this.#call.cancel();
      await this.#ended;
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The events in order, keepalives left out. Iterate once; leaving early closes the stream. */
  async *[Symbol.asyncIterator](): AsyncGenerator<CellEvent> {
    if (this.#iterated) throw new Error("an ExecuteStream can be iterated once");
    this.#iterated = true;
    let complete = false;
    try {
      for (;;) {
        const ev = this.#queue.shift();
        if (ev) {
          yield ev;
          continue;
        }
        if (this.#signal?.aborted) throw this.#failure ?? abortError(this.#signal);
        if (this.#finished) {
          complete = true;
          if (this.#failure) throw this.#failure;
          return;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } finally {
      // After an abort, close() is under way already; the caller need not wait for it.
      if (!complete && !this.#signal?.aborted) await this.close();
    }
  }

  async #feed(cells: AsyncIterable<string | CellInput>): Promise<void> {
    try {
      for await (const c of cells) {
        if (this.#halfClosed || this.#finished) return;
        this.send(c);
      }
      this.end();
    } catch (err) {
      this.#failure ??= toSandboxdError(err);
      await this.close();
    }
  }

  async #pump(): Promise<void> {
    try {
      for await (const res of this.#call) {
        const event = res.event;
        if (!event || event.event.case === "keepalive") continue;
        const state = this.#cells.get(res.cellId);
        if (state) {
          state.collector.feed(event);
          if (event.event.case === "exited") {
            state.done = true;
            state.resolve(state.collector.result());
          }
        }
        this.#queue.push({ cellId: res.cellId, event });
        this.#wakeUp();
      }
    } catch (err) {
      this.#failure ??= this.#signal?.aborted ? abortError(this.#signal) : toSandboxdError(err);
    } finally {
      this.#finished = true;
      this.#signal?.removeEventListener("abort", this.#onAbort);
      for (const state of this.#cells.values()) {
        if (state.done) continue;
        state.done = true;
        if (this.#failure) state.reject(this.#failure);
        else state.resolve(state.collector.result());
      }
      this.#wakeUp();
    }
  }

  #wakeUp(): void {
    this.#wake?.();
    this.#wake = undefined;
  }
}

function abortError(signal: AbortSignal): SandboxdError {
  const reason: unknown = signal.reason;
  return new SandboxdError(Code.Cancelled, reason instanceof Error ? reason.message : "the call was aborted", { reason: "ABORTED", cause: reason });
}
