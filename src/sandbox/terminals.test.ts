import { describe, expect, it } from "vitest";
import { AsyncQueue } from "../common/async-queue.js";
import type { ProcessEvent, RunningProcess } from "../runtime/process.js";
import type { Sandbox } from "./sandbox.js";
import { Terminal } from "./terminals.js";

// The terminal's bookkeeping alone: its kept output, replay offsets and the credit it returns.
function fakeTerminal() {
  const events = new AsyncQueue<ProcessEvent>();
  const acks: number[] = [];
  const proc: RunningProcess = {
    [Symbol.asyncIterator]: () => events[Symbol.asyncIterator](),
    writeStdin: async () => undefined,
    closeStdin: () => undefined,
    signal: () => undefined,
    kill: () => undefined,
    ack: (n) => acks.push(n),
  };
  const sandbox = { touch: () => undefined } as unknown as Sandbox;
  const term = new Terminal("t", sandbox, 1, proc, { rows: 24, cols: 80 }, 1000, () => undefined);
  return { term, events, acks };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

async function take(term: Terminal, offset: number, want: number): Promise<{ bytes: number; first: number }> {
  const ac = new AbortController();
  let bytes = 0;
  let first = -1;
  for await (const ev of term.follow(offset, ac.signal)) {
    if (ev.type !== "output") break;
    if (first < 0) first = ev.offset;
    bytes += ev.data.byteLength;
    if (bytes >= want) break;
  }
  return { bytes, first };
}

describe("Terminal", () => {
  it("keeps the last 256 KiB for replay and returns credit only for what a client read", async () => {
    const { term, events, acks } = fakeTerminal();
    for (let i = 0; i < 16; i++) events.push({ type: "stdout", data: new Uint8Array(64 * 1024) });
    await tick();
    expect(acks).toEqual([]); // nobody read: no credit back, the agent holds the program
    expect(term.replayFrom(0)).toBe(12 * 64 * 1024);
    const got = await take(term, 0, 4 * 64 * 1024);
    expect(got).toEqual({ bytes: 4 * 64 * 1024, first: 12 * 64 * 1024 });
    // Credit for everything before the last chunk read: that one is credited when the client
    // asks for more (a client that stops there may not have got it).
    expect(acks.reduce((a, b) => a + b, 0)).toBe(15 * 64 * 1024);
    term.close();
  });

  it("replays from a client's offset, within a chunk too, and ends with the exit", async () => {
    const { term, events } = fakeTerminal();
    events.push({ type: "stdout", data: Buffer.from("hello ") });
    events.push({ type: "stdout", data: Buffer.from("world") });
    events.push({ type: "exit", exit: { kind: "exited", exitCode: 3, signal: 0, durationMs: 1, stdoutBytes: 11, stderrBytes: 0, truncated: false } });
    await tick();
    let text = "";
    let code = -1;
    for await (const ev of term.follow(8, new AbortController().signal)) {
      if (ev.type === "output") text += Buffer.from(ev.data).toString();
      else code = ev.exit.exitCode;
    }
    expect(text).toBe("rld");
    expect(code).toBe(3);
    term.close();
  });
});
