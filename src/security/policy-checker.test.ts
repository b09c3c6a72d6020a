import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../common/logger.js";
import type { SecurityPolicy } from "./index.js";
import { PolicyChecker } from "./policy-checker.js";

// A pattern that backtracks exponentially on a run of `a`s with no `b`: a check that takes
// a while on purpose (about half a second for SLOW, well under the deadline).
const backtracking: SecurityPolicy = {
  severityThreshold: "LOW",
  patterns: [{ pattern: "(a+)+b", description: "slow on purpose", severity: "LOW" }],
  restrictedModules: [{ name: "os", description: "os", severity: "HIGH" }],
};
const SLOW = `x = '${"a".repeat(23)}'`;
const LESS_SLOW = `x = '${"a".repeat(22)}'`;
const FAST = "import os";

describe("PolicyChecker", () => {
  let checker: PolicyChecker | undefined;
  afterEach(async () => {
    await checker?.close();
    checker = undefined;
  });

  /** Runs the checks, resolving with the labels in the order the checks completed. */
  async function completionOrder(c: PolicyChecker, checks: Array<[label: string, tenant: string, code: string]>): Promise<string[]> {
    const order: string[] = [];
    await Promise.all(
      checks.map(([label, tenant, code]) =>
        c.check("python", code, backtracking, tenant).then((result) => {
          order.push(label);
          return result;
        }),
      ),
    );
    return order;
  }

  it("finishes a second tenant's check while the first tenant's slow check runs", async () => {
    checker = new PolicyChecker(30_000, silentLogger(), { workers: 2 });
    await checker.whenReady(); // so start-up times do not decide the race
    const slow = checker.check("python", SLOW, backtracking, "tenant-a");
    let slowDone = false;
    void slow.then(() => (slowDone = true));
    const fast = await checker.check("python", FAST, backtracking, "tenant-b");
    expect(fast.safe).toBe(false);
    expect(fast.violations.map((v) => v.rule)).toEqual(["import:os"]);
    expect(slowDone).toBe(false); // still running in the other worker
    expect((await slow).safe).toBe(true);
  }, 60_000);

  it("serves tenants in turn, not in arrival order, when all workers are busy", async () => {
    checker = new PolicyChecker(30_000, silentLogger(), { workers: 1 });
    const order = await completionOrder(checker, [
      ["a1", "tenant-a", LESS_SLOW],
      ["a2", "tenant-a", LESS_SLOW],
      ["a3", "tenant-a", LESS_SLOW],
      ["b1", "tenant-b", FAST],
    ]);
    expect(order).toEqual(["a1", "b1", "a2", "a3"]);
  }, 60_000);

  it("keeps one tenant's checks in the order asked", async () => {
    checker = new PolicyChecker(30_000, silentLogger(), { workers: 1 });
    const order = await completionOrder(checker, [
      ["a1", "tenant-a", FAST],
      ["a2", "tenant-a", LESS_SLOW],
      ["a3", "tenant-a", FAST],
    ]);
    expect(order).toEqual(["a1", "a2", "a3"]);
  }, 60_000);

  it("refuses a check past its deadline and goes on checking with a new worker", async () => {
    // The deadline counts from when a started worker takes a check, so the replacement
    // worker's start-up does not count against the next one.
    checker = new PolicyChecker(500, silentLogger(), { workers: 1 });
    const slow = checker.check("python", `x = '${"a".repeat(40)}'`, backtracking, "tenant-a");
    const next = checker.check("python", FAST, backtracking, "tenant-b");
    await expect(slow).rejects.toMatchObject({ reason: "POLICY_CHECK_TIMEOUT" });
    expect((await next).safe).toBe(false);
  }, 60_000);

  it("refuses checks after close", async () => {
    checker = new PolicyChecker(30_000, silentLogger(), { workers: 1 });
    await checker.close();
    await expect(checker.check("python", FAST, backtracking, "t")).rejects.toThrow(/shut down/);
  });
});
