import { describe, expect, it } from "vitest";
import { EgressMatcher, checkEgressPolicy } from "./egress-policy.js";

describe("egress allow-list matching", () => {
  const m = new EgressMatcher(checkEgressPolicy({ hosts: ["pypi.org", "*.Example.com"], cidrs: ["10.1.0.0/16", "fd00::/8"], ports: [443] }));

  it("matches exact names and *. wildcards below the domain, not the apex or look-alikes", () => {
    expect(m.hostListed("pypi.org")).toBe(true);
    expect(m.hostListed("PYPI.org.")).toBe(true);
    expect(m.hostListed("files.pypi.org")).toBe(false);
    expect(m.hostListed("a.example.com")).toBe(true);
    expect(m.hostListed("a.b.example.com")).toBe(true);
    expect(m.hostListed("example.com")).toBe(false);
    expect(m.hostListed("badexample.com")).toBe(false);
    expect(m.hostListed("example.com.evil.net")).toBe(false);
  });

  it("refuses private, loopback and link-local addresses of listed names unless a CIDR lists them", () => {
    expect(m.check("pypi.org", "151.101.0.223", 443)).toBeUndefined();
    expect(m.check("pypi.org", "127.0.0.1", 443)).toBe("address");
    expect(m.check("pypi.org", "169.254.169.254", 443)).toBe("address");
    expect(m.check("pypi.org", "192.168.1.1", 443)).toBe("address");
    expect(m.check("pypi.org", "::1", 443)).toBe("address");
    expect(m.check("pypi.org", "::ffff:127.0.0.1", 443)).toBe("address");
    expect(m.check("pypi.org", "::ffff:7f00:1", 443)).toBe("address");
    expect(m.check("pypi.org", "::ffff:151.101.0.223", 443)).toBeUndefined();
    expect(m.check("pypi.org", "10.1.2.3", 443)).toBeUndefined();
    expect(m.check("anything.net", "10.1.2.3", 443)).toBeUndefined();
    expect(m.check("anything.net", "fd00::1", 443)).toBeUndefined();
    expect(m.check("anything.net", "151.101.0.223", 443)).toBe("host");
    expect(m.check("pypi.org", "151.101.0.223", 80)).toBe("port");
  });

  it("defaults to ports 80 and 443", () => {
    const d = new EgressMatcher(checkEgressPolicy({ hosts: ["pypi.org"], cidrs: [], ports: [] }));
    expect([80, 443, 22, 8080].map((p) => d.portAllowed(p))).toEqual([true, true, false, false]);
  });

  it("refuses malformed entries and an empty list", () => {
    expect(() => checkEgressPolicy({ hosts: ["a b"], cidrs: [], ports: [] })).toThrow(/a b/);
    expect(() => checkEgressPolicy({ hosts: ["*"], cidrs: [], ports: [] })).toThrow(/not a host name/);
    expect(() => checkEgressPolicy({ hosts: [], cidrs: ["1.2.3.4/40"], ports: [] })).toThrow(/1\.2\.3\.4\/40/);
    expect(() => checkEgressPolicy({ hosts: ["x.org"], cidrs: [], ports: [0] })).toThrow(/port/);
    expect(() => checkEgressPolicy({ hosts: [], cidrs: [], ports: [443] })).toThrow(/hosts or egress\.cidrs/);
  });
});
