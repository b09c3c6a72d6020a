import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { Code, SandboxdError, toSandboxdError } from "./errors.js";

/** Options every call takes. */
export interface CallOptions {
  /** Cancels the call; a run whose call is cancelled is cancelled on the daemon too. */
  signal?: AbortSignal;
  /** Milliseconds until the call fails with DEADLINE_EXCEEDED. */
  timeoutMs?: number;
  /** Extra request metadata. */
  headers?: Record<string, string>;
}

type Unary<I extends DescMessage, O extends DescMessage> = (req: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>;
type ServerStream<I extends DescMessage, O extends DescMessage> = (req: MessageInitShape<I>, options?: CallOptions) => AsyncIterable<MessageShape<O>>;
type ClientStream<I extends DescMessage, O extends DescMessage> = (
  reqs: AsyncIterable<MessageInitShape<I>> | Iterable<MessageInitShape<I>>,
  options?: CallOptions,
) => Promise<MessageShape<O>>;
type MethodFn<M> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? Unary<I, O>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ServerStream<I, O>
    : M extends { methodKind: "client_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? ClientStream<I, O>
      : M extends { methodKind: "bidi_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
        ? BidiStream<I, O>
        : never;

/**
 * A bidirectional call: iterate it for the responses (once), `send` requests while it is
 * open, `end` half-closes the request side, `cancel` ends the call.
 */
export interface BidiCall<I, O> extends AsyncIterable<O> {
  send(request: I): void;
  end(): void;
  cancel(): void;
}
type BidiStream<I extends DescMessage, O extends DescMessage> = (options?: CallOptions) => BidiCall<MessageInitShape<I>, MessageShape<O>>;

/** A typed stub: one function per RPC. */
export type Stub<M extends GenServiceMethods> = { [K in keyof M]: MethodFn<M[K]> };

export interface TransportOptions {
  address: string;
  token?: string | undefined;
  credentials?: grpc.ChannelCredentials | undefined;
  channelOptions?: grpc.ChannelOptions | undefined;
}

function abortError(signal: AbortSignal): SandboxdError {
  const reason: unknown = signal.reason;
  return new SandboxdError(Code.Cancelled, reason instanceof Error ? reason.message : "the call was aborted", { reason: "ABORTED", cause: reason });
}

/** One channel to the daemon; stubs for any service descriptor share it. */
export class Transport {
  readonly channel: grpc.Client;
  readonly #token: string | undefined;

  constructor(options: TransportOptions) {
    this.#token = options.token;
    this.channel = new grpc.Client(options.address, options.credentials ?? grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      "grpc.max_send_message_length": 64 * 1024 * 1024,
      "grpc.primary_user_agent": "sandboxd-typescript/0.1",
      ...options.channelOptions,
    });
  }

  close(): void {
    this.channel.close();
  }

  #metadata(options?: CallOptions): grpc.Metadata {
    const m = new grpc.Metadata();
    if (this.#token) m.set("authorization", `Bearer ${this.#token}`);
    for (const [k, v] of Object.entries(options?.headers ?? {})) m.set(k, v);
    return m;
  }

  #callOptions(options?: CallOptions): grpc.CallOptions {
    return options?.timeoutMs ? { deadline: Date.now() + options.timeoutMs } : {};
  }

  stub<M extends GenServiceMethods>(service: GenService<M>): Stub<M> {
    const desc = service as unknown as DescService;
    const out: Record<string, unknown> = {};
    for (const method of desc.methods) {
      const path = `/${desc.typeName}/${method.name}`;
      const ser = (m: MessageInitShape<DescMessage>) => Buffer.from(toBinary(method.input, create(method.input, m)));
      const de = (b: Buffer) => fromBinary(method.output, b);
      switch (method.methodKind) {
        case "unary":
          out[method.localName] = (req: MessageInitShape<DescMessage>, o?: CallOptions) =>
            new Promise((resolve, reject) => {
              if (o?.signal?.aborted) return reject(abortError(o.signal));
              const onAbort = () => call.cancel();
              const call = this.channel.makeUnaryRequest(path, ser, de, req, this.#metadata(o), this.#callOptions(o), (err, res) => {
                o?.signal?.removeEventListener("abort", onAbort);
                if (err) reject(o?.signal?.aborted ? abortError(o.signal) : toSandboxdError(err));
                else resolve(res);
              });
              o?.signal?.addEventListener("abort", onAbort, { once: true });
            });
          break;
        case "server_streaming":
          out[method.localName] = (req: MessageInitShape<DescMessage>, o?: CallOptions) => this.#serverStream(path, ser, de, req, o);
          break;
        case "client_streaming":
          out[method.localName] = (reqs: AsyncIterable<MessageInitShape<DescMessage>> | Iterable<MessageInitShape<DescMessage>>, o?: CallOptions) =>
            new Promise((resolve, reject) => {
              if (o?.signal?.aborted) return reject(abortError(o.signal));
              let failed = false;
              const onAbort = () => call.cancel();
              const call = this.channel.makeClientStreamRequest(path, ser, de, this.#metadata(o), this.#callOptions(o), (err, res) => {
                o?.signal?.removeEventListener("abort", onAbort);
                if (failed) return;
                if (err) reject(o?.signal?.aborted ? abortError(o.signal) : toSandboxdError(err));
                else resolve(res);
              });
              o?.signal?.addEventListener("abort", onAbort, { once: true });
              void (async () => {
                try {
                  for await (const r of reqs) {
                    if (!call.write(r)) await new Promise((d) => call.once("drain", d));
                  }
                  call.end();
                } catch (e) {
                  failed = true;
                  call.cancel();
                  reject(e);
                }
              })();
            });
          break;
        case "bidi_streaming":
          out[method.localName] = (o?: CallOptions) => this.#bidiStream(path, ser, de, o);
          break;
        default:
          break;
      }
    }
    return out as Stub<M>;
  }

  async *#serverStream(
    path: string,
    ser: (m: MessageInitShape<DescMessage>) => Buffer,
    de: (b: Buffer) => unknown,
    req: MessageInitShape<DescMessage>,
    o?: CallOptions,
  ): AsyncGenerator<unknown> {
    if (o?.signal?.aborted) throw abortError(o.signal);
    const call = this.channel.makeServerStreamRequest(path, ser, de, req, this.#metadata(o), this.#callOptions(o));
    const onAbort = () => call.cancel();
    o?.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const msg of call) yield msg;
    } catch (err) {
      if (o?.signal?.aborted) throw abortError(o.signal);
      throw toSandboxdError(err);
    } finally {
      o?.signal?.removeEventListener("abort", onAbort);
      call.cancel(); // a consumer that stops early ends the call (and the run with it)
    }
  }

  #bidiStream(
    path: string,
    ser: (m: MessageInitShape<DescMessage>) => Buffer,
    de: (b: Buffer) => unknown,
    o?: CallOptions,
  ): BidiCall<MessageInitShape<DescMessage>, unknown> {
    const call = this.channel.makeBidiStreamRequest(path, ser, de, this.#metadata(o), this.#callOptions(o));
    const onAbort = () => call.cancel();
    if (o?.signal?.aborted) call.cancel();
    else o?.signal?.addEventListener("abort", onAbort, { once: true });
    // Responses are read from the start (so a failure never goes unheard) into a small
    // buffer; reading pauses while it is full, which holds the daemon back by flow control.
    const buffered: unknown[] = [];
    let failure: unknown;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    call.on("data", (m: unknown) => {
      buffered.push(m);
      if (buffered.length >= 64) call.pause();
      notify();
    });
    // grpc-js ends the readable side before it reports a failure; both end the iteration.
    call.on("error", (err: unknown) => {
      failure ??= err;
      notify();
    });
    call.on("end", () => {
      ended = true;
      notify();
    });
    call.on("status", () => {
      o?.signal?.removeEventListener("abort", onAbort);
    });
    let iterated = false;
    let halfClosed = false;
    const fail = (err: unknown) => (o?.signal?.aborted ? abortError(o.signal) : toSandboxdError(err));
    return {
      send(request) {
        if (halfClosed) throw new SandboxdError(Code.FailedPrecondition, "the request side of the call is closed", { reason: "STREAM_CLOSED" });
        call.write(request);
      },
      end() {
        if (halfClosed) return;
        halfClosed = true;
        call.end();
      },
      cancel() {
        call.cancel();
      },
      async *[Symbol.asyncIterator]() {
        if (iterated) throw new Error("a bidirectional call can be iterated once");
        iterated = true;
        try {
          for (;;) {
            if (buffered.length > 0) {
              const m = buffered.shift();
              if (buffered.length < 16) call.resume();
              yield m;
            } else if (ended && failure === undefined) {
              return;
            } else if (failure !== undefined && (ended || call.destroyed)) {
              throw fail(failure);
            } else {
              await new Promise<void>((resolve) => (wake = resolve));
            }
          }
        } finally {
          call.cancel(); // a consumer that stops early ends the call
        }
      },
    };
  }
}
