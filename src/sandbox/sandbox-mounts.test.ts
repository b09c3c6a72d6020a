import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defaultConfig, type Config } from "../config/config.js";
import { checkMounts, type MountRequest } from "./sandbox-mounts.js";

const root = mkdtempSync(join(tmpdir(), "sandboxd-mounts-"));
const ro = join(root, "ro");
const rw = join(root, "rw");
const outside = join(root, "outside");
for (const d of [ro, join(ro, "sub"), rw, join(rw, "sub"), outside]) mkdirSync(d);
symlinkSync(outside, join(ro, "escape"));
symlinkSync(ro, join(root, "link-to-ro"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config: Config = { ...defaultConfig, volumes: { ...defaultConfig.volumes, hostBinds: `${ro},${rw}:rw` } };
const bind = (hostPath: string, path: string, readOnly = true): MountRequest => ({ volume: "", hostPath, path, readOnly });
const reasonOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { reason?: string }).reason;
  }
  return "accepted";
};

describe("checkMounts: host binds", () => {
  it("accepts an allowed directory and those below a read-only entry, resolving symlinks to real paths", () => {
    expect(checkMounts([bind(ro, "/data/a"), bind(join(ro, "sub"), "/data/b"), bind(join(root, "link-to-ro"), "/data/c")], config, "/sandbox")).toEqual([
      { kind: "host", hostPath: ro, source: ro, path: "/data/a", readOnly: true },
      { kind: "host", hostPath: join(ro, "sub"), source: join(ro, "sub"), path: "/data/b", readOnly: true },
      { kind: "host", hostPath: join(root, "link-to-ro"), source: ro, path: "/data/c", readOnly: true },
    ]);
    expect(checkMounts([bind(rw, "/data/w", false)], config, "/sandbox")[0]).toMatchObject({ source: rw, readOnly: false });
  });

  it("refuses paths outside, symlinks pointing out, '..', read-write on a read-only entry, and below a read-write entry", () => {
    expect(reasonOf(() => checkMounts([bind(outside, "/data/x")], config, "/sandbox"))).toBe("VOLUME_HOST_PATH_NOT_ALLOWED");
    expect(reasonOf(() => checkMounts([bind(join(ro, "escape"), "/data/x")], config, "/sandbox"))).toBe("VOLUME_HOST_PATH_NOT_ALLOWED");
    expect(reasonOf(() => checkMounts([bind(join(ro, "missing"), "/data/x")], config, "/sandbox"))).toBe("VOLUME_HOST_PATH_NOT_ALLOWED");
    expect(reasonOf(() => checkMounts([bind(`${ro}/../outside`, "/data/x")], config, "/sandbox"))).toBe("VOLUME_HOST_PATH_INVALID");
    expect(reasonOf(() => checkMounts([bind("relative", "/data/x")], config, "/sandbox"))).toBe("VOLUME_HOST_PATH_INVALID");
    expect(reasonOf(() => checkMounts([bind(ro, "/data/x", false)], config, "/sandbox"))).toBe("VOLUME_HOST_PATH_READ_ONLY");
    expect(reasonOf(() => checkMounts([bind(join(rw, "sub"), "/data/x")], config, "/sandbox"))).toBe("VOLUME_HOST_PATH_NOT_ALLOWED");
    const none: Config = { ...defaultConfig };
    expect(reasonOf(() => checkMounts([bind(ro, "/data/x")], none, "/sandbox"))).toBe("VOLUME_HOST_PATH_NOT_ALLOWED");
  });
});

describe("checkMounts: paths in the sandbox", () => {
  it("refuses what is not absolute, not normalised, outside the roots, the workdir, /tmp, or twice the same", () => {
    for (const path of ["", "data", "/data/../etc", "/data/./x", "/data//x", "/data/x/", "/etc", "/usr/lib/x", "/tmp/x", "/sandbox", "/"]) {
      expect(
        reasonOf(() => checkMounts([bind(ro, path)], config, "/sandbox")),
        path,
      ).toBe("VOLUME_MOUNT_PATH_INVALID");
    }
    expect(reasonOf(() => checkMounts([bind(ro, "/data/x"), bind(ro, "/data/x")], config, "/sandbox"))).toBe("VOLUME_MOUNT_PATH_INVALID");
    expect(reasonOf(() => checkMounts([bind(ro, "/sandbox/data")], config, "/sandbox"))).toBe("accepted");
  });

  it("a named volume must have been resolved for the tenant; a mount names one source", () => {
    expect(reasonOf(() => checkMounts([{ volume: "v", hostPath: "", path: "/data/v", readOnly: false }], config, "/sandbox"))).toBe("VOLUME_MOUNT_INVALID");
    expect(reasonOf(() => checkMounts([{ volume: "v", hostPath: ro, path: "/data/v", readOnly: false }], config, "/sandbox"))).toBe("VOLUME_MOUNT_INVALID");
    expect(reasonOf(() => checkMounts([{ volume: "", hostPath: "", path: "/data/v", readOnly: false }], config, "/sandbox"))).toBe("VOLUME_MOUNT_INVALID");
    const resolved = { volume: "v", hostPath: "", path: "/data/v", readOnly: true, resolved: { id: "vol_1", name: "v", engineName: "sandboxd-x-vol_1" } };
    expect(checkMounts([resolved], config, "/sandbox")).toEqual([
      { kind: "volume", volumeId: "vol_1", volumeName: "v", source: "sandboxd-x-vol_1", path: "/data/v", readOnly: true },
    ]);
  });
});
