import type { Run } from "./run.js";

/**
 * One budget for the output every run keeps in the daemon's memory (replay windows and what
 * followers have not taken yet), across all runs. Over budget, it evicts: first the replay
 * of finished runs, oldest finished first, then live runs' replay beyond what their
 * followers still need (largest first). What followers still need is never dropped; it is
 * bounded by the credit window of each run (the producer stops at it), so the total stays
 * within the budget plus runs x window. Evicted output answers Attach with OUT_OF_RANGE,
 * like output the replay window dropped.
 */
export class OutputBudget {
  /** Output bytes all runs retain now. */
  total = 0;
  /** Runs trimmed because of the budget, and the bytes that freed. */
  evictions = 0;
  evictedBytes = 0;
  private readonly live = new Set<Run>();
  /** In the order the runs finished. */
  private readonly finished = new Set<Run>();
  private enforcing = false;

  constructor(readonly limitBytes: number) {}

  add(run: Run): void {
    this.live.add(run);
  }

  /** The run exited: its replay is now first in line for eviction. */
  finish(run: Run): void {
    if (!this.live.delete(run)) return;
    this.finished.add(run);
  }

  /** The run is forgotten: what it retains no longer counts. */
  remove(run: Run, retained: number): void {
    if (this.live.delete(run) || this.finished.delete(run)) this.total -= retained;
  }

  adjust(delta: number): void {
    this.total += delta;
  }

  get runs(): number {
    return this.live.size + this.finished.size;
  }

  enforce(): void {
    if (this.total <= this.limitBytes || this.enforcing) return;
    this.enforcing = true;
    try {
      for (const run of this.finished) {
        if (this.total <= this.limitBytes) return;
        this.count(run.evictReplay());
      }
      const live = [...this.live].sort((a, b) => b.retainedBytes - a.retainedBytes);
      for (const run of live) {
        if (this.total <= this.limitBytes) return;
        this.count(run.evictReplay());
      }
    } finally {
      this.enforcing = false;
    }
  }

  private count(freed: number): void {
    if (freed <= 0) return;
    this.evictions++;
    this.evictedBytes += freed;
  }
}
