import { describe, expect, it } from "vitest";
import { FrameDecoder, encodeFrame } from "./agent-protocol.js";

describe("agent framing", () => {
  it("decodes frames split at every byte boundary", () => {
    const a = encodeFrame(18, 7, Buffer.from("hello"));
    const b = encodeFrame(20, 7, Buffer.from('{"code":0}'));
    const wire = Buffer.concat([a, b]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const dec = new FrameDecoder();
      const frames = [...dec.push(wire.subarray(0, cut)), ...dec.push(wire.subarray(cut))];
      expect(frames.map((f) => [f.kind, f.channel, f.payload.toString()])).toEqual([
        [18, 7, "hello"],
        [20, 7, '{"code":0}'],
      ]);
    }
  });

  it("rejects a corrupt length instead of buffering forever", () => {
    const dec = new FrameDecoder();
    expect(() => dec.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]))).toThrow(/corrupt/);
  });
});
