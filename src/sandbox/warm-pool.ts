import type { Config } from "../config/config.js";
import { describeError } from "../common/errors.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import type { ContainerRuntime, ContainerSpec } from "../runtime/container-runtime.js";
import type { SandboxChannel } from "../runtime/sandbox-channel.js";
import { Label } from "./labels.js";

/** A started, hardened, agent-ready container waiting to be handed out once. */
export interface PooledContainer {
  sandboxId: string;
  containerId: string;
  image: string;
  createdAt: Date;
  runner: SandboxChannel;
}

export interface PoolProfile {
  /** Profile key: the language; a request matches when it asks only for defaults. */
  key: string;
  size: number;
  /** The container spec every member of this profile is created with. */
  spec: (sandboxId: string, createdAt: Date) => ContainerSpec;
  /** Starts the member's process runner (the resident agent). */
  startRunner: (containerId: string) => Promise<SandboxChannel>;
}

export interface PoolStats {
  ready: number;
  creating: number;
  hits: number;
  misses: number;
  lastRefillMs: number;
}

/**
 * Warm pools, one per profile: a minimum of ready sandboxes refilled in the background with
 * a concurrency limit. A member is handed out once and never returns: a used sandbox with
 * the previous user's files is never given to someone else.
 */
export class WarmPool {
  private readonly ready = new Map<string, PooledContainer[]>();
  private readonly creating = new Map<string, number>();
  private readonly stats = new Map<string, PoolStats>();
  private readonly profiles = new Map<string, PoolProfile>();
  private inFlight = 0;
  /** Creations under way, so shutdown can wait for them (each removes itself once stopped). */
  private readonly creations = new Set<Promise<void>>();
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly config: Config,
    logger: Logger,
  ) {
    this.log = logger.child({ component: "pool" });
  }

  addProfile(profile: PoolProfile): void {
    this.profiles.set(profile.key, profile);
    this.ready.set(profile.key, []);
    this.creating.set(profile.key, 0);
    this.stats.set(profile.key, { ready: 0, creating: 0, hits: 0, misses: 0, lastRefillMs: 0 });
  }

  keys(): string[] {
    return [...this.profiles.keys()];
  }

  has(key: string): boolean {
    return this.profiles.has(key);
  }

  statsFor(key: string): PoolStats | undefined {
    const s = this.stats.get(key);
    if (!s) return undefined;
    return { ...s, ready: this.ready.get(key)?.length ?? 0, creating: this.creating.get(key) ?? 0 };
  }

  /** A ready member of the profile, or undefined (a miss); either way a refill follows. */
  take(key: string): PooledContainer | undefined {
    const list = this.ready.get(key);
    const stats = this.stats.get(key);
    if (!list || !stats) return undefined;
    let member = list.shift();
    // A member whose agent died (its container was removed or killed) is not handed out.
    while (member && !member.runner.alive) {
      this.log.warn({ profile: key, containerId: member.containerId.slice(0, 12) }, "dropping a dead pool member");
      const dead = member;
      void this.runtime.remove(dead.containerId).catch(() => false);
      member = list.shift();
    }
    if (member) stats.hits++;
    else stats.misses++;
    this.log.debug({ profile: key, hit: member !== undefined, ready: list.length, hits: stats.hits, misses: stats.misses }, "pool take");
    this.refill();
    return member;
  }

  /** Starts filling every profile up to its size. */
  refill(): void {
    if (this.stopped) return;
    for (const [key, profile] of this.profiles) {
      while (this.inFlight < this.config.poolRefillConcurrency && (this.ready.get(key)?.length ?? 0) + (this.creating.get(key) ?? 0) < profile.size) {
        this.inFlight++;
        this.creating.set(key, (this.creating.get(key) ?? 0) + 1);
        const creation = this.createMember(profile).finally(() => {
          this.creations.delete(creation);
          this.inFlight--;
          this.creating.set(key, (this.creating.get(key) ?? 1) - 1);
          this.refill();
        });
        this.creations.add(creation);
      }
    }
  }

  private async createMember(profile: PoolProfile): Promise<void> {
    const started = Date.now();
    const sandboxId = newId("sbx");
    const createdAt = new Date();
    let containerId: string | undefined;
    try {
      const spec = profile.spec(sandboxId, createdAt);
      containerId = await this.runtime.create(spec);
      await this.runtime.start(containerId);
      const runner = await profile.startRunner(containerId);
      if (this.stopped) {
        await runner.close();
        await this.runtime.remove(containerId);
        return;
      }
      this.ready.get(profile.key)?.push({ sandboxId, containerId, image: spec.image, createdAt, runner });
      const stats = this.stats.get(profile.key);
      if (stats) stats.lastRefillMs = Date.now() - started;
      this.failures = 0;
      this.log.info({ profile: profile.key, ready: this.ready.get(profile.key)?.length, refillMs: Date.now() - started }, "pool member ready");
    } catch (err) {
      this.failures++;
      this.log.warn({ profile: profile.key, err: describeError(err) }, "pool refill failed");
      if (containerId) await this.runtime.remove(containerId).catch(() => false);
      // Back off so an engine outage or a missing image does not spin.
      const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6));
      if (!this.stopped && !this.retryTimer) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.refill();
        }, delay);
        this.retryTimer.unref();
      }
    }
  }

  /** Removes every member still waiting. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // Members still being created remove themselves when they see `stopped`.
    await Promise.allSettled([...this.creations]);
    const all = [...this.ready.values()].flat();
    for (const list of this.ready.values()) list.length = 0;
    await Promise.all(
      all.map(async (m) => {
        await m.runner.close().catch(() => {});
        await this.runtime.remove(m.containerId).catch(() => false);
      }),
    );
  }
}

/** Label value marking a pool member of `key`. */
export function poolLabels(key: string): Record<string, string> {
  return { [Label.pool]: key };
}
