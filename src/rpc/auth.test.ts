import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { TokenTable, hashToken, isLocalAddress } from "./auth.js";

function md(auth?: string): Metadata {
  const m = new Metadata();
  if (auth !== undefined) m.set("authorization", auth);
  return m;
}

describe("tokens", () => {
  const table = TokenTable.parse(`# tenants\nalpha ${hashToken("tok-a")}\nbeta sha256:${hashToken("tok-b")}\n`, "test");

  it("maps each token to its tenant and refuses others", () => {
    expect(table.authenticate(md("Bearer tok-a"))).toBe("alpha");
    expect(table.authenticate(md("bearer tok-b"))).toBe("beta");
    expect(() => table.authenticate(md("Bearer nope"))).toThrow(/invalid bearer token/);
    expect(() => table.authenticate(md())).toThrow(/missing bearer token/);
    expect(() => table.authenticate(md("Basic abc"))).toThrow(/missing bearer token/);
  });

  it("reads the same tokens from an HTTP Authorization header (the MCP endpoint)", () => {
    const table = TokenTable.parse(`alpha ${hashToken("a-secret")}`, "test");
    expect(table.authenticateHeader("Bearer a-secret")).toBe("alpha");
    expect(() => table.authenticateHeader(undefined)).toThrow(/missing bearer token/);
    expect(() => table.authenticateHeader("Bearer nope")).toThrow(/invalid bearer token/);
    expect(() => table.authenticateHeader("Basic YTpi")).toThrow(/missing bearer token/);
  });

  it("without tokens every caller is the default tenant", () => {
    expect(new TokenTable().authenticate(md())).toBe("default");
  });

  it("rejects plaintext tokens and malformed lines, naming the entry", () => {
    expect(() => TokenTable.parse("alpha plaintext-token", "f")).toThrow(/f: entry 1/);
    expect(() => TokenTable.parse(`Bad/Tenant ${hashToken("x")}`, "f")).toThrow(/entry 1/);
  });

  it("knows which listen addresses are local", () => {
    expect(isLocalAddress("127.0.0.1:50051")).toBe(true);
    expect(isLocalAddress("localhost:1")).toBe(true);
    expect(isLocalAddress("[::1]:1")).toBe(true);
    expect(isLocalAddress("unix:/run/sandboxd.sock")).toBe(true);
    expect(isLocalAddress("0.0.0.0:50051")).toBe(false);
    expect(isLocalAddress("10.0.0.5:50051")).toBe(false);
  });
});
