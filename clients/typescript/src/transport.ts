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
      : never;

/** A typed stub: one function per RPC (bidi methods are left out). */
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
}
