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

  it("decodes large frames fed in small chunks, each frame whole and in order", () => {
    const big = Buffer.alloc(100_000);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const wire = Buffer.concat([encodeFrame(18, 3, big), encodeFrame(19, 3, Buffer.from("err")), encodeFrame(18, 3, big.subarray(5, 70_000))]);
    const dec = new FrameDecoder();
    const frames = [];
    for (let at = 0; at < wire.length; at += 4093) frames.push(...dec.push(wire.subarray(at, at + 4093)));
    expect(frames.map((f) => [f.kind, f.channel, f.payload.length])).toEqual([
      [18, 3, 100_000],
      [19, 3, 3],
      [18, 3, 69_995],
    ]);
    expect(Buffer.compare(frames[0]?.payload ?? Buffer.alloc(0), big)).toBe(0);
    expect(Buffer.compare(frames[2]?.payload ?? Buffer.alloc(0), big.subarray(5, 70_000))).toBe(0);
  });

  it("rejects a corrupt length instead of buffering forever", () => {
    const dec = new FrameDecoder();
    expect(() => dec.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]))).toThrow(/corrupt/);
  });
});
