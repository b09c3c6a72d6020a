import { describe, expect, it } from "vitest";
import type { Sandbox } from "./sandbox.js";
import { SandboxRegistry } from "./sandbox-registry.js";

function fake(id: string, tenant = "t", state: Sandbox["state"] = "running"): Sandbox {
  return { id, tenant, state, containerId: `c-${id}`, createdAt: new Date(), config: { labels: {} } } as unknown as Sandbox;
}

/** The reason of the error `get` answers with, or "ok". */
function answer(r: SandboxRegistry, tenant: string, id: string): string {
  try {
    r.get(tenant, id);
    return "ok";
  } catch (err) {
    return (err as { reason?: string }).reason ?? "?";
  }
}

describe("SandboxRegistry", () => {
  it("walks an id from live through removing to gone, answering why it is gone", () => {
    const r = new SandboxRegistry();
    const s = fake("a");
    r.add(s);
    expect(r.get("t", "a")).toBe(s);
    expect(r.size).toBe(1);
    expect(answer(r, "u", "a")).toBe("SANDBOX_NOT_FOUND");
    expect(r.beginRemoval(s, { reason: "expired", detail: "its TTL passed" })).toBe(true);
    expect(r.beginRemoval(s, { reason: "destroyed", detail: "again" })).toBe(false);
    expect(r.size).toBe(0);
    expect(r.all()).toEqual([]);
    expect(answer(r, "t", "a")).toBe("SANDBOX_EXPIRED");
    r.endRemoval(s);
    expect(answer(r, "t", "a")).toBe("SANDBOX_EXPIRED");
    expect(r.removed("t", "a")).toEqual({ reason: "expired", detail: "its TTL passed" });
    expect(r.removed("u", "a")).toBeUndefined();
  });

  it("answers a failed sandbox through peek only, and finds sandboxes by container and adoption", () => {
    const r = new SandboxRegistry();
    const failed = fake("f", "t", "failed");
    r.add(failed);
    r.add(fake("b"), true);
    expect(answer(r, "t", "f")).toBe("SANDBOX_FAILED");
    expect(r.peek("t", "f")).toBe(failed);
    expect(r.inContainer("c-f")).toEqual([failed]);
    expect(r.adopted("t").map((s) => s.id)).toEqual(["b"]);
  });
});
