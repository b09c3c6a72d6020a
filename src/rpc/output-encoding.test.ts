import { create, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { RunEventSchema, Stream } from "../gen/sandboxd/v1/common_pb.js";
import * as interactive from "../gen/sandboxd/v1/interactive_service_pb.js";
import * as sandbox from "../gen/sandboxd/v1/sandbox_service_pb.js";
import { encodeOutputResponse, measureOutputResponse, serializeResponse } from "./output-encoding.js";

const schemas = ([...Object.values(sandbox), ...Object.values(interactive)] as unknown[]).filter(
  (x): x is DescMessage => typeof x === "object" && x !== null && (x as DescMessage).kind === "message",
);
const responses = schemas.filter(
  (s) => s.fields.length === 1 && s.fields[0]?.fieldKind === "message" && s.fields[0].message.typeName === RunEventSchema.typeName,
);

describe("the output response encoder", () => {
  it("applies to the streamed run responses", () => {
    const names = responses.map((s) => s.typeName);
    expect(names).toContain("sandboxd.v1.ExecResponse");
    expect(names).toContain("sandboxd.v1.RunResponse");
  });

  it("writes the same bytes as protobuf-es for every output event shape", () => {
    const sizes = [0, 1, 127, 128, 16_383, 16_384, 65_536, 300_000];
    const patterns = new Map(sizes.map((size) => [size, new Uint8Array(size).map((_, i) => (i * 31) & 0xff)]));
    const numbers = [0, 1, 127, 128, 2 ** 21, 2 ** 35 + 7, Number.MAX_SAFE_INTEGER];
    let checked = 0;
    for (const schema of responses) {
      for (const size of sizes) {
        for (const n of numbers) {
          const data = patterns.get(size)!;
          for (const stream of [Stream.STDOUT, Stream.STDERR, 0]) {
            const msg = {
              event: {
                seq: BigInt(n),
                event: { case: "output" as const, value: { stream, data, offset: BigInt(n), streamOffset: BigInt(Math.floor(n / 3)), phase: n % 4 } },
              },
            };
            const want = toBinary(schema, create(schema, msg as never));
            const got = encodeOutputResponse(schema, msg);
            // Buffer.equals: a deep equality over 300 KB buffers would take the test's whole time.
            if (!got?.equals(want))
              expect({ schema: schema.typeName, size, n, stream, got: got?.subarray(0, 32), want: want.subarray(0, 32) }).toBe("equal bytes");
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it("leaves every other message to the generic encoder", () => {
    const exec = responses[0]!;
    expect(encodeOutputResponse(exec, { event: { seq: 1n, event: { case: "keepalive", value: {} } } })).toBeUndefined();
    expect(encodeOutputResponse(exec, {})).toBeUndefined();
    const other = schemas.find((s) => s.typeName === "sandboxd.v1.CreateSandboxRequest")!;
    expect(encodeOutputResponse(other, { event: { seq: 1n, event: { case: "output", value: {} } } })).toBeUndefined();
  });

  it("serializes at framing time into a reused buffer, with the same bytes", () => {
    const exec = responses.find((s) => s.typeName === "sandboxd.v1.ExecResponse")!;
    const msg = (size: number, seq: number) => ({
      event: {
        seq: BigInt(seq),
        event: {
          case: "output" as const,
          value: { stream: Stream.STDOUT, data: new Uint8Array(size).fill(seq), offset: BigInt(seq * 7), streamOffset: 3n, phase: 3 },
        },
      },
    });
    const want = (size: number, seq: number) => Buffer.from(toBinary(exec, create(exec, msg(size, seq) as never)));
    // What grpc-js does with a serializer's result: copy it before the next serialization.
    const first = Buffer.from(serializeResponse(measureOutputResponse(exec, msg(1000, 1))!));
    const second = serializeResponse(measureOutputResponse(exec, msg(300_000, 2))!);
    expect(first.equals(want(1000, 1))).toBe(true);
    expect(second.equals(want(300_000, 2))).toBe(true);
    const third = serializeResponse(measureOutputResponse(exec, msg(10, 3))!);
    expect(third.buffer).toBe(second.buffer); // the scratch is reused
    expect(Buffer.from(third).equals(want(10, 3))).toBe(true);
    // Beyond the scratch's bound a response gets a buffer of its own; a Buffer passes as it is.
    const big = serializeResponse(measureOutputResponse(exec, msg(5 * 1024 * 1024, 4))!);
    expect(big.buffer).not.toBe(third.buffer);
    expect(big.equals(want(5 * 1024 * 1024, 4))).toBe(true);
    const encoded = Buffer.from([1, 2, 3]);
    expect(serializeResponse(encoded)).toBe(encoded);
  });
});
