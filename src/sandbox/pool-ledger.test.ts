import { describe, expect, it } from "vitest";
import { SandboxdError, failedPrecondition } from "../common/errors.js";
import { PoolLedger, resolvePoolSettings, type PoolSettings } from "./pool-ledger.js";

const base: PoolSettings = {
  minReady: 0,
  maxSize: 0,
  idleTimeoutMs: 0,
  maxLifetimeMs: 0,
  healthCheckIntervalMs: 0,
  exhaustion: "wait",
  acquisitionTimeoutMs: 0,
};

const settings = (s: Partial<PoolSettings>) => resolvePoolSettings({ ...base, ...s }, 10);
const never = new AbortController().signal;

describe("resolvePoolSettings", () => {
  it("fills in the daemon's limit and the health check interval", () => {
    expect(settings({})).toMatchObject({ maxSize: 10, healthCheckIntervalMs: 60_000 });
    expect(settings({ maxSize: 3, healthCheckIntervalMs: 500 })).toMatchObject({ maxSize: 3, healthCheckIntervalMs: 500 });
  });

  it("refuses min_ready over max_size and max_size over the limit", () => {
    expect(() => settings({ minReady: 4, maxSize: 3 })).toThrow(/min_ready 4 is more than settings.max_size 3/);
    expect(() => settings({ minReady: 11 })).toThrow(/min_ready 11 is more than settings.max_size 10/);
    expect(() => settings({ maxSize: 11 })).toThrow(/max_size 11 is over this daemon's limit of 10 \(--pool-max-size\)/);
  });
});

describe("PoolLedger", () => {
  it("starts members up to min_ready, within max_size counting the places held", () => {
    const l = new PoolLedger<string>(settings({ minReady: 2, maxSize: 3 }), 4);
    expect(l.toStart()).toBe(2);
    l.beginCreate();
    l.beginCreate();
    expect(l.toStart()).toBe(0);
    l.endCreate("a", 0, 0, 5);
    l.endCreate(undefined, 0, 0, 0); // a failed creation
    expect(l.stats()).toMatchObject({ ready: 1, creating: 0, lastRefillMs: 5 });
    expect(l.toStart()).toBe(1);
    l.holdPlace("sbx_1");
    l.holdPlace("sbx_2");
    // 1 ready + 2 handed out = max_size 3: no room for more.
    expect(l.toStart()).toBe(0);
    expect(l.hasRoom()).toBe(false);
    expect(l.release("sbx_1")).toBe(true);
    expect(l.release("sbx_1")).toBe(false);
    expect(l.toStart()).toBe(1);
  });

  it("hands each ready member out once, oldest first", () => {
    const l = new PoolLedger<string>(settings({ minReady: 2, maxSize: 2 }), 4);
    l.beginCreate();
    l.beginCreate();
    l.endCreate("a", 0, 0, 1);
    l.endCreate("b", 0, 0, 1);
    expect(l.takeReady()).toBe("a");
    expect(l.takeReady()).toBe("b");
    expect(l.takeReady()).toBeUndefined();
  });

  it("takes out members past the idle timeout or lifetime, and dead ones, as recycled", () => {
    const l = new PoolLedger<string>(settings({ minReady: 3, maxSize: 3, idleTimeoutMs: 100, maxLifetimeMs: 1000 }), 4);
    for (let i = 0; i < 3; i++) l.beginCreate();
    l.endCreate("old", 0, 950, 1); // created at 0, ready at 950
    l.endCreate("idle", 900, 900, 1);
    l.endCreate("fresh", 990, 990, 1);
    expect(l.takeStale(1000).sort()).toEqual(["idle", "old"]);
    expect(l.takeDead((m) => m === "fresh")).toEqual(["fresh"]);
    expect(l.stats()).toMatchObject({ ready: 0, recycled: 3 });
  });

  it("shrinking settings takes out the ready members over min_ready", () => {
    const l = new PoolLedger<string>(settings({ minReady: 3, maxSize: 3 }), 4);
    for (let i = 0; i < 3; i++) l.beginCreate();
    for (const m of ["a", "b", "c"]) l.endCreate(m, 0, 0, 1);
    l.settings = settings({ minReady: 1, maxSize: 3 });
    expect(l.takeSurplus()).toEqual(["a", "b"]);
    expect(l.readyMembers()).toEqual(["c"]);
  });

  it("a waiter is woken when a place frees; a timeout or the call's end is RESOURCE_EXHAUSTED (POOL_EXHAUSTED)", async () => {
    const l = new PoolLedger<string>(settings({ maxSize: 1 }), 4);
    l.holdPlace("sbx_1");
    const woken = l.wait(0, never, "pool p");
    expect(l.stats().waiting).toBe(1);
    l.release("sbx_1");
    await woken;
    expect(l.stats().waiting).toBe(0);

    const timedOut = await l.wait(20, never, "pool p").catch((e: SandboxdError) => e);
    expect(timedOut).toMatchObject({ code: "RESOURCE_EXHAUSTED", reason: "POOL_EXHAUSTED", message: expect.stringMatching(/acquisition_timeout_ms 20/) });
    const call = new AbortController();
    const cancelled = l.wait(0, call.signal, "pool p").catch((e: SandboxdError) => e);
    call.abort();
    expect(await cancelled).toMatchObject({ code: "RESOURCE_EXHAUSTED", reason: "POOL_EXHAUSTED" });
    expect(l.stats()).toMatchObject({ exhausted: 2, waiting: 0 });
  });

  it("bounds the waiters, and closing fails them and every later wait", async () => {
    const l = new PoolLedger<string>(settings({ maxSize: 1 }), 2);
    const a = l.wait(0, never, "pool p").catch((e: SandboxdError) => e);
    const b = l.wait(0, never, "pool p").catch((e: SandboxdError) => e);
    const third = await l.wait(0, never, "pool p").catch((e: SandboxdError) => e);
    expect(third).toMatchObject({ code: "RESOURCE_EXHAUSTED", message: expect.stringMatching(/2 callers wait/) });
    const closed = failedPrecondition("pool p was deleted (POOL_CLOSED)", { reason: "POOL_CLOSED" });
    l.close(closed);
    expect(await a).toBe(closed);
    expect(await b).toBe(closed);
    expect(await l.wait(0, never, "pool p").catch((e: SandboxdError) => e)).toBe(closed);
    expect(l.stats().waiting).toBe(0);
  });
});
