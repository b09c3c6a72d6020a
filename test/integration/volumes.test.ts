import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxService } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { VolumeService } from "../../src/gen/sandboxd/v1/volume_service_pb.js";
import { hashToken } from "../../src/rpc/auth.js";
import { createClient } from "../helpers/client.js";
import { onKubernetes, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

// Volumes (issue 18 section 6): named volumes per tenant and allow-listed host binds.
const tokens = `alpha:${hashToken("alpha-secret")},beta:${hashToken("beta-secret")}`;
let d: DaemonHandle;
let hostRoot: string;
let roDir: string;
let rwDir: string;
let outside: string;

type GrpcError = { code: number; details: string; metadata: grpc.Metadata };
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("the call succeeded");
    },
    (e: GrpcError) => e,
  );
const reasonOf = (e: GrpcError) => e.metadata.get("sandboxd-reason")[0];
const as = (token: string) => ({ authorization: `Bearer ${token}` });
const volumesAs = (token: string) => createClient(VolumeService, d.address, { metadata: as(token) });
const sandboxesAs = (token: string) => createClient(SandboxService, d.address, { metadata: as(token) });

function daemonArgs(): string[] {
  return ["--volumes.host-binds", `${roDir},${rwDir}:rw`];
}

beforeAll(async () => {
  hostRoot = mkdtempSync(join(tmpdir(), "sandboxd-binds-"));
  chmodSync(hostRoot, 0o755);
  roDir = join(hostRoot, "ro");
  rwDir = join(hostRoot, "rw");
  outside = join(hostRoot, "outside");
  for (const dir of [roDir, rwDir, outside]) mkdirSync(dir, { mode: 0o755 });
  chmodSync(rwDir, 0o777); // the sandbox user (uid 1000) writes here
  writeFileSync(join(roDir, "greeting.txt"), "hello from the host\n", { mode: 0o644 });
  writeFileSync(join(outside, "secret.txt"), "not for sandboxes\n", { mode: 0o644 });
  // A symlink inside the allow-listed directory pointing out of it.
  symlinkSync(outside, join(roDir, "escape"));
  d = await startDaemon({ env: { SANDBOXD_AUTH__TOKENS: tokens }, args: daemonArgs(), clientOptions: { metadata: as("alpha-secret") } });
});

afterAll(async () => {
  await d?.stop();
  if (hostRoot) rmSync(hostRoot, { recursive: true, force: true });
});

async function run(sb: ReturnType<typeof sandboxesAs>, sandboxId: string, code: string) {
  return collect(sb.run({ sandboxId, code }));
}

describe.skipIf(onKubernetes)("named volumes (Docker, Podman)", () => {
  it("data written by one sandbox is read by the next; a read-only mount refuses writes; in use, it cannot be deleted", async () => {
    const vols = volumesAs("alpha-secret");
    const sb = sandboxesAs("alpha-secret");
    const created = (await vols.createVolume({ name: "results", sizeLimitBytes: 64n * 1024n * 1024n })).volume!;
    expect(created.id).toMatch(/^vol_/);
    expect(created).toMatchObject({ name: "results", sizeLimitBytes: 64n * 1024n * 1024n });
    const again = await failure(vols.createVolume({ name: "results" }));
    expect(again.code).toBe(grpc.status.ALREADY_EXISTS);

    const first = (await sb.createSandbox({ spec: { language: "python", mounts: [{ source: { case: "volume", value: "results" }, path: "/data/results" }] } }))
      .sandbox!;
    const wrote = await run(sb, first.id, "open('/data/results/answer.txt', 'w').write('42\\n'); print('written')");
    expect(wrote.stdout).toBe("written\n");
    expect(wrote.exit.exitCode).toBe(0);
    expect((await vols.getVolume({ volume: created.id })).volume!.mountedBy).toEqual([first.id]);
    await sb.destroySandbox({ sandboxId: first.id });

    // The next sandbox mounts it read-only, by id, somewhere else.
    const second = (
      await sb.createSandbox({ spec: { language: "python", mounts: [{ source: { case: "volume", value: created.id }, path: "/mnt/in", readOnly: true }] } })
    ).sandbox!;
    expect(second.spec?.mounts).toEqual([expect.objectContaining({ source: { case: "volume", value: created.id }, path: "/mnt/in", readOnly: true })]);
    const read = await run(sb, second.id, "print(open('/mnt/in/answer.txt').read(), end='')");
    expect(read.stdout).toBe("42\n");
    const write = await run(sb, second.id, "open('/mnt/in/other.txt', 'w').write('x')");
    expect(write.exit.exitCode).not.toBe(0);
    expect(write.stderr).toMatch(/Read-only file system/);

    const got = (await vols.getVolume({ volume: "results" })).volume!;
    expect(got.usedBytes).toBeGreaterThan(0n);
    expect(got.mountedBy).toEqual([second.id]);
    const busy = await failure(vols.deleteVolume({ volume: "results" }));
    expect(busy.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(reasonOf(busy)).toBe("VOLUME_IN_USE");

    await sb.destroySandbox({ sandboxId: second.id });
    expect((await vols.deleteVolume({ volume: "results" })).deleted).toBe(true);
    expect((await vols.deleteVolume({ volume: "results" })).deleted).toBe(false);
    expect((await vols.listVolumes({})).volumes).toEqual([]);
    vols.close();
    sb.close();
  });

  it("another tenant's volume is NOT_FOUND, the same answer as a missing one", async () => {
    const alpha = volumesAs("alpha-secret");
    const beta = volumesAs("beta-secret");
    const betaSb = sandboxesAs("beta-secret");
    const mine = (await alpha.createVolume({ name: "private" })).volume!;
    try {
      expect((await beta.listVolumes({})).volumes).toEqual([]);
      const foreign = await failure(beta.getVolume({ volume: mine.id }));
      const missing = await failure(beta.getVolume({ volume: "vol_0000000000000000" }));
      expect(foreign.code).toBe(grpc.status.NOT_FOUND);
      expect(missing.code).toBe(grpc.status.NOT_FOUND);
      expect(reasonOf(foreign)).toBe(reasonOf(missing));
      expect(foreign.details.replace(mine.id, "X")).toBe(missing.details.replace("vol_0000000000000000", "X"));
      expect((await failure(beta.getVolume({ volume: "private" }))).code).toBe(grpc.status.NOT_FOUND);
      const mount = await failure(
        betaSb.createSandbox({ spec: { language: "python", mounts: [{ source: { case: "volume", value: mine.id }, path: "/data/x" }] } }),
      );
      expect(mount.code).toBe(grpc.status.NOT_FOUND);
      expect(reasonOf(mount)).toBe("VOLUME_NOT_FOUND");
      expect((await beta.deleteVolume({ volume: mine.id })).deleted).toBe(false);
      // The name is beta's to use too.
      const theirs = (await beta.createVolume({ name: "private" })).volume!;
      expect(theirs.id).not.toBe(mine.id);
      expect((await beta.deleteVolume({ volume: theirs.id })).deleted).toBe(true);
      expect((await alpha.getVolume({ volume: mine.id })).volume?.name).toBe("private");
    } finally {
      await alpha.deleteVolume({ volume: mine.id });
      alpha.close();
      beta.close();
      betaSb.close();
    }
  });

  it("volumes outlive the daemon: a restarted daemon of the same id lists them and mounts their data", async () => {
    const vols = volumesAs("alpha-secret");
    const sb = sandboxesAs("alpha-secret");
    const vol = (await vols.createVolume({ name: "kept" })).volume!;
    const s = (await sb.createSandbox({ spec: { language: "python", mounts: [{ source: { case: "volume", value: "kept" }, path: "/sandbox/kept" }] } }))
      .sandbox!;
    expect((await run(sb, s.id, "open('/sandbox/kept/f', 'w').write('still here')")).exit.exitCode).toBe(0);
    vols.close();
    sb.close();
    const daemonId = d.daemonId;
    await d.stop();
    d = await startDaemon({ daemonId, env: { SANDBOXD_AUTH__TOKENS: tokens }, args: daemonArgs(), clientOptions: { metadata: as("alpha-secret") } });
    const vols2 = volumesAs("alpha-secret");
    const sb2 = sandboxesAs("alpha-secret");
    expect((await vols2.listVolumes({})).volumes.map((v) => v.id)).toEqual([vol.id]);
    const s2 = (await sb2.createSandbox({ spec: { language: "python", mounts: [{ source: { case: "volume", value: "kept" }, path: "/data/k" }] } })).sandbox!;
    expect((await run(sb2, s2.id, "print(open('/data/k/f').read())")).stdout).toBe("still here\n");
    await sb2.destroySandbox({ sandboxId: s2.id });
    expect((await vols2.deleteVolume({ volume: vol.id })).deleted).toBe(true);
    vols2.close();
    sb2.close();
  });
});

describe("mount paths and host binds", () => {
  const hostMount = (hostPath: string, path: string, readOnly: boolean) => ({ source: { case: "hostPath" as const, value: hostPath }, path, readOnly });

  it("a mount path must be absolute, normalised and under the allowed roots", async () => {
    const sb = sandboxesAs("alpha-secret");
    for (const path of ["data/x", "/data/../etc", "/data/./x", "/data//x", "/etc/x", "/tmp/x", "/sandbox", "/proc/x", "/"]) {
      const e = await failure(sb.createSandbox({ spec: { language: "python", mounts: [hostMount(roDir, path, true)] } }));
      expect(e.code, path).toBe(grpc.status.INVALID_ARGUMENT);
      expect(reasonOf(e), path).toBe("VOLUME_MOUNT_PATH_INVALID");
    }
    sb.close();
  });

  it("a bind outside the allow-list is refused, including through a symlink pointing out, and `..`", async () => {
    const sb = sandboxesAs("alpha-secret");
    const outsideBind = await failure(sb.createSandbox({ spec: { language: "python", mounts: [hostMount(outside, "/data/h", true)] } }));
    expect(outsideBind.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(reasonOf(outsideBind)).toBe("VOLUME_HOST_PATH_NOT_ALLOWED");
    const viaSymlink = await failure(sb.createSandbox({ spec: { language: "python", mounts: [hostMount(join(roDir, "escape"), "/data/h", true)] } }));
    expect(viaSymlink.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(reasonOf(viaSymlink)).toBe("VOLUME_HOST_PATH_NOT_ALLOWED");
    const dotdot = await failure(sb.createSandbox({ spec: { language: "python", mounts: [hostMount(`${roDir}/../outside`, "/data/h", true)] } }));
    expect(dotdot.code).toBe(grpc.status.INVALID_ARGUMENT);
    const missing = await failure(sb.createSandbox({ spec: { language: "python", mounts: [hostMount(join(roDir, "nope"), "/data/h", true)] } }));
    expect(missing.code).toBe(grpc.status.PERMISSION_DENIED);
    // A read-only entry cannot be mounted read-write.
    const rw = await failure(sb.createSandbox({ spec: { language: "python", mounts: [hostMount(roDir, "/data/h", false)] } }));
    expect(rw.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(reasonOf(rw)).toBe("VOLUME_HOST_PATH_READ_ONLY");
    sb.close();
  });

  it.skipIf(onKubernetes)("an allowed bind: read-only entries are read and refuse writes, :rw entries are written through to the host", async () => {
    const sb = sandboxesAs("alpha-secret");
    const s = (
      await sb.createSandbox({
        spec: { language: "python", mounts: [hostMount(roDir, "/data/in", true), hostMount(rwDir, "/data/out", false)] },
      })
    ).sandbox!;
    try {
      expect((await run(sb, s.id, "print(open('/data/in/greeting.txt').read(), end='')")).stdout).toBe("hello from the host\n");
      const refused = await run(sb, s.id, "open('/data/in/new.txt', 'w').write('x')");
      expect(refused.exit.exitCode).not.toBe(0);
      expect(refused.stderr).toMatch(/Read-only file system/);
      // The symlink inside points at the host's path, which the sandbox does not have.
      const escaped = await run(sb, s.id, "import os; print(os.path.exists('/data/in/escape/secret.txt'))");
      expect(escaped.stdout).toBe("False\n");
      expect((await run(sb, s.id, "open('/data/out/result.txt', 'w').write('from the sandbox')")).exit.exitCode).toBe(0);
      expect(readFileSync(join(rwDir, "result.txt"), "utf8")).toBe("from the sandbox");
    } finally {
      await sb.destroySandbox({ sandboxId: s.id });
      sb.close();
    }
  });
});

describe.runIf(onKubernetes)("volumes on Kubernetes", () => {
  it("named volumes and host binds answer FAILED_PRECONDITION NOT_SUPPORTED_BY_BACKEND", async () => {
    const vols = volumesAs("alpha-secret");
    const sb = sandboxesAs("alpha-secret");
    for (const call of [
      vols.createVolume({ name: "x" }),
      vols.listVolumes({}),
      sb.createSandbox({ spec: { language: "python", mounts: [{ source: { case: "hostPath", value: roDir }, path: "/data/h", readOnly: true }] } }),
    ]) {
      const e = await failure(call);
      expect(e.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(reasonOf(e)).toBe("NOT_SUPPORTED_BY_BACKEND");
    }
    vols.close();
    sb.close();
  });
});
