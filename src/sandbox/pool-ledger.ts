import { SandboxdError, invalidArgument, resourceExhausted } from "../common/errors.js";

/** What CreateSandbox(pool_id) does when the pool is at max_size and none is ready. */
export type ExhaustionStrategy = "wait" | "fail_fast" | "temporary";

/** A pool's settings as the daemon keeps them: zero values resolved to their defaults. */
export interface PoolSettings {
  minReady: number;
  maxSize: number;
  /** A ready member waiting longer than this is replaced; 0 = never. */
  idleTimeoutMs: number;
  /** A ready member older than this is replaced; 0 = never. */
  maxLifetimeMs: number;
  healthCheckIntervalMs: number;
  exhaustion: ExhaustionStrategy;
  /** WAIT: how long an acquisition waits for a place; 0 = until the call's deadline. */
  acquisitionTimeoutMs: number;
}

export const defaultHealthCheckIntervalMs = 60_000;

/**
 * The settings a client asked for, resolved (max_size 0 = the daemon's limit, health check
 * 0 = 60 s) and checked against the daemon's limit; INVALID_ARGUMENT says what is wrong.
 */
export function resolvePoolSettings(asked: PoolSettings, poolMaxSize: number): PoolSettings {
  const maxSize = asked.maxSize === 0 ? poolMaxSize : asked.maxSize;
  if (maxSize > poolMaxSize) {
    throw invalidArgument(`settings.max_size ${maxSize} is over this daemon's limit of ${poolMaxSize} (--pool-max-size)`, {
      reason: "POOL_SETTINGS_INVALID",
      metadata: { limit: String(poolMaxSize) },
    });
  }
  if (asked.minReady > maxSize) {
    throw invalidArgument(`settings.min_ready ${asked.minReady} is more than settings.max_size ${maxSize}`, { reason: "POOL_SETTINGS_INVALID" });
  }
  return { ...asked, maxSize, healthCheckIntervalMs: asked.healthCheckIntervalMs || defaultHealthCheckIntervalMs };
}

/** PoolStats of the API (pool_service.proto). */
export interface PoolStatsView {
  ready: number;
  creating: number;
  inUse: number;
  hits: number;
  misses: number;
  temporary: number;
  exhausted: number;
  recycled: number;
  waiting: number;
  lastRefillMs: number;
}

interface ReadyEntry<T> {
  member: T;
  /** When it became ready (idle timeout). */
  readyAt: number;
  /** When its container was created (max lifetime). */
  createdAt: number;
}

interface Waiter {
  wake: () => void;
  fail: (err: SandboxdError) => void;
}

/** Why an acquisition gave up: RESOURCE_EXHAUSTED, reason POOL_EXHAUSTED. */
export function poolExhausted(message: string): SandboxdError {
  return resourceExhausted(`${message} (POOL_EXHAUSTED)`, { reason: "POOL_EXHAUSTED" });
}

/**
 * The bookkeeping of one pool, no containers: its ready members, how many are being
 * created and handed out (places), its counters, and the callers waiting for a place. A
 * place is held from the moment a member starts being created until the sandbox handed
 * out is removed (`release`), never given back to the ready list.
 */
export class PoolLedger<T> {
  private readyList: ReadyEntry<T>[] = [];
  private creatingCount = 0;
  private readonly inUse = new Set<string>();
  private readonly waiters: Waiter[] = [];
  private closedWith: SandboxdError | undefined;
  private readonly counters = { hits: 0, misses: 0, temporary: 0, exhausted: 0, recycled: 0, lastRefillMs: 0 };

  constructor(
    public settings: PoolSettings,
    /** Callers that may wait at once (WAIT); more are refused. */
    private readonly maxWaiters: number,
  ) {}

  /** Ready, being created and handed out together: what max_size bounds. */
  get size(): number {
    return this.readyList.length + this.creatingCount + this.inUse.size;
  }

  get readyCount(): number {
    return this.readyList.length;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** How many members to start now so that min_ready are ready or coming, within max_size. */
  toStart(): number {
    const wanted = this.settings.minReady - this.readyList.length - this.creatingCount;
    return Math.max(0, Math.min(wanted, this.settings.maxSize - this.size));
  }

  hasRoom(): boolean {
    return this.size < this.settings.maxSize;
  }

  /** A member starts being created (refill): it holds a place. */
  beginCreate(): void {
    this.creatingCount++;
  }

  /** A creation ended (`member` ready, or failed): a waiter may now find a member or a place. */
  endCreate(member: T | undefined, createdAt: number, now: number, refillMs: number): void {
    this.creatingCount--;
    if (member !== undefined) {
      this.readyList.push({ member, readyAt: now, createdAt });
      this.counters.lastRefillMs = refillMs;
    }
    this.wakeOne();
  }

  /** The oldest ready member, taken out (the caller hands it out or drops it). */
  takeReady(): T | undefined {
    return this.readyList.shift()?.member;
  }

  /** A handed-out sandbox (or an acquisition starting one: a key of its own) holds a place. */
  holdPlace(key: string): void {
    this.inUse.add(key);
  }

  /** The place of `key` is free again (its sandbox was removed); one waiter is woken. */
  release(key: string): boolean {
    if (!this.inUse.delete(key)) return false;
    this.wakeOne();
    return true;
  }

  /** The place of `from` (an acquisition starting a member) now belongs to `to` (its sandbox). */
  movePlace(from: string, to: string): void {
    if (this.inUse.delete(from)) this.inUse.add(to);
  }

  placesHeld(): string[] {
    return [...this.inUse];
  }

  count(counter: "hits" | "misses" | "temporary" | "exhausted" | "recycled", n = 1): void {
    this.counters[counter] += n;
  }

  /** Ready members past the idle timeout or max lifetime, taken out (counted as recycled). */
  takeStale(now: number): T[] {
    const { idleTimeoutMs, maxLifetimeMs } = this.settings;
    return this.takeReadyWhere(
      (e) => (idleTimeoutMs > 0 && now - e.readyAt >= idleTimeoutMs) || (maxLifetimeMs > 0 && now - e.createdAt >= maxLifetimeMs),
      true,
    );
  }

  /** Ready members `dead` says are dead, taken out (counted as recycled). */
  takeDead(dead: (member: T) => boolean): T[] {
    return this.takeReadyWhere((e) => dead(e.member), true);
  }

  /** Ready members over min_ready or over max_size (after the settings shrank), taken out. */
  takeSurplus(): T[] {
    const keep = Math.max(0, Math.min(this.settings.minReady, this.settings.maxSize - this.creatingCount - this.inUse.size));
    const surplus = this.readyList.splice(0, Math.max(0, this.readyList.length - keep));
    return surplus.map((e) => e.member);
  }

  /** Every ready member, taken out. */
  takeAllReady(): T[] {
    const all = this.readyList.map((e) => e.member);
    this.readyList = [];
    return all;
  }

  readyMembers(): T[] {
    return this.readyList.map((e) => e.member);
  }

  private takeReadyWhere(pick: (e: ReadyEntry<T>) => boolean, recycled: boolean): T[] {
    const taken = this.readyList.filter(pick);
    if (taken.length === 0) return [];
    this.readyList = this.readyList.filter((e) => !pick(e));
    if (recycled) this.counters.recycled += taken.length;
    return taken.map((e) => e.member);
  }

  /**
   * Waits until a member may be ready or a place free (the caller then tries again), up to
   * `timeoutMs` (0: no limit of its own) or `signal`. RESOURCE_EXHAUSTED (POOL_EXHAUSTED)
   * when it gives up or too many wait already; the pool's close error when it closes.
   */
  wait(timeoutMs: number, signal: AbortSignal, describe: string): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.waiters.length >= this.maxWaiters) {
      this.counters.exhausted++;
      return Promise.reject(poolExhausted(`${describe} is exhausted and ${this.maxWaiters} callers wait for it already`));
    }
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
      };
      const giveUp = (why: string) => {
        done();
        this.counters.exhausted++;
        reject(poolExhausted(`${describe} is exhausted: ${why}`));
      };
      const onAbort = () => giveUp("the call ended (deadline or cancel) before a place freed");
      const waiter: Waiter = {
        wake: () => {
          done();
          resolve();
        },
        fail: (err) => {
          done();
          reject(err);
        },
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      this.waiters.push(waiter);
      signal.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs > 0) timer = setTimeout(() => giveUp(`no place freed within acquisition_timeout_ms ${timeoutMs}`), timeoutMs);
    });
  }

  /** Wakes the longest waiting caller, if any. */
  wakeOne(): void {
    this.waiters[0]?.wake();
  }

  /** Wakes every waiting caller (the settings changed: each looks again). */
  wakeAll(): void {
    for (const w of [...this.waiters]) w.wake();
  }

  /** The pool is gone: every waiter fails with `err`, and so does every later wait. */
  close(err: SandboxdError): void {
    this.closedWith = err;
    for (const w of [...this.waiters]) w.fail(err);
  }

  stats(): PoolStatsView {
    return {
      ready: this.readyList.length,
      creating: this.creatingCount,
      inUse: this.inUse.size,
      waiting: this.waiters.length,
      ...this.counters,
    };
  }
}
