import { describe, expect, it } from "vitest";
import { Run } from "../sandbox/run.js";
import type { Kernel } from "./kernel.js";
import { Cell } from "./session.js";

const kernel = { pid: 7 } as unknown as Kernel;
const cell = () => new Cell(new Run("run_test", "sbx_test", "t", 1024), "c1", "print(1)", 0, new Uint8Array());

describe("Cell states", () => {
  it("goes queued, starting, running, done; a stop is asked once", () => {
    const c = cell();
    expect(c.state.name).toBe("queued");
    expect(c.requestStop("cancelled")).toBeUndefined();
    c.begin();
    expect(c.attach(kernel)).toBe(true);
    expect(c.state).toMatchObject({ name: "running", kernel });
    expect(c.requestStop("timeout")).toBe(kernel);
    expect(c.requestStop("cancelled")).toBeUndefined();
    expect(c.stop?.why).toBe("timeout");
    c.endedBy("killed after the grace time", "timeout", true);
    expect(c.stop?.endedBy).toBe("killed after the grace time");
    expect(c.finish()).toBe(true);
    expect(c.finish()).toBe(false);
    expect(c.stop).toBeUndefined();
  });

  it("a cell asked to stop while it waits for its kernel never runs on it", () => {
    const c = cell();
    c.begin();
    expect(c.requestStop("cancelled")).toBeNull();
    expect(c.attach(kernel)).toBe(false);
    expect(c.state.name).toBe("starting");
    expect(() => c.begin()).toThrow();
  });
});
