import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

// Each test attacks a sandbox the way hostile code would, and checks the boundary held
// and the daemon (and other sandboxes) kept serving.
let d: DaemonHandle;
let victim: string;
let bystander: string;

beforeAll(async () => {
  d = await startDaemon({ args: ["--max-output-bytes", "4m"], env: { HOST_ONLY_SECRET: "s3cr3t-of-the-host" } });
  victim = (
    await d.sandbox.createSandbox({ spec: { language: "python", resources: { memoryBytes: 128n * 1024n * 1024n, pids: 64, diskBytes: 32n * 1024n * 1024n } } })
  ).sandbox!.id;
  bystander = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox!.id;
});

afterAll(async () => {
  await d?.stop();
});

async function bystanderOk() {
  const r = await collect(d.sandbox.run({ sandboxId: bystander, code: "print('fine')" }));
  expect(r.stdout).toBe("fine\n");
}

describe("hostile programs are contained", () => {
  it("a fork bomb hits the pids limit; the daemon and other sandboxes keep serving", async () => {
    const bomb = collect(d.sandbox.exec({ sandboxId: victim, shell: "bomb() { bomb | bomb & }; bomb; sleep 3", timeoutMs: 6000 }));
    await new Promise((r) => setTimeout(r, 1000));
    await bystanderOk();
    const r = await bomb;
    expect([ExitStatus.TIMEOUT, ExitStatus.EXITED, ExitStatus.KILLED]).toContain(r.exit.status);
    // The deadline killed the tree; the victim recovers once the processes are gone.
    const after = await collect(d.sandbox.run({ sandboxId: victim, code: "print('recovered')", timeoutMs: 20_000 }));
    expect(after.stdout).toBe("recovered\n");
  });

  it("a memory bomb ends as OOM", async () => {
    const r = await collect(
      d.sandbox.run({ sandboxId: victim, code: "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))", timeoutMs: 30_000 }),
    );
    expect(r.exit.status).toBe(ExitStatus.OOM);
    expect(r.exit.message).toMatch(/out-of-memory/);
    await bystanderOk();
  });

  it("filling the disk is bounded by the workdir's size", async () => {
    const r = await collect(
      d.sandbox.exec({ sandboxId: victim, shell: "dd if=/dev/zero of=/sandbox/fill bs=1M count=500 2>&1; du -m /sandbox/fill | cut -f1; rm -f /sandbox/fill" }),
    );
    expect(r.stdout).toMatch(/No space left on device/);
    const mb = Number(r.stdout.trim().split("\n").at(-1));
    expect(mb).toBeLessThanOrEqual(64);
    await bystanderOk();
  });

  it("an output flood is capped and the daemon's memory stays bounded", async () => {
    const before = d.rssBytes();
    const r = await collect(d.sandbox.exec({ sandboxId: victim, shell: "head -c 300000000 /dev/zero | tr '\\0' 'x'", timeoutMs: 60_000 }));
    expect(r.exit.truncated).toBe(true);
    expect(r.stdout.length).toBe(4 * 1024 * 1024);
    expect(d.rssBytes() - before).toBeLessThan(64 * 1024 * 1024);
  });

  it("has no network egress", async () => {
    const r = await collect(
      d.sandbox.run({
        sandboxId: victim,
        code: "import socket\nfor host in [('1.1.1.1', 80), ('8.8.8.8', 53), ('172.17.0.1', 2375)]:\n    try:\n        socket.create_connection(host, timeout=2)\n        print('reached', host)\n    except OSError as e:\n        print('blocked')",
      }),
    );
    expect(r.stdout).toBe("blocked\nblocked\nblocked\n");
  });

  it("cannot mount, chown root files, open raw sockets, read PID 1's environment, or reach the engine", async () => {
    const r = await collect(
      d.sandbox.exec({
        sandboxId: victim,
        shell: [
          "mount -t tmpfs none /mnt 2>/dev/null && echo mounted || echo no-mount",
          "chown 1000 /etc/passwd 2>/dev/null && echo chowned || echo no-chown",
          'python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)" 2>/dev/null && echo raw || echo no-raw',
          // PID 1 is the sandbox's own init (a PID namespace): no host process, no host environment.
          "tr '\\0' ' ' </proc/1/cmdline | grep -qE '^(/sbin/docker-init|/run/podman-init|catatonit|/usr/bin/catatonit|sleep)' && echo own-init || echo host-init",
          "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c s3cr3t-of-the-host",
          "ls /var/run/docker.sock /run/docker.sock /run/podman/podman.sock 2>/dev/null | wc -l",
          "su -c id root </dev/null >/dev/null 2>&1 && echo su || echo no-su",
          "grep -c . /proc/self/uid_map",
        ].join("; "),
      }),
    );
    const lines = r.stdout.trim().split("\n");
    expect(lines.slice(0, 7)).toEqual(["no-mount", "no-chown", "no-raw", "own-init", "0", "0", "no-su"]);
  });

  it("cannot make a user namespace (and so cannot mount, even inside one)", async () => {
    const r = await collect(
      d.sandbox.exec({
        sandboxId: victim,
        shell: [
          "unshare -Urm sh -c 'mount -t tmpfs none /mnt && echo mounted-in-userns' 2>/dev/null || echo no-userns",
          "unshare -U true 2>/dev/null && echo userns || echo no-userns",
          "python3 -c \"import os; os.unshare(os.CLONE_NEWUSER); print('unshared')\" 2>/dev/null || echo no-unshare",
          // Ordinary process creation still works (clone without namespace flags, threads).
          "python3 -c \"import subprocess, threading; t = threading.Thread(target=print, args=('thread',)); t.start(); t.join(); print(subprocess.run(['echo', 'spawned'], capture_output=True, text=True).stdout.strip())\"",
        ].join("; "),
      }),
    );
    expect(r.stdout.trim().split("\n")).toEqual(["no-userns", "no-userns", "no-unshare", "thread", "spawned"]);
  });

  it("the daemon kept serving through all of it", async () => {
    await bystanderOk();
    const list = await d.sandbox.listSandboxes({});
    expect(list.sandboxes.map((s) => s.id).sort()).toEqual([victim, bystander].sort());
  });
});
