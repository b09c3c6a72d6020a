import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExhaustionStrategy, PoolService } from "../../src/gen/sandboxd/v1/pool_service_pb.js";
import { SandboxService } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { hashToken } from "../../src/rpc/auth.js";
import { createClient } from "../helpers/client.js";
import { runPrefix, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { killFromOutside, workloads } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";

// Pools are small (2 cores in CI) and waits generous (Kubernetes pods take seconds to start).
const tokens = `alpha:${hashToken("alpha-secret")},beta:${hashToken("beta-secret")}`;
const readyTimeoutMs = 120_000;
let d: DaemonHandle;

type GrpcError = { code: number; details: string; metadata: grpc.Metadata };
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined as unknown as GrpcError,
    (e: GrpcError) => e,
  );
const reasonOf = (e: GrpcError) => e.metadata.get("sandboxd-reason")[0];

const poolsAs = (token: string) => createClient(PoolService, d.address, { metadata: { authorization: `Bearer ${token}` } });
const sandboxesAs = (token: string) => createClient(SandboxService, d.address, { metadata: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  d = await startDaemon({
    env: { SANDBOXD_AUTH__TOKENS: tokens },
    args: ["--pool-max-size", "3", "--max-pools-per-tenant", "3"],
    clientOptions: { metadata: { authorization: "Bearer alpha-secret" } },
  });
});

afterAll(async () => {
  await d?.stop();
  // Ready members are removed with the daemon; nothing of it is left.
  if (d) expect(await workloads([`org.sandboxd.daemon=${d.daemonId}`])).toEqual([]);
});

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = readyTimeoutMs): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function statsOf(pools: ReturnType<typeof poolsAs>, poolId: string) {
  return (await pools.getPool({ poolId })).pool!.stats!;
}

async function waitReady(pools: ReturnType<typeof poolsAs>, poolId: string, n: number) {
  await waitFor(`${n} ready members of ${poolId}`, async () => (await statsOf(pools, poolId)).ready >= n);
}

describe("PoolService: pools a tenant creates and manages", () => {
  it("create, get by id or name, list, update and delete; another tenant's pool does not exist for it", async () => {
    const alpha = poolsAs("alpha-secret");
    const beta = poolsAs("beta-secret");
    try {
      const created = (await alpha.createPool({ name: "py", spec: { language: "python" }, settings: { maxSize: 2 } })).pool!;
      expect(created).toMatchObject({ name: "py", fromConfig: false, settings: { minReady: 0, maxSize: 2, healthCheckIntervalMs: 60_000 } });
      expect(created.id).toMatch(/^pool_/);
      // Defaults are filled in, as CreateSandbox fills them.
      expect(created.spec?.language).toBe("python");
      expect(created.spec?.image).not.toBe("");
      expect(created.spec?.ttlMs).toBeGreaterThan(0);
      expect((await alpha.getPool({ poolId: created.id })).pool?.name).toBe("py");
      expect((await alpha.getPool({ poolId: "py" })).pool?.id).toBe(created.id);
      expect((await alpha.listPools({})).pools.map((p) => p.id)).toEqual([created.id]);

      const again = await failure(alpha.createPool({ name: "py", spec: { language: "python" } }));
      expect(again).toMatchObject({ code: grpc.status.ALREADY_EXISTS, details: expect.stringMatching(/named "py"/) });

      // beta sees nothing of alpha's pool: its id answers like a missing one, and the name is free for beta.
      expect((await beta.listPools({})).pools).toEqual([]);
      const foreign = await failure(beta.getPool({ poolId: created.id }));
      const missingId = created.id.replace(/.$/, (c) => (c === "a" ? "b" : "a"));
      const missing = await failure(beta.getPool({ poolId: missingId }));
      expect(foreign.code).toBe(grpc.status.NOT_FOUND);
      expect(foreign.details.replace(created.id, "ID")).toBe(missing.details.replace(missingId, "ID"));
      expect(await failure(beta.updatePool({ poolId: created.id, settings: { maxSize: 1 } }))).toMatchObject({ code: grpc.status.NOT_FOUND });
      expect(await beta.deletePool({ poolId: created.id })).toMatchObject({ deleted: false });
      const sandboxesBeta = sandboxesAs("beta-secret");
      expect(await failure(sandboxesBeta.createSandbox({ poolId: created.id }))).toMatchObject({ code: grpc.status.NOT_FOUND });
      sandboxesBeta.close();
      const betaPool = (await beta.createPool({ name: "py", spec: { language: "python" }, settings: { maxSize: 1 } })).pool!;
      expect(betaPool.id).not.toBe(created.id);

      const updated = (
        await alpha.updatePool({ poolId: "py", settings: { maxSize: 3, exhaustionStrategy: ExhaustionStrategy.FAIL_FAST, acquisitionTimeoutMs: 5 } })
      ).pool!;
      expect(updated.settings).toMatchObject({ maxSize: 3, exhaustionStrategy: ExhaustionStrategy.FAIL_FAST, acquisitionTimeoutMs: 5 });
      expect((await alpha.getPool({ poolId: created.id })).pool?.settings?.maxSize).toBe(3);
      expect(await failure(alpha.updatePool({ poolId: "py", settings: { minReady: 3, maxSize: 2 } }))).toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        details: expect.stringMatching(/min_ready 3 is more than settings.max_size 2/),
      });

      // At most --max-pools-per-tenant (3) pools.
      await alpha.createPool({ name: "two", spec: { language: "python" } });
      await alpha.createPool({ spec: { language: "python" } });
      const fourth = await failure(alpha.createPool({ name: "four", spec: { language: "python" } }));
      expect(fourth).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/max-pools-per-tenant 3/) });

      expect(await alpha.deletePool({ poolId: created.id })).toMatchObject({ deleted: true, destroyedSandboxes: 0 });
      expect(await alpha.deletePool({ poolId: created.id })).toMatchObject({ deleted: false });
      expect(await failure(alpha.getPool({ poolId: "py" }))).toMatchObject({ code: grpc.status.NOT_FOUND });
      for (const p of (await alpha.listPools({})).pools) await alpha.deletePool({ poolId: p.id });
      await beta.deletePool({ poolId: betaPool.id });
      expect((await alpha.listPools({})).pools).toEqual([]);
    } finally {
      alpha.close();
      beta.close();
    }
  });

  it("bad settings and specs fail at CreatePool with INVALID_ARGUMENT and a clear message", async () => {
    const alpha = poolsAs("alpha-secret");
    try {
      const cases: [Parameters<typeof alpha.createPool>[0], RegExp][] = [
        [{ spec: { language: "python" }, settings: { minReady: 3, maxSize: 2 } }, /min_ready 3 is more than settings.max_size 2/],
        [{ spec: { language: "python" }, settings: { maxSize: 4 } }, /max_size 4 is over this daemon's limit of 3 \(--pool-max-size\)/],
        [{ spec: { language: "python" }, settings: { minReady: 4 } }, /min_ready 4 is more than settings.max_size 3/],
        [{ spec: { language: "python", containerId: "abc" } }, /container_id cannot be pooled/],
        [{ spec: { language: "cobol" } }, /cobol.*not supported/],
        [{ spec: { language: "python" }, libraries: ["numpy; rm -rf /"] }, /invalid library name/],
        [{ name: "bad name!", spec: { language: "python" } }, /pool name/],
        [{ name: "config-python", spec: { language: "python" } }, /configuration's/],
      ];
      for (const [req, message] of cases) {
        expect(await failure(alpha.createPool(req)), message.source).toMatchObject({
          code: grpc.status.INVALID_ARGUMENT,
          details: expect.stringMatching(message),
        });
      }
      expect((await alpha.listPools({})).pools).toEqual([]);
      expect(await failure(alpha.getPool({ poolId: "" }))).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
      // CreateSandbox: an unknown pool, and spec fields other than labels, ttl_ms and idle_timeout_ms with a pool_id.
      expect(await failure(d.sandbox.createSandbox({ poolId: "no-such-pool" }))).toMatchObject({
        code: grpc.status.NOT_FOUND,
        details: expect.stringMatching(/pool "no-such-pool" not found/),
      });
      const pool = (await alpha.createPool({ name: "strict", spec: { language: "python" }, settings: { maxSize: 1 } })).pool!;
      const mixed = await failure(d.sandbox.createSandbox({ poolId: pool.id, spec: { image: "alpine", labels: { a: "b" }, resources: { pids: 5 } } }));
      expect(mixed).toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        details: expect.stringMatching(/spec.image, spec.resources cannot be set with pool_id/),
      });
      expect((await statsOf(alpha, pool.id)).inUse).toBe(0);
      await alpha.deletePool({ poolId: pool.id });
      expect((await d.sandbox.listSandboxes({})).sandboxes).toEqual([]);
    } finally {
      alpha.close();
    }
  });

  it("hands each ready member out once with pool_id and from_pool, refills min_ready, installs libraries first", async () => {
    const alpha = poolsAs("alpha-secret");
    try {
      const pool = (
        await alpha.createPool({
          name: "warm",
          spec: { language: "python", labels: { team: "a" } },
          settings: { minReady: 1, maxSize: 2, exhaustionStrategy: ExhaustionStrategy.FAIL_FAST },
          libraries: ["numpy"],
        })
      ).pool!;
      expect(pool.libraries).toEqual(["numpy"]);
      await waitReady(alpha, pool.id, 1);
      expect((await statsOf(alpha, pool.id)).lastRefillMs).toBeGreaterThan(0);

      const first = (await d.sandbox.createSandbox({ poolId: "warm", spec: { labels: { who: "first" }, ttlMs: 600_000 } })).sandbox!;
      expect(first).toMatchObject({ fromPool: true, poolId: pool.id });
      expect(first.spec?.labels).toEqual({ team: "a", who: "first" });
      expect(first.spec?.ttlMs).toBe(600_000);
      expect((await statsOf(alpha, pool.id)).hits).toBe(1n);
      const wrote = await collect(d.sandbox.exec({ sandboxId: first.id, shell: "echo mine > /sandbox/secret.txt && echo ok" }));
      expect(wrote.stdout).toBe("ok\n");

      // min_ready is refilled with a fresh member: another id, another container, no file of the first user.
      await waitReady(alpha, pool.id, 1);
      const second = (await d.sandbox.createSandbox({ poolId: pool.id })).sandbox!;
      expect(second).toMatchObject({ fromPool: true, poolId: pool.id });
      expect(second.id).not.toBe(first.id);
      expect(second.containerId).not.toBe(first.containerId);
      const peek = await collect(d.sandbox.exec({ sandboxId: second.id, shell: "ls -A /sandbox; echo end" }));
      expect(peek.stdout).toBe("end\n");
      // The library was there before the member was handed out (no network: nothing could be downloaded).
      const numpy = await collect(d.sandbox.run({ sandboxId: second.id, code: "import numpy; print(numpy.__name__)", libraries: ["numpy"] }));
      expect(numpy.stdout).toBe("numpy\n");
      expect((await d.sandbox.listSandboxes({ labels: { team: "a" } })).sandboxes.map((s) => s.id).sort()).toEqual([first.id, second.id].sort());

      // Both places are taken (max_size 2): FAIL_FAST refuses at once, naming POOL_EXHAUSTED.
      const stats = await statsOf(alpha, pool.id);
      expect(stats).toMatchObject({ inUse: 2, ready: 0, creating: 0, hits: 2n });
      const refused = await failure(d.sandbox.createSandbox({ poolId: pool.id }));
      expect(refused).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/max_size of 2.*POOL_EXHAUSTED/) });
      expect(reasonOf(refused)).toBe("POOL_EXHAUSTED");
      expect((await statsOf(alpha, pool.id)).exhausted).toBe(1n);

      // TEMPORARY: an ordinary sandbox of the pool's spec, outside the pool.
      await alpha.updatePool({ poolId: pool.id, settings: { minReady: 1, maxSize: 2, exhaustionStrategy: ExhaustionStrategy.TEMPORARY } });
      const temp = (await d.sandbox.createSandbox({ poolId: pool.id })).sandbox!;
      expect(temp).toMatchObject({ fromPool: false, poolId: "" });
      expect(temp.spec?.labels).toEqual({ team: "a" });
      expect(await statsOf(alpha, pool.id)).toMatchObject({ temporary: 1n, inUse: 2 });
      await d.sandbox.destroySandbox({ sandboxId: temp.id });

      // Destroying a handed-out sandbox frees its place (it is not returned): the pool refills.
      await d.sandbox.destroySandbox({ sandboxId: first.id });
      await waitReady(alpha, pool.id, 1);
      expect((await statsOf(alpha, pool.id)).inUse).toBe(1);

      // DeletePool with destroy_sandboxes: the ready member and the handed-out sandbox go.
      expect(await alpha.deletePool({ poolId: pool.id, destroySandboxes: true })).toMatchObject({ deleted: true, destroyedSandboxes: 1 });
      expect((await d.sandbox.listSandboxes({})).sandboxes).toEqual([]);
      expect(await workloads([`org.sandboxd.daemon=${d.daemonId}`, `org.sandboxd.pool=${pool.id}`])).toEqual([]);
    } finally {
      alpha.close();
    }
  });

  it("WAIT: a waiter gets the place a destroyed sandbox frees, or RESOURCE_EXHAUSTED after acquisition_timeout_ms", async () => {
    const alpha = poolsAs("alpha-secret");
    try {
      const pool = (await alpha.createPool({ name: "wait", spec: { language: "python" }, settings: { maxSize: 1, acquisitionTimeoutMs: 1000 } })).pool!;
      // None ready, room: a member is started for the caller (a miss), counted in use.
      const held = (await d.sandbox.createSandbox({ poolId: pool.id })).sandbox!;
      expect(held).toMatchObject({ fromPool: true, poolId: pool.id });
      expect(await statsOf(alpha, pool.id)).toMatchObject({ misses: 1n, hits: 0n, inUse: 1 });

      const timedOut = await failure(d.sandbox.createSandbox({ poolId: pool.id }));
      expect(timedOut).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/acquisition_timeout_ms 1000.*POOL_EXHAUSTED/) });
      expect((await statsOf(alpha, pool.id)).exhausted).toBe(1n);

      await alpha.updatePool({ poolId: pool.id, settings: { maxSize: 1, exhaustionStrategy: ExhaustionStrategy.WAIT, acquisitionTimeoutMs: readyTimeoutMs } });
      const waiting = d.sandbox.createSandbox({ poolId: pool.id });
      await waitFor("a waiter", async () => (await statsOf(alpha, pool.id)).waiting === 1, 30_000);
      await d.sandbox.destroySandbox({ sandboxId: held.id });
      const got = (await waiting).sandbox!;
      expect(got).toMatchObject({ fromPool: true, poolId: pool.id });
      expect(got.id).not.toBe(held.id);
      expect(await statsOf(alpha, pool.id)).toMatchObject({ waiting: 0, inUse: 1 });

      // DeletePool wakes waiters with POOL_CLOSED; without destroy_sandboxes the handed-out sandbox lives on.
      const waiter = failure(d.sandbox.createSandbox({ poolId: pool.id }));
      await waitFor("a waiter", async () => (await statsOf(alpha, pool.id)).waiting === 1, 30_000);
      expect(await alpha.deletePool({ poolId: pool.id })).toMatchObject({ deleted: true, destroyedSandboxes: 0 });
      const closed = await waiter;
      expect(closed).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, details: expect.stringMatching(/was deleted.*POOL_CLOSED/) });
      expect(reasonOf(closed)).toBe("POOL_CLOSED");
      const alive = await collect(d.sandbox.exec({ sandboxId: got.id, shell: "echo alive" }));
      expect(alive.stdout).toBe("alive\n");
      expect((await d.sandbox.getSandbox({ sandboxId: got.id })).sandbox?.poolId).toBe(pool.id);
      await d.sandbox.destroySandbox({ sandboxId: got.id });
    } finally {
      alpha.close();
    }
  });

  it("FAIL_FAST does not refuse while the pool's members are still being started", async () => {
    const alpha = poolsAs("alpha-secret");
    try {
      const pool = (
        await alpha.createPool({ spec: { language: "python" }, settings: { minReady: 1, maxSize: 1, exhaustionStrategy: ExhaustionStrategy.FAIL_FAST } })
      ).pool!;
      // Right after CreatePool the one place is held by the member being started: the caller gets that member.
      const got = (await d.sandbox.createSandbox({ poolId: pool.id })).sandbox!;
      expect(got).toMatchObject({ fromPool: true, poolId: pool.id });
      expect(await statsOf(alpha, pool.id)).toMatchObject({ inUse: 1, exhausted: 0n });
      expect(await alpha.deletePool({ poolId: pool.id, destroySandboxes: true })).toMatchObject({ deleted: true, destroyedSandboxes: 1 });
    } finally {
      alpha.close();
    }
  });

  it("ready members are replaced when idle too long, or when their agent died (recycled)", async () => {
    const alpha = poolsAs("alpha-secret");
    const members = async (poolId: string) => (await workloads([`org.sandboxd.pool=${poolId}`])).map((w) => w.id);
    try {
      const settings = { minReady: 1, maxSize: 1, idleTimeoutMs: 3000, healthCheckIntervalMs: 1000 };
      const pool = (await alpha.createPool({ spec: { language: "python" }, settings })).pool!;
      await waitReady(alpha, pool.id, 1);
      const [first] = await members(pool.id);
      await waitFor(
        "the idle member replaced",
        async () => (await statsOf(alpha, pool.id)).recycled >= 1n && (await statsOf(alpha, pool.id)).ready === 1 && !(await members(pool.id)).includes(first!),
      );
      await alpha.updatePool({ poolId: pool.id, settings: { ...settings, idleTimeoutMs: 0 } });
      const [second] = await members(pool.id);
      await killFromOutside(second!);
      await waitFor(
        "the dead member replaced",
        async () =>
          (await statsOf(alpha, pool.id)).recycled >= 2n && (await statsOf(alpha, pool.id)).ready === 1 && !(await members(pool.id)).includes(second!),
      );
      // The fresh member serves.
      const got = (await d.sandbox.createSandbox({ poolId: pool.id })).sandbox!;
      expect((await collect(d.sandbox.exec({ sandboxId: got.id, shell: "echo fresh" }))).stdout).toBe("fresh\n");
      expect(await alpha.deletePool({ poolId: pool.id, destroySandboxes: true })).toMatchObject({ destroyedSandboxes: 1 });
    } finally {
      alpha.close();
    }
  });

  it("a library that cannot be installed fails the member: no member is ready, an acquisition says why", async () => {
    const alpha = poolsAs("alpha-secret");
    try {
      const pool = (
        await alpha.createPool({
          name: "broken",
          spec: { language: "python" },
          settings: { maxSize: 1, exhaustionStrategy: ExhaustionStrategy.FAIL_FAST },
          libraries: ["sandboxd-no-such-package-x"],
        })
      ).pool!;
      const err = await failure(d.sandbox.createSandbox({ poolId: pool.id }));
      expect(err).toMatchObject({
        code: grpc.status.FAILED_PRECONDITION,
        details: expect.stringMatching(/installing sandboxd-no-such-package-x in a pool member failed/),
      });
      expect(reasonOf(err)).toBe("POOL_INSTALL_FAILED");
      // Its place is free again and nothing of the failed member is left.
      expect(await statsOf(alpha, pool.id)).toMatchObject({ ready: 0, creating: 0, inUse: 0, misses: 1n });
      expect((await d.sandbox.listSandboxes({})).sandboxes).toEqual([]);
      await waitFor("the failed member removed", async () => (await workloads([`org.sandboxd.pool=${pool.id}`])).length === 0, 30_000);
      await alpha.deletePool({ poolId: pool.id });
    } finally {
      alpha.close();
    }
  });
});

describe("pools and the daemon's life", () => {
  it("a restart removes API pools' ready members and keeps their handed-out sandboxes as ordinary ones", async () => {
    const daemonId = `${runPrefix()}${randomBytes(4).toString("hex")}`;
    const d1 = await startDaemon({ daemonId });
    const pools1 = createClient(PoolService, d1.address);
    const pool = (await pools1.createPool({ name: "r", spec: { language: "python" }, settings: { minReady: 1, maxSize: 2 } })).pool!;
    await waitFor("a ready member", async () => (await pools1.getPool({ poolId: pool.id })).pool!.stats!.ready >= 1);
    const handed = (await d1.sandbox.createSandbox({ poolId: pool.id })).sandbox!;
    await waitFor("the refill", async () => (await pools1.getPool({ poolId: pool.id })).pool!.stats!.ready >= 1);
    pools1.close();
    await d1.stop("SIGKILL");
    await new Promise((r) => setTimeout(r, 2500));

    const d2 = await startDaemon({ daemonId });
    const pools2 = createClient(PoolService, d2.address);
    try {
      expect((await pools2.listPools({})).pools).toEqual([]);
      const listed = (await d2.sandbox.listSandboxes({})).sandboxes;
      expect(listed.map((s) => s.id)).toEqual([handed.id]);
      expect(listed[0]).toMatchObject({ fromPool: true, poolId: pool.id });
      expect((await collect(d2.sandbox.exec({ sandboxId: handed.id, shell: "echo adopted" }))).stdout).toBe("adopted\n");
      // The unassigned member was removed at adoption.
      expect((await workloads([`org.sandboxd.daemon=${daemonId}`])).map((w) => w.labels["org.sandboxd.sandbox-id"])).toEqual([handed.id]);
    } finally {
      pools2.close();
      await d2.stop();
    }
    expect(await workloads([`org.sandboxd.daemon=${daemonId}`])).toEqual([]);
  });

  it("a daemon stopped while members are being started (for the refill and for a caller) leaves no container", async () => {
    const ds = await startDaemon();
    const pools = createClient(PoolService, ds.address);
    const pool = (await pools.createPool({ spec: { language: "python" }, settings: { minReady: 2, maxSize: 3 } })).pool!;
    // A third caller-started member (a miss) is under way too when the daemon stops.
    const acquiring = failure(ds.sandbox.createSandbox({ poolId: pool.id }));
    await waitFor("members being started", async () => (await pools.getPool({ poolId: pool.id })).pool!.stats!.creating >= 1, 30_000);
    pools.close();
    expect(await ds.stop()).toBe(0);
    await acquiring;
    expect(await workloads([`org.sandboxd.daemon=${ds.daemonId}`])).toEqual([]);
  });

  it("ready members count against the tenant's sandbox quota; handing one out needs no more", async () => {
    const metricsAddress = `127.0.0.1:${20000 + Math.floor(Math.random() * 20000)}`;
    await using dq = await startDaemon({ args: ["--quotas.max-sandboxes", "2", "--metrics-listen", metricsAddress] });
    const pools = createClient(PoolService, dq.address);
    try {
      const pool = (await pools.createPool({ spec: { language: "python" }, settings: { minReady: 2, maxSize: 3 } })).pool!;
      await waitFor("2 ready members", async () => (await pools.getPool({ poolId: pool.id })).pool!.stats!.ready >= 2);
      const refused = await failure(dq.sandbox.createSandbox({ spec: { language: "python" } }));
      expect(refused).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/max-sandboxes/) });
      const got = (await dq.sandbox.createSandbox({ poolId: pool.id })).sandbox!;
      expect(got.poolId).toBe(pool.id);
      // 1 handed out + 1 ready = the quota: the pool does not refill past it.
      expect((await failure(dq.sandbox.createSandbox({ spec: { language: "python" } }))).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect((await pools.getPool({ poolId: pool.id })).pool!.stats).toMatchObject({ ready: 1, inUse: 1 });
      await dq.sandbox.destroySandbox({ sandboxId: got.id });
      await waitFor("the refill after the place freed", async () => (await pools.getPool({ poolId: pool.id })).pool!.stats!.ready >= 2);
      const metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
      expect(metrics).toContain(`sandboxd_api_pool_ready{pool="${pool.id}",tenant="default"} 2`);
      expect(metrics).toContain(`sandboxd_api_pool_hits_total{pool="${pool.id}",tenant="default"} 1`);
      expect(metrics).toMatch(/sandboxd_api_pools 1\n/);
    } finally {
      pools.close();
    }
  });

  it("the configuration's pools are listed read-only", async () => {
    await using d3 = await startDaemon({ args: ["--pools.python", "1"] });
    const pools = createClient(PoolService, d3.address);
    try {
      const listed = (await pools.listPools({})).pools;
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ id: "config-python", fromConfig: true, settings: { minReady: 1 } });
      expect((await pools.getPool({ poolId: "config-python" })).pool?.spec?.language).toBe("python");
      expect(await failure(pools.updatePool({ poolId: "config-python", settings: { minReady: 0 } }))).toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
      expect(await failure(pools.deletePool({ poolId: "config-python" }))).toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    } finally {
      pools.close();
    }
  });
});
