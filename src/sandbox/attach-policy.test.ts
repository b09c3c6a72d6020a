import { describe, expect, it } from "vitest";
import type { ContainerInfo } from "../runtime/container-runtime.js";
import { AttachPolicy } from "./attach-policy.js";

const id = "a".repeat(64);
const info = (over: Partial<ContainerInfo> = {}): ContainerInfo => ({
  id,
  name: "workbench",
  image: "img",
  labels: { team: "data" },
  running: true,
  createdAt: new Date(0),
  ...over,
});

describe("AttachPolicy", () => {
  const policy = new AttachPolicy({ tenants: "alpha, gamma", names: "workbench", labels: "team=data" });

  it("is off unless the tenant is listed", () => {
    expect(new AttachPolicy({ tenants: "", names: "", labels: "" }).refusal("default", id, info())).toMatch(/not enabled/);
    expect(policy.refusal("beta", id, info())).toMatch(/not enabled/);
    expect(new AttachPolicy({ tenants: "*", names: "", labels: "" }).refusal("beta", id, info())).toBeUndefined();
  });

  it("takes only the exact full id or a listed name", () => {
    expect(policy.refusal("alpha", id, info())).toBeUndefined();
    expect(policy.refusal("gamma", "workbench", info())).toBeUndefined();
    expect(policy.refusal("alpha", "a", info())).toMatch(/full container id/);
    expect(policy.refusal("alpha", id.slice(0, 12), info())).toMatch(/full container id/);
    expect(policy.refusal("alpha", "other", info({ name: "other" }))).toMatch(/full container id/);
    expect(policy.refusal("alpha", id, undefined)).toMatch(/no such container/);
  });

  it("never takes a container with sandboxd's labels, and requires the configured labels", () => {
    expect(policy.refusal("alpha", id, info({ labels: { team: "data", "org.sandboxd.managed": "true" } }))).toMatch(/managed by sandboxd/);
    expect(policy.refusal("alpha", id, info({ labels: { team: "data", "org.sandboxd.pool": "python" } }))).toMatch(/managed by sandboxd/);
    expect(policy.refusal("alpha", id, info({ labels: {} }))).toMatch(/team=data/);
  });
});
