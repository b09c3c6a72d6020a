import type { DescMessage } from "@bufbuild/protobuf";

/**
 * The wire bytes of a response that carries one run's output chunk (`{ event: RunEvent }`
 * with its `output` case: ExecResponse, RunResponse, AttachResponse and their kin), encoded
 * in one exactly sized buffer with one copy of the data. protobuf-es's writer grows its
 * buffer by doubling and joins its parts at the end, which for a 64 KiB chunk costs several
 * copies and most of the garbage a run's output makes. The bytes are identical to
 * `toBinary`'s (fields in number order, proto3 defaults omitted): `output-encoding.test.ts`
 * compares them. Undefined for any other message, which the generic encoder then takes.
 */
export function encodeOutputResponse(schema: DescMessage, msg: unknown): Buffer | undefined {
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
  const buf = Buffer.allocUnsafe(1 + varintSize(eventLen) + eventLen);
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
  varint(eventLen);
  if (seq) {
    tag(0x08);
    varint(seq);
  }
  tag(0x1a); // RunEvent field 3 (output), length-delimited
  varint(outputLen);
  if (stream) {
    tag(0x08);
    varint(stream);
  }
  if (data.byteLength) {
    tag(0x12);
    varint(data.byteLength);
    buf.set(data, at);
    at += data.byteLength;
  }
  if (offset) {
    tag(0x18);
    varint(offset);
  }
  if (streamOffset) {
    tag(0x20);
    varint(streamOffset);
  }
  if (phase) {
    tag(0x28);
    varint(phase);
  }
  return at === buf.length ? buf : undefined;
}

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
