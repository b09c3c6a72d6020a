import { Worker } from "node:worker_threads";
import { ErrorCode, SandboxdError, invalidArgument } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { CheckCodeResult, SecurityPolicy } from "./index.js";

// From src/ under tsx, workers do not inherit the loader: a boot file registers tsx, then
// loads the TypeScript body. Built (dist/), the body is plain JavaScript beside this file.
const fromSource = import.meta.url.endsWith(".ts");
const workerScript = fromSource ? new URL("./policy-worker-boot.mjs", import.meta.url) : new URL("./policy-worker.js", import.meta.url);

interface Job {
  readonly id: number;
  readonly tenant: string;
  readonly language: string;
  readonly code: string;
  readonly policy: SecurityPolicy;
  readonly resolve: (r: CheckCodeResult) => void;
  readonly reject: (e: unknown) => void;
}

/** One worker thread and the job it runs (one at a time). */
interface Slot {
  worker: Worker | undefined;
  /** The worker has loaded and said so; only then does it get checks. */
  ready: boolean;
  job: Job | undefined;
  timer: NodeJS.Timeout | undefined;
}

interface Reply {
  ready?: true;
  id: number;
  result?: CheckCodeResult;
  error?: { name: string; message: string };
}

export interface PolicyCheckerOptions {
  /** Worker threads checking at once (default 2). */
  readonly workers?: number | undefined;
}

const DEFAULT_POLICY_WORKERS = 2;

/**
 * Runs policy checks in a small pool of worker threads, one check per worker at a time,
 * with a deadline per check. Waiting checks are queued per tenant and tenants take turns
 * (fewest running first, then round-robin), so one tenant's slow checks (a crafted 100 KB
 * literal takes most of a second) delay another tenant's by at most one check, and only
 * when every worker is busy.
 *
 * A check that does not finish in time (a regex backtracking on hostile input) fails
 * closed: its worker is terminated and replaced, and the caller gets an error instead of
 * a stalled daemon; checks running in the other workers are not affected. The deadline
 * counts from when a started worker takes the check, so neither waiting behind other
 * tenants' checks nor a new worker's start-up makes a check fail.
 */
export class PolicyChecker {
  private readonly slots: Slot[];
  /** Waiting jobs by tenant. */
  private readonly queues = new Map<string, Job[]>();
  /** When each tenant with a job waiting or running was last given a worker. */
  private readonly lastServed = new Map<string, number>();
  private served = 0;
  private readyWaiters: Array<() => void> = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly deadlineMs: number,
    private readonly log: Logger,
    options: PolicyCheckerOptions = {},
  ) {
    const size = Math.max(1, Math.floor(options.workers ?? DEFAULT_POLICY_WORKERS));
    // Started by the first check (dispatch), not now: each thread is a V8 isolate of its own
    // (about 10 MiB resident), and a daemon whose sandboxes have no policy never needs one.
    // The first check pays the threads' start-up (tens of milliseconds) once.
    this.slots = Array.from({ length: size }, () => ({ worker: undefined, ready: false, job: undefined, timer: undefined }));
  }

  /** Check `code` for `tenant`; checks of one tenant run in the order asked. */
  check(language: string, code: string, policy: SecurityPolicy, tenant = ""): Promise<CheckCodeResult> {
    if (this.closed) return Promise.reject(new SandboxdError(ErrorCode.Unavailable, "the policy checker is shut down"));
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.nextId++, tenant, language, code, policy, resolve, reject };
      const queue = this.queues.get(tenant);
      if (queue) queue.push(job);
      else this.queues.set(tenant, [job]);
      this.dispatch();
    });
  }

  /** Resolves once every worker has started (checks asked before then simply wait). */
  whenReady(): Promise<void> {
    if (this.slots.every((slot) => slot.ready)) return Promise.resolve();
    if (!this.closed) for (const slot of this.slots) slot.worker ??= this.spawn(slot);
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    const unavailable = new SandboxdError(ErrorCode.Unavailable, "the policy checker is shut down");
    for (const queue of this.queues.values()) for (const job of queue) job.reject(unavailable);
    this.queues.clear();
    await Promise.all(
      this.slots.map(async (slot) => {
        const { worker, job } = slot;
        this.release(slot);
        slot.worker = undefined;
        slot.ready = false;
        job?.reject(unavailable);
        await worker?.terminate();
      }),
    );
  }

  /** Give idle workers the next jobs, one tenant after another. */
  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.closed || this.queues.size === 0) return;
      slot.worker ??= this.spawn(slot); // one that failed to start is tried again here
      if (!slot.ready || slot.job !== undefined) continue;
      const job = this.nextJob();
      if (job === undefined) return;
      slot.job = job;
      slot.timer = setTimeout(() => this.expire(slot, job), this.deadlineMs);
      slot.worker.postMessage({ id: job.id, language: job.language, code: job.code, policy: job.policy });
    }
  }

  /**
   * The next job of the tenant whose turn it is: of the tenants waiting, the one with the
   * fewest checks running, then the one served longest ago (a new tenant first).
   */
  private nextJob(): Job | undefined {
    let best: string | undefined;
    let bestKey: [number, number] = [Infinity, Infinity];
    for (const tenant of this.queues.keys()) {
      const key: [number, number] = [this.running(tenant), this.lastServed.get(tenant) ?? -1];
      if (key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) {
        best = tenant;
        bestKey = key;
      }
    }
    if (best === undefined) return undefined;
    const queue = this.queues.get(best) ?? [];
    const job = queue.shift();
    if (queue.length === 0) this.queues.delete(best);
    this.lastServed.set(best, this.served++);
    return job;
  }

  private running(tenant: string): number {
    let count = 0;
    for (const slot of this.slots) if (slot.job?.tenant === tenant) count++;
    return count;
  }

  private spawn(slot: Slot): Worker {
    const w = new Worker(workerScript, {
      workerData: { entry: new URL("./policy-worker.ts", import.meta.url).href },
    });
    w.unref();
    w.on("message", (msg: Reply) => {
      if (slot.worker !== w) return;
      if (msg.ready) {
        slot.ready = true;
        if (this.slots.every((other) => other.ready)) for (const resolve of this.readyWaiters.splice(0)) resolve();
        this.dispatch();
        return;
      }
      const job = slot.job;
      if (job === undefined || job.id !== msg.id) return;
      this.release(slot);
      if (msg.error) {
        job.reject(
          msg.error.name === "PolicyError"
            ? invalidArgument(`invalid security policy: ${msg.error.message}`, { reason: "INVALID_POLICY" })
            : new Error(msg.error.message),
        );
      } else {
        job.resolve(msg.result as CheckCodeResult);
      }
      this.dispatch();
    });
    w.on("error", (err) => this.fail(slot, w, err));
    w.on("exit", () => this.fail(slot, w, new SandboxdError(ErrorCode.Unavailable, "the policy checker was restarted; try again")));
    return w;
  }

  /** The check in `slot` ran out of time: refuse the code and replace the stuck worker. */
  private expire(slot: Slot, job: Job): void {
    if (slot.job !== job) return;
    this.log.warn({ deadlineMs: this.deadlineMs, codeBytes: job.code.length, tenant: job.tenant }, "policy check exceeded its deadline; refusing the code");
    job.reject(
      new SandboxdError(ErrorCode.PermissionDenied, `the code could not be checked against the security policy within ${this.deadlineMs} ms`, {
        reason: "POLICY_CHECK_TIMEOUT",
      }),
    );
    this.replace(slot);
  }

  /** Worker `w` of `slot` died or failed: its check fails, and a new worker takes over. */
  private fail(slot: Slot, w: Worker, reason: unknown): void {
    if (slot.worker !== w) return;
    const job = slot.job;
    if (slot.ready) {
      this.replace(slot);
      job?.reject(reason);
      return;
    }
    // It never started (a broken install, say): no new worker until the next check, and
    // if no other worker can take the waiting checks, they fail rather than wait forever.
    slot.worker = undefined;
    void w.terminate();
    if (this.slots.some((other) => other.worker !== undefined)) return;
    this.log.error({ err: reason }, "the policy checker's worker failed to start");
    for (const queue of this.queues.values()) for (const waiting of queue) waiting.reject(reason);
    this.queues.clear();
    this.lastServed.clear(); // no worker runs anything
  }

  private replace(slot: Slot): void {
    const w = slot.worker;
    this.release(slot);
    slot.worker = undefined;
    slot.ready = false;
    void w?.terminate();
    if (this.closed) return;
    slot.worker = this.spawn(slot);
  }

  private release(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    const tenant = slot.job?.tenant;
    slot.timer = undefined;
    slot.job = undefined;
    // Forget idle tenants, so the table holds only tenants with work.
    if (tenant !== undefined && !this.queues.has(tenant) && this.running(tenant) === 0) this.lastServed.delete(tenant);
  }
}
