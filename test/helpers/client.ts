import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";

type Unary<I extends DescMessage, O extends DescMessage> = (req: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>;
type ServerStream<I extends DescMessage, O extends DescMessage> = (
  req: MessageInitShape<I>,
  options?: CallOptions,
) => AsyncIterable<MessageShape<O>> & { cancel(): void };
type ClientStream<I extends DescMessage, O extends DescMessage> = (
  reqs: AsyncIterable<MessageInitShape<I>> | Iterable<MessageInitShape<I>>,
  options?: CallOptions,
) => Promise<MessageShape<O>>;
type BiDi<I extends DescMessage, O extends DescMessage> = (options?: CallOptions) => {
  send(msg: MessageInitShape<I>): void;
  end(): void;
  cancel(): void;
  responses: AsyncIterable<MessageShape<O>>;
};

type MethodFn<M> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? Unary<I, O>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ServerStream<I, O>
    : M extends { methodKind: "client_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? ClientStream<I, O>
      : M extends { methodKind: "bidi_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
        ? BiDi<I, O>
        : never;

export type Client<M extends GenServiceMethods> = { [K in keyof M]: MethodFn<M[K]> } & { close(): void };

export interface CallOptions {
  deadlineMs?: number;
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

function meta(options?: CallOptions): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(options?.metadata ?? {})) m.set(k, v);
  return m;
}

function callOpts(options?: CallOptions): grpc.CallOptions {
  return options?.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
}

/** A typed grpc-js client for a protobuf-es service descriptor (tests only). */
export function createClient<M extends GenServiceMethods>(
  service: GenService<M>,
  address: string,
  defaults: CallOptions = {},
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  channelOptions: grpc.ChannelOptions = {},
): Client<M> {
  const desc = service as unknown as DescService;
  const channel = new grpc.Client(address, credentials, {
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
    ...channelOptions,
  });
  const out: Record<string, unknown> = { close: () => channel.close() };
  for (const method of desc.methods) {
    const path = `/${desc.typeName}/${method.name}`;
    const ser = (m: MessageInitShape<DescMessage>) => Buffer.from(toBinary(method.input, create(method.input, m)));
    const de = (b: Buffer) => fromBinary(method.output, b);
    const merged = (o?: CallOptions): CallOptions => ({ ...defaults, ...o, metadata: { ...defaults.metadata, ...o?.metadata } });
    switch (method.methodKind) {
      case "unary":
        out[method.localName] = (req: MessageInitShape<DescMessage>, o?: CallOptions) =>
          new Promise((resolve, reject) => {
            const call = channel.makeUnaryRequest(path, ser, de, req, meta(merged(o)), callOpts(merged(o)), (err, res) => (err ? reject(err) : resolve(res)));
            o?.signal?.addEventListener("abort", () => call.cancel());
          });
        break;
      case "server_streaming":
        out[method.localName] = (req: MessageInitShape<DescMessage>, o?: CallOptions) => {
          const call = channel.makeServerStreamRequest(path, ser, de, req, meta(merged(o)), callOpts(merged(o)));
          o?.signal?.addEventListener("abort", () => call.cancel());
          return { [Symbol.asyncIterator]: () => call[Symbol.asyncIterator](), cancel: () => call.cancel() };
        };
        break;
      case "client_streaming":
        out[method.localName] = (reqs: AsyncIterable<MessageInitShape<DescMessage>>, o?: CallOptions) =>
          new Promise((resolve, reject) => {
            const call = channel.makeClientStreamRequest(path, ser, de, meta(merged(o)), callOpts(merged(o)), (err, res) => (err ? reject(err) : resolve(res)));
            void (async () => {
              try {
                for await (const r of reqs) {
                  if (!call.write(r)) await new Promise((d) => call.once("drain", d));
                }
                call.end();
              } catch (e) {
                call.cancel();
                reject(e);
              }
            })();
          });
        break;
      case "bidi_streaming":
        out[method.localName] = (o?: CallOptions) => {
          const call = channel.makeBidiStreamRequest(path, ser, de, meta(merged(o)), callOpts(merged(o)));
          return {
            send: (m: MessageInitShape<DescMessage>) => call.write(m),
            end: () => call.end(),
            cancel: () => call.cancel(),
            responses: { [Symbol.asyncIterator]: () => call[Symbol.asyncIterator]() },
          };
        };
        break;
    }
  }
  return out as Client<M>;
}
