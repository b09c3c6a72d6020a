import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { CallOptions, Client } from "../../test/helpers/client.js";
import { InteractiveService } from "../../src/gen/sandboxd/v1/interactive_service_pb.js";
import { SandboxService } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";

export type { CallOptions, Client };
type MethodsOf<S> = S extends GenService<infer M extends GenServiceMethods> ? M : never;
export type SandboxClient = Client<MethodsOf<typeof SandboxService>>;
export type InteractiveClient = Client<MethodsOf<typeof InteractiveService>>;

export interface ConnectionOptions {
  /**
   * Give this client its own HTTP/2 connection. grpc-js otherwise shares one connection
   * among all channels to the same address with the same options, so "32 clients" would be
   * 32 streams on one socket instead of 32 sockets.
   */
  ownConnection?: boolean;
}

function meta(options?: CallOptions): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(options?.metadata ?? {})) m.set(k, v);
  return m;
}

function callOpts(options?: CallOptions): grpc.CallOptions {
  return options?.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
}

/**
 * The same typed client as test/helpers/client.ts (same call shapes, so the harness's
 * `collect()` works on it), plus a choice of connection: the load and bench drivers need
 * many independent connections.
 */
export function createClient<M extends GenServiceMethods>(service: GenService<M>, address: string, conn: ConnectionOptions = {}): Client<M> {
  const desc = service as unknown as DescService;
  const channelOptions: grpc.ChannelOptions = {
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
  };
  if (conn.ownConnection) channelOptions["grpc.use_local_subchannel_pool"] = 1;
  const channel = new grpc.Client(address, grpc.credentials.createInsecure(), channelOptions);
  const out: Record<string, unknown> = { close: () => channel.close() };
  for (const method of desc.methods) {
    const path = `/${desc.typeName}/${method.name}`;
    const ser = (m: MessageInitShape<DescMessage>) => Buffer.from(toBinary(method.input, create(method.input, m)));
    const de = (b: Buffer) => fromBinary(method.output, b);
    switch (method.methodKind) {
      case "unary":
        out[method.localName] = (req: MessageInitShape<DescMessage>, o?: CallOptions) =>
          new Promise((resolve, reject) => {
            const call = channel.makeUnaryRequest(path, ser, de, req, meta(o), callOpts(o), (err, res) => (err ? reject(err) : resolve(res)));
            o?.signal?.addEventListener("abort", () => call.cancel(), { once: true });
          });
        break;
      case "server_streaming":
        out[method.localName] = (req: MessageInitShape<DescMessage>, o?: CallOptions) => {
          const call = channel.makeServerStreamRequest(path, ser, de, req, meta(o), callOpts(o));
          o?.signal?.addEventListener("abort", () => call.cancel(), { once: true });
          return { [Symbol.asyncIterator]: () => call[Symbol.asyncIterator](), cancel: () => call.cancel() };
        };
        break;
      case "client_streaming":
        out[method.localName] = (reqs: AsyncIterable<MessageInitShape<DescMessage>> | Iterable<MessageInitShape<DescMessage>>, o?: CallOptions) =>
          new Promise((resolve, reject) => {
            const call = channel.makeClientStreamRequest(path, ser, de, meta(o), callOpts(o), (err, res) => (err ? reject(err) : resolve(res)));
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
          const call = channel.makeBidiStreamRequest(path, ser, de, meta(o), callOpts(o));
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

export function sandboxClient(address: string, conn: ConnectionOptions = {}): SandboxClient {
  return createClient(SandboxService, address, conn);
}

export function interactiveClient(address: string, conn: ConnectionOptions = {}): InteractiveClient {
  return createClient(InteractiveService, address, conn);
}
