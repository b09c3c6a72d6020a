import type { MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Code, SandboxdError } from "./errors.js";
import { ExitStatus } from "./gen/sandboxd/v1/common_pb.js";
import type { TerminalRequestSchema, TerminalResponseSchema } from "./gen/sandboxd/v1/terminal_service_pb.js";
import type { ExitStatusName } from "./run.js";
import type { BidiCall, CallOptions } from "./transport.js";

/** Bytes of input per message (the daemon's limit): longer writes are split. */
const inputChunk = 64 * 1024;

export interface TerminalOptions extends CallOptions {
  /** The program; default: the image's shell (bash if it has one, else sh). */
  argv?: string[];
  rows?: number;
  cols?: number;
  env?: Record<string, string>;
  cwd?: string;
  /** How long the terminal waits for a client to attach again (ms); 0: the daemon's default. */
  graceMs?: number;
  /** Called with every output chunk, as it arrives (then the terminal is not iterated). */
  onOutput?: (data: Uint8Array) => void;
}

export interface AttachTerminalOptions extends CallOptions {
  /** Replay from this output offset (what you already have); 0: all the daemon kept. */
  offset?: number;
  onOutput?: (data: Uint8Array) => void;
}

export interface TerminalExit {
  status: ExitStatusName;
  exitCode: number;
  signal: number;
  message: string;
}

type Call = BidiCall<MessageInitShape<typeof TerminalRequestSchema>, MessageShape<typeof TerminalResponseSchema>>;

/**
 * A terminal in a sandbox: a pseudo-terminal the daemon's agent made, with a program on it.
 * Write keystrokes, read what it draws (`for await (const chunk of term)` or onOutput),
 * resize it, signal its foreground job, `wait()` for its exit. `detach()` leaves it running
 * (for its grace period); `client.attachTerminal(id)` gets it back with its recent output.
 */
export class Terminal implements AsyncDisposable, AsyncIterable<Uint8Array> {
  id = "";
  sandboxId = "";
  pid = 0;
  /** Offset just past the output received: attach with it to skip what you have. */
  offset = 0;
  readonly #call: Call;
  readonly #onOutput: ((data: Uint8Array) => void) | undefined;
  readonly #chunks: Uint8Array[] = [];
  #wake: (() => void) | undefined;
  #ended = false;
  #failure: unknown;
  #exit: TerminalExit | undefined;
  readonly #done: Promise<void>;
  readonly #opened: Promise<void>;

  /** Use SandboxdClient.openTerminal / attachTerminal or Sandbox.terminal. */
  constructor(call: Call, onOutput?: (data: Uint8Array) => void) {
    this.#call = call;
    this.#onOutput = onOutput;
    let opened: () => void = () => undefined;
    let refused: (e: unknown) => void = () => undefined;
    this.#opened = new Promise<void>((resolve, reject) => {
      opened = resolve;
      refused = reject;
    });
    this.#opened.catch(() => undefined);
    this.#done = (async () => {
      try {
        for await (const r of call) {
          const e = r.event;
          if (e.case === "opened") {
            this.id = e.value.terminalId;
            this.sandboxId = e.value.sandboxId;
            this.pid = e.value.pid;
            this.offset = Number(e.value.offset);
            opened();
          } else if (e.case === "output") {
            this.offset = Number(e.value.offset) + e.value.data.byteLength;
            if (this.#onOutput) this.#onOutput(e.value.data);
            else this.#chunks.push(e.value.data);
            this.#notify();
          } else if (e.case === "exit") {
            const x = e.value;
            this.#exit = { status: (ExitStatus[x.status] ?? "UNSPECIFIED") as ExitStatusName, exitCode: x.exitCode, signal: x.signal, message: x.message };
          }
        }
      } catch (err) {
        this.#failure = err;
        refused(err);
      } finally {
        this.#ended = true;
        refused(new SandboxdError(Code.Unavailable, "the terminal stream ended before it opened", { reason: "TERMINAL_STREAM_ENDED" }));
        this.#notify();
      }
    })();
  }

  /** Resolves once the daemon opened (or attached) the terminal; rejects with its refusal. */
  ready(): Promise<void> {
    return this.#opened;
  }

  #notify(): void {
    this.#wake?.();
    this.#wake = undefined;
  }

  #send(message: NonNullable<MessageInitShape<typeof TerminalRequestSchema>["message"]>): void {
    if (this.#ended) return;
    this.#call.send({ message });
  }

  /** Keystrokes (or any bytes) for the terminal's input. */
  write(data: string | Uint8Array): void {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    for (let at = 0; at < bytes.byteLength; at += inputChunk) this.#send({ case: "input", value: bytes.subarray(at, at + inputChunk) });
  }

  /** The window's new size; the program gets SIGWINCH. */
  resize(rows: number, cols: number): void {
    this.#send({ case: "resize", value: { rows, cols } });
  }

  /** A signal (SIGINT, SIGTERM, ...) for the terminal's foreground job. */
  signal(name: string): void {
    this.#send({ case: "signal", value: name });
  }

  /** Ends the terminal: its processes are killed; wait() then gives the exit. */
  close(): void {
    this.#send({ case: "close", value: {} });
  }

  /** Leaves the terminal running on the daemon (for its grace period) and ends this stream. */
  detach(): void {
    this.#call.cancel();
  }

  /** The output as it arrives, until the terminal exits (or the stream ends). */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      const c = this.#chunks.shift();
      if (c) {
        yield c;
        continue;
      }
      if (this.#ended) {
        if (this.#failure !== undefined && this.#exit === undefined) throw this.#failure;
        return;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** How the terminal's program ended; rejects if the stream failed (or was detached) first. */
  async wait(): Promise<TerminalExit> {
    await this.#done;
    if (this.#exit) return this.#exit;
    throw this.#failure ?? new SandboxdError(Code.Unavailable, "the terminal stream ended without an exit", { reason: "TERMINAL_STREAM_ENDED" });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#ended) this.close();
    await this.#done;
  }
}

export function openRequest(sandboxId: string, options: TerminalOptions): MessageInitShape<typeof TerminalRequestSchema> {
  return {
    message: {
      case: "open",
      value: {
        sandboxId,
        argv: options.argv ?? [],
        size: { rows: options.rows ?? 0, cols: options.cols ?? 0 },
        env: options.env ?? {},
        cwd: options.cwd ?? "",
        graceMs: options.graceMs ?? 0,
      },
    },
  };
}
