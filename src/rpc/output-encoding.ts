import type { DescMessage } from "@bufbuild/protobuf";

/**
 * A response that carries one run's output chunk (`{ event: RunEvent }` with its `output`
 * case: ExecResponse, RunResponse, AttachResponse and their kin), measured but not yet
 * encoded: its exact wire size, and the fields to write. The bytes are identical to
 * `toBinary`'s (fields in number order, proto3 defaults omitted): `output-encoding.test.ts`
 * compares them. protobuf-es's writer grows its buffer by doubling and joins its parts at the
 * end, which for a large chunk costs several copies and most of the garbage a run's output
 * makes; here the data is copied once, into a buffer of the exact size.
 */
export interface OutputResponse {
  readonly size: number;
  readonly seq: number;
  readonly stream: number;
  readonly data: Uint8Array;
  readonly offset: number;
  readonly streamOffset: number;
  readonly phase: number;
  readonly outputLen: number;
  readonly eventLen: number;
}

/** Undefined for any other message, which the generic encoder then takes. */
export function measureOutputResponse(schema: DescMessage, msg: unknown): OutputResponse | undefined {
  if (!isOutputResponse(schema)) return undefined;
  const ev = (msg as { event?: { seq?: bigint | number; event?: { case?: string; value?: OutputInit } } }).event;
  if (ev?.event?.case !== "output" || !ev.event.value) return undefined;
  const o = ev.event.value;
  const data = o.data ?? empty;
  const stream = Number(o.stream ?? 0);
  const offset = Number(o.offset ?? 0);
  const streamOffset = Number(o.streamOffset ?? 0);
  const phase = Number(o.phase ?? 0);
  const seq = Number(ev.seq ?? 0);
  if (![stream, offset, streamOffset, phase, seq].every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined;
  // Output's fields: 1 stream (varint), 2 data (bytes), 3 offset, 4 stream_offset, 5 phase.
  const outputLen =
    (stream ? 1 + varintSize(stream) : 0) +
    (data.byteLength ? 1 + varintSize(data.byteLength) + data.byteLength : 0) +
    (offset ? 1 + varintSize(offset) : 0) +
    (streamOffset ? 1 + varintSize(streamOffset) : 0) +
    (phase ? 1 + varintSize(phase) : 0);
  // RunEvent: 1 seq (varint), 3 output (message).
  const eventLen = (seq ? 1 + varintSize(seq) : 0) + 1 + varintSize(outputLen) + outputLen;
  return { size: 1 + varintSize(eventLen) + eventLen, seq, stream, data, offset, streamOffset, phase, outputLen, eventLen };
}

/** Writes the response's wire bytes at the start of `buf` (at least `r.size` long); returns them. */
function writeOutputResponse(r: OutputResponse, buf: Buffer): Buffer {
  let at = 0;
  const tag = (t: number) => {
    buf[at++] = t;
  };
  const varint = (n: number) => {
    while (n >= 0x80) {
      buf[at++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[at++] = n;
  };
  tag(0x0a); // response field 1 (event), length-delimited
  varint(r.eventLen);
  if (r.seq) {
    tag(0x08);
    varint(r.seq);
  }
  tag(0x1a); // RunEvent field 3 (output), length-delimited
  varint(r.outputLen);
  if (r.stream) {
    tag(0x08);
    varint(r.stream);
  }
  if (r.data.byteLength) {
    tag(0x12);
    varint(r.data.byteLength);
    buf.set(r.data, at);
    at += r.data.byteLength;
  }
  if (r.offset) {
    tag(0x18);
    varint(r.offset);
  }
  if (r.streamOffset) {
    tag(0x20);
    varint(r.streamOffset);
  }
  if (r.phase) {
    tag(0x28);
    varint(r.phase);
  }
  if (at !== r.size) throw new Error(`output response encoded to ${at} bytes, measured ${r.size}`);
  return buf.subarray(0, at);
}

/** The wire bytes of an output response in a buffer of their own; undefined for any other message. */
export function encodeOutputResponse(schema: DescMessage, msg: unknown): Buffer | undefined {
  const r = measureOutputResponse(schema, msg);
  return r && writeOutputResponse(r, Buffer.allocUnsafe(r.size));
}

/**
 * Serializes an output response at the moment grpc-js frames it, into one buffer reused from
 * call to call: grpc-js copies what its serializer returns into the message it sends, at once
 * and before it serializes another (server-interceptors' serializeMessage), so the bytes are
 * never read after that copy. A run's output then makes one buffer per chunk in the daemon's
 * send path (grpc-js's), not two: each buffer of that size counts as external memory, and V8
 * runs a full collection every few tens of MiB of it. Larger messages than the scratch's
 * bound get a buffer of their own.
 */
export function serializeResponse(v: Buffer | OutputResponse): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v.size > maxScratchBytes) return writeOutputResponse(v, Buffer.allocUnsafe(v.size));
  if (scratch.length < v.size) scratch = Buffer.allocUnsafe(Math.min(maxScratchBytes, Math.max(v.size, scratch.length * 2)));
  return writeOutputResponse(v, scratch);
}

const maxScratchBytes = 4 * 1024 * 1024;
let scratch = Buffer.allocUnsafe(0);

interface OutputInit {
  stream?: number;
  data?: Uint8Array;
  offset?: bigint | number;
  streamOffset?: bigint | number;
  phase?: number;
}

const empty = new Uint8Array(0);
const shapes = new WeakMap<DescMessage, boolean>();

/** A message whose only field is `RunEvent event = 1`, and a RunEvent and Output as this file knows them. */
function isOutputResponse(schema: DescMessage): boolean {
  let known = shapes.get(schema);
  if (known === undefined) {
    const f = schema.fields;
    const ev = f.length === 1 && f[0]?.number === 1 && f[0].fieldKind === "message" ? f[0].message : undefined;
    const out = ev?.typeName === "sandboxd.v1.RunEvent" ? ev.fields.find((x) => x.number === 3) : undefined;
    const output = out?.fieldKind === "message" ? out.message : undefined;
    known =
      ev !== undefined &&
      ev.fields.find((x) => x.number === 1)?.name === "seq" &&
      output?.typeName === "sandboxd.v1.Output" &&
      output.fields.map((x) => `${x.number}:${x.name}`).join(",") === "1:stream,2:data,3:offset,4:stream_offset,5:phase";
    shapes.set(schema, known);
  }
  return known;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}
