import { describe, expect, it } from "vitest";
import { hostBinds, loadConfig, mountRoots } from "./config.js";

describe("config: volumes", () => {
  it("host binds are read-only unless the entry ends in :rw; none by default", () => {
    expect(hostBinds(loadConfig(["--daemon-id", "t"], {}))).toEqual([]);
    const c = loadConfig(["--daemon-id", "t", "--volumes.host-binds", "/srv/data/, /srv/shared:rw,/srv/x:ro"], {});
    expect(hostBinds(c)).toEqual([
      { path: "/srv/data", writable: false },
      { path: "/srv/shared", writable: true },
      { path: "/srv/x", writable: false },
    ]);
    expect(hostBinds(loadConfig(["--daemon-id", "t"], { SANDBOXD_VOLUMES__HOST_BINDS: "/a:rw" }))).toEqual([{ path: "/a", writable: true }]);
  });

  it("refuses relative entries, '..', a mount root of / and a negative volume quota", () => {
    expect(() => loadConfig(["--daemon-id", "t", "--volumes.host-binds", "srv"], {})).toThrow(/volumes.host-binds/);
    expect(() => loadConfig(["--daemon-id", "t", "--volumes.host-binds", "/srv/../etc"], {})).toThrow(/volumes.host-binds/);
    expect(() => loadConfig(["--daemon-id", "t", "--volumes.mount-roots", "/"], {})).toThrow(/volumes.mount-roots/);
    expect(() => loadConfig(["--daemon-id", "t", "--volumes.max-per-tenant", "-1"], {})).toThrow(/volumes.max-per-tenant/);
    expect(mountRoots(loadConfig(["--daemon-id", "t", "--volumes.mount-roots", "/data/,/opt/work"], {}))).toEqual(["/data", "/opt/work"]);
  });
});
