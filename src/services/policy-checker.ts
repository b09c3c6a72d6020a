import { Worker } from "node:worker_threads";
import { ErrorCode, SandboxdError, invalidArgument } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { CheckCodeResult, SecurityPolicy } from "../security/index.js";

interface Pending {
  resolve: (r: CheckCodeResult) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * Runs policy checks in one worker thread with a deadline per check. A check that does not
 * finish in time (a regex backtracking on hostile input) fails closed: the worker is
 * terminated and replaced, and the caller gets an error instead of a stalled daemon.
 */
export class PolicyChecker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(
    private readonly deadlineMs: number,
    private readonly log: Logger,
  ) {
    // Started now so the first check does not pay for the thread's start-up.
    this.worker = this.spawn();
  }

  private spawn(): Worker {
    const w = new Worker(new URL("./policy-worker-boot.mjs", import.meta.url), {
      workerData: { entry: new URL("./policy-worker.ts", import.meta.url).href },
    });
    w.unref();
    w.on("message", (msg: { id: number; result?: CheckCodeResult; error?: { name: string; message: string } }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.error) {
        p.reject(msg.error.name === "PolicyError" ? invalidArgument(`invalid security policy: ${msg.error.message}`, { reason: "INVALID_POLICY" }) : new Error(msg.error.message));
      } else {
        p.resolve(msg.result as CheckCodeResult);
      }
    });
    w.on("error", (err) => this.reset(err));
    w.on("exit", () => {
      if (this.worker === w) this.worker = undefined;
    });
    return w;
  }

  private reset(reason: unknown): void {
    const w = this.worker;
    this.worker = undefined;
    void w?.terminate();
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
    this.pending.clear();
  }

  check(language: string, code: string, policy: SecurityPolicy): Promise<CheckCodeResult> {
    this.worker ??= this.spawn();
    const worker = this.worker;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.log.warn({ deadlineMs: this.deadlineMs, codeBytes: code.length }, "policy check exceeded its deadline; refusing the code");
        this.pending.delete(id);
        reject(
          new SandboxdError(ErrorCode.PermissionDenied, `the code could not be checked against the security policy within ${this.deadlineMs} ms`, {
            reason: "POLICY_CHECK_TIMEOUT",
          }),
        );
        // The worker is stuck in a regex: replace it (other pending checks are retried by callers).
        if (this.worker === worker) this.reset(new SandboxdError(ErrorCode.Unavailable, "the policy checker was restarted; try again"));
      }, this.deadlineMs);
      this.pending.set(id, { resolve, reject, timer });
      worker.postMessage({ id, language, code, policy });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }
}
