import { describe, expect, it } from "vitest";
import { outputTrailer, TrailerScanner } from "./output-trailer.js";

describe("TrailerScanner", () => {
  const { mark } = outputTrailer();

  it("passes output through and stops at the trailer, however the chunks cut it", () => {
    const output = Buffer.from("hello \x1e world\n".repeat(50));
    const stream = Buffer.concat([output, mark, Buffer.from("after")]);
    for (const size of [1, 2, 7, 31, mark.length, 4096]) {
      const s = new TrailerScanner(mark);
      const got: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) got.push(s.push(stream.subarray(i, i + size)));
      expect(s.done).toBe(true);
      expect(Buffer.concat([...got, s.end()]).toString()).toBe(output.toString());
    }
  });

  it("holds only a tail that could start the trailer, and gives it back when it does not", () => {
    const s = new TrailerScanner(mark);
    expect(s.push(Buffer.from("abc")).toString()).toBe("abc");
    const partial = mark.subarray(0, 5);
    expect(s.push(Buffer.concat([Buffer.from("x"), partial])).toString()).toBe("x");
    expect(s.push(Buffer.from("y")).toString()).toBe(Buffer.concat([partial, Buffer.from("y")]).toString());
    expect(s.done).toBe(false);
  });

  it("returns what it held when the stream ends without a trailer (a killed run)", () => {
    const s = new TrailerScanner(mark);
    const partial = mark.subarray(0, 3);
    expect(s.push(Buffer.concat([Buffer.from("out"), partial])).toString()).toBe("out");
    expect(s.end()).toEqual(partial);
    expect(s.done).toBe(false);
  });

  it("makes a different trailer each time", () => {
    expect(outputTrailer().mark.equals(outputTrailer().mark)).toBe(false);
  });
});
