import * as grpc from "@grpc/grpc-js";
import {
  fromBinary,
  toBinary,
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import type { GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { SandboxdError, ErrorCode, invalidArgument } from "../common/errors.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import type { SandboxdMetrics } from "../metrics/sandboxd-metrics.js";
import { toStatus } from "./status.js";
import { measureOutputResponse, serializeResponse } from "./output-encoding.js";

/** What every handler gets: who calls, and a signal for deadline, client cancel and shutdown. */
export interface CallContext {
  readonly signal: AbortSignal;
  readonly tenant: string;
  readonly log: Logger;
  readonly requestId: string;
  readonly method: string;
  readonly peer: string;
  readonly metadata: grpc.Metadata;
}

type Unary<I extends DescMessage, O extends DescMessage> = (req: MessageShape<I>, ctx: CallContext) => Promise<MessageInitShape<O>>;
type ServerStream<I extends DescMessage, O extends DescMessage> = (req: MessageShape<I>, ctx: CallContext) => AsyncIterable<MessageInitShape<O>>;
type ClientStream<I extends DescMessage, O extends DescMessage> = (reqs: AsyncIterable<MessageShape<I>>, ctx: CallContext) => Promise<MessageInitShape<O>>;
type BiDi<I extends DescMessage, O extends DescMessage> = (reqs: AsyncIterable<MessageShape<I>>, ctx: CallContext) => AsyncIterable<MessageInitShape<O>>;

type HandlerFor<M> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? Unary<I, O>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ServerStream<I, O>
    : M extends { methodKind: "client_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? ClientStream<I, O>
      : M extends { methodKind: "bidi_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
        ? BiDi<I, O>
        : never;

/** A service implementation; a missing method answers UNIMPLEMENTED. */
export type ServiceImpl<M extends GenServiceMethods> = { [K in keyof M]?: HandlerFor<M[K]> };

export interface AdapterOptions {
  logger: Logger;
  /** Fires on server shutdown: every running handler's signal aborts. */
  shutdownSignal: AbortSignal;
  /** Resolves the caller's tenant from metadata; throws UNAUTHENTICATED. */
  authenticate: (metadata: grpc.Metadata, peer: string) => string;
  /** Counts calls in flight, for draining. */
  tracker: CallTracker;
  /** Records every call's code and duration, and refused tokens. */
  metrics: SandboxdMetrics;
}

/** Calls in flight, so shutdown can wait for them with a grace time. */
export class CallTracker {
  private active = 0;
  private waiters: (() => void)[] = [];

  enter(): void {
    this.active++;
  }

  leave(): void {
    this.active--;
    if (this.active === 0) for (const w of this.waiters.splice(0)) w();
  }

  get inFlight(): number {
    return this.active;
  }

  idle(): Promise<void> {
    return this.active === 0 ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
}

function decode<I extends DescMessage>(schema: I, buf: Buffer): MessageShape<I> {
  try {
    return fromBinary(schema, buf);
  } catch (err) {
    throw invalidArgument(`malformed ${schema.typeName} message: ${(err as Error).message}`, { reason: "MALFORMED_MESSAGE" });
  }
}

/** The generic encoder (a run's output chunks are measured and encoded apart: writeAll). */
function encode<O extends DescMessage>(schema: O, msg: MessageInitShape<O>): Buffer {
  const bytes = toBinary(schema, create(schema, msg));
  // A view of the encoded bytes, not a copy (a run's output crosses here once per chunk).
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Reads a client stream as an async iterable without destroying the call on early return. */
async function* decodeStream<I extends DescMessage>(
  schema: I,
  call: grpc.ServerReadableStream<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer>,
): AsyncGenerator<MessageShape<I>> {
  const it = (call as unknown as { iterator(o: { destroyOnReturn: boolean }): AsyncIterable<Buffer> }).iterator({ destroyOnReturn: false });
  for await (const buf of it) yield decode(schema, buf);
}

/**
 * Builds a grpc-js service definition from a protobuf-es service descriptor and binds the
 * implementation. Messages cross the wire as raw bytes and are decoded here, so a
 * malformed message is INVALID_ARGUMENT, not a transport failure.
 */
export function bindService<M extends GenServiceMethods>(
  service: DescService & { method: { [K in keyof M]: DescMethod } },
  impl: ServiceImpl<M>,
  options: AdapterOptions,
): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  const identity = (b: Buffer) => b;
  for (const method of service.methods) {
    const path = `/${service.typeName}/${method.name}`;
    const key = method.localName as keyof M;
    definition[method.name] = {
      path,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: serializeResponse,
      responseDeserialize: identity,
      originalName: method.localName,
    };
    const handler = impl[key] as ((...args: unknown[]) => unknown) | undefined;
    implementation[method.name] = wrap(method, path, handler, options);
  }
  return { definition: definition as grpc.ServiceDefinition, implementation };
}

type AnyCall =
  | grpc.ServerUnaryCall<Buffer, Buffer>
  | grpc.ServerReadableStream<Buffer, Buffer>
  | grpc.ServerWritableStream<Buffer, Buffer>
  | grpc.ServerDuplexStream<Buffer, Buffer>;

function makeContext(call: AnyCall, path: string, options: AdapterOptions): { ctx: CallContext; done: () => void } {
  const controller = new AbortController();
  const onCancel = () => controller.abort(new SandboxdError(ErrorCode.Cancelled, "call cancelled by the client or its deadline"));
  const emitter = call as unknown as import("node:events").EventEmitter;
  emitter.on("cancelled", onCancel);
  const onShutdown = () => controller.abort(new SandboxdError(ErrorCode.Unavailable, "the daemon is shutting down"));
  options.shutdownSignal.addEventListener("abort", onShutdown, { once: true });
  const requestId = newId("req", 12);
  const peer = call.getPeer();
  let tenant: string;
  try {
    tenant = options.authenticate(call.metadata, peer);
  } catch (err) {
    const reason = err instanceof SandboxdError ? err.reason : undefined;
    options.metrics.authFailures.inc({ reason: reason === "TOKEN_MISSING" ? "missing" : reason === "TOKEN_INVALID" ? "invalid" : "other" });
    throw err;
  }
  const ctx: CallContext = {
    signal: controller.signal,
    tenant,
    log: options.logger.child({ requestId, method: path, tenant }),
    requestId,
    method: path,
    peer,
    metadata: call.metadata,
  };
  return {
    ctx,
    done: () => {
      emitter.removeListener("cancelled", onCancel);
      options.shutdownSignal.removeEventListener("abort", onShutdown);
    },
  };
}

function wrap(method: DescMethod, path: string, handler: ((...args: unknown[]) => unknown) | undefined, options: AdapterOptions): grpc.UntypedHandleCall {
  /**
   * The life of every call, whatever its shape: tracked for draining, a context with its
   * signal, the handler, and any error mapped to a status (logged, never thrown at grpc-js).
   */
  /** The same place as the per-call log line: one count and one duration per call. */
  const record = (code: string, started: number) => {
    options.metrics.grpcCalls.inc({ method: path, code });
    options.metrics.grpcCallDuration.observe((Date.now() - started) / 1000, { method: path });
  };
  const serve = async (
    call: AnyCall,
    body: (ctx: CallContext, run: (...args: unknown[]) => unknown) => Promise<void>,
    onError: (st: grpc.StatusObject) => void,
  ) => {
    options.tracker.enter();
    const started = Date.now();
    let ctxLog = options.logger;
    let requestId = "";
    try {
      const { ctx, done } = makeContext(call, path, options);
      ctxLog = ctx.log;
      requestId = ctx.requestId;
      try {
        if (!handler) throw new SandboxdError(ErrorCode.Unimplemented, `${path} is not implemented yet`);
        await body(ctx, handler);
        // Every call, one line at info: method, tenant and request id (from the context), time.
        ctxLog.info({ code: "OK", ms: Date.now() - started }, "call");
        record("OK", started);
      } finally {
        done();
      }
    } catch (err) {
      const st = toStatus(err, ctxLog, requestId);
      ctxLog.info(
        { code: grpc.status[st.code], ms: Date.now() - started, message: st.details },
        st.code === grpc.status.CANCELLED ? "call cancelled" : "call failed",
      );
      record(grpc.status[st.code], started);
      onError(st as grpc.StatusObject);
    } finally {
      options.tracker.leave();
    }
  };
  type Out = MessageInitShape<DescMessage>;
  switch (method.methodKind) {
    case "unary":
      return ((call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
        serve(
          call,
          async (ctx, run) => callback(null, encode(method.output, (await run(decode(method.input, call.request), ctx)) as Out)),
          (st) => callback(st as grpc.ServiceError),
        )) as grpc.handleUnaryCall<Buffer, Buffer>;
    case "server_streaming":
      return ((call: grpc.ServerWritableStream<Buffer, Buffer>) =>
        serve(
          call,
          async (ctx, run) => {
            await writeAll(call, method.output, run(decode(method.input, call.request), ctx) as AsyncIterable<Out>, ctx.signal);
            call.end();
          },
          (st) => call.emit("error", st),
        )) as grpc.handleServerStreamingCall<Buffer, Buffer>;
    case "client_streaming":
      return ((call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
        serve(
          call,
          async (ctx, run) => callback(null, encode(method.output, (await run(decodeStream(method.input, call), ctx)) as Out)),
          (st) => callback(st as grpc.ServiceError),
        )) as grpc.handleClientStreamingCall<Buffer, Buffer>;
    case "bidi_streaming":
      return ((call: grpc.ServerDuplexStream<Buffer, Buffer>) =>
        serve(
          call,
          async (ctx, run) => {
            await writeAll(call, method.output, run(decodeStream(method.input, call), ctx) as AsyncIterable<Out>, ctx.signal);
            call.end();
          },
          (st) => call.emit("error", st),
        )) as grpc.handleBidiStreamingCall<Buffer, Buffer>;
  }
}

/**
 * Bytes of a call's responses grpc-js may hold before they reached HTTP/2 (its own buffer
 * counts messages, 16 of them, up to 1 MiB of run output each call). A completed write is what
 * lets the producer go on (flow control, see Run), so this bounds a stalled call's buffers.
 */
const maxPendingWriteBytes = 1024 * 1024;

/** Writes every message, waiting for 'drain' so a slow client slows us instead of filling memory. */
async function writeAll(
  call: grpc.ServerWritableStream<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer>,
  schema: DescMessage,
  out: AsyncIterable<MessageInitShape<DescMessage>>,
  signal: AbortSignal,
): Promise<void> {
  let pending = 0;
  let wake: (() => void) | undefined;
  for await (const msg of out) {
    if (signal.aborted) break;
    // A run's output chunk is measured here and encoded when grpc-js frames it (serializeResponse).
    const item = measureOutputResponse(schema, msg) ?? encode(schema, msg);
    const size = Buffer.isBuffer(item) ? item.length : item.size;
    pending += size;
    const ok = call.write(item as Buffer, () => {
      pending -= size;
      if (pending <= maxPendingWriteBytes) wake?.();
    });
    if (!ok || pending > maxPendingWriteBytes) {
      // Whichever comes first: the call's end, 'drain', or the pending bytes falling under
      // the bound; every listener is removed then. Plain listeners, not once() with an
      // AbortSignal: aborting those makes an AbortError (a stack trace) per wait, and a
      // bulk run waits once per chunk.
      await new Promise<void>((resolve) => {
        const done = () => {
          wake = undefined;
          signal.removeEventListener("abort", done);
          call.removeListener("drain", done);
          resolve();
        };
        signal.addEventListener("abort", done);
        if (!ok) call.on("drain", done);
        if (pending > maxPendingWriteBytes) wake = done;
        if (signal.aborted) done();
      });
    }
  }
}
