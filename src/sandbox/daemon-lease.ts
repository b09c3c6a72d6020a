import { hostname } from "node:os";
import { SandboxdError, ErrorCode, describeError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { Config } from "../config/config.js";
import type { ContainerRuntime, Lease, LeaseSpec } from "../runtime/container-runtime.js";
import { Label } from "./labels.js";
import type { LanguageRegistry } from "./languages.js";

/**
 * One live daemon per daemon id. Sandboxes are found again by the id in their labels, so
 * two daemons sharing one would adopt, and on shutdown remove, each other's sandboxes. The
 * engine arbitrates the lease; a daemon killed with SIGKILL loses it within seconds, so its
 * restart is not blocked.
 */
export class DaemonLease {
  private lease: Lease | undefined;
  private stopped = false;
  private readonly log: Logger;
  private forfeit!: (err: SandboxdError) => void;
  /**
   * Settles when the lease was lost and another live daemon took it meanwhile: this daemon
   * may no longer touch its sandboxes (they are the other one's now). It never settles
   * otherwise.
   */
  readonly forfeited = new Promise<SandboxdError>((resolve) => {
    this.forfeit = resolve;
  });

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly spec: () => Promise<LeaseSpec>,
    private readonly daemonId: string,
    logger: Logger,
  ) {
    this.log = logger.child({ component: "lease" });
  }

  get held(): boolean {
    return this.lease !== undefined;
  }

  /** Takes the lease, or fails with FAILED_PRECONDITION naming the live holder. */
  async acquire(): Promise<void> {
    if (this.lease || this.stopped) return;
    const spec = await this.spec();
    const got = await this.runtime.acquireLease(spec);
    if ("heldBy" in got) {
      const holder = got.heldBy.labels[Label.leaseHolder] ?? "unknown";
      throw new SandboxdError(
        ErrorCode.FailedPrecondition,
        `another live sandboxd holds daemon id ${this.daemonId} (${holder}, lease ${spec.name}); give this one its own --daemon-id or state directory`,
        { reason: "DAEMON_ID_IN_USE" },
      );
    }
    this.lease = got;
    this.log.info({ daemonId: this.daemonId, lease: spec.name }, "daemon id lease taken");
    void got.lost.then(() => {
      if (this.lease !== got || this.stopped) return;
      this.lease = undefined;
      this.log.error({ daemonId: this.daemonId }, "daemon id lease lost (engine connection dropped); taking it again");
      this.retake(1000);
    });
  }

  private retake(delayMs: number): void {
    setTimeout(() => {
      this.acquire().catch((err: unknown) => {
        if (err instanceof SandboxdError && err.reason === "DAEMON_ID_IN_USE") {
          this.log.error({ err: describeError(err) }, "another daemon took the daemon id lease; giving up");
          this.forfeit(err);
          return;
        }
        this.log.error({ err: describeError(err) }, "retaking the daemon id lease failed; retrying");
        this.retake(Math.min(delayMs * 2, 30_000));
      });
    }, delayMs).unref();
  }

  async release(): Promise<void> {
    this.stopped = true;
    const lease = this.lease;
    this.lease = undefined;
    await lease?.release();
  }
}

function leaseLabels(daemonId: string): Record<string, string> {
  return { [Label.lease]: daemonId, [Label.leaseHolder]: `${hostname()} pid ${process.pid} since ${new Date().toISOString()}` };
}

/** The lease is a tiny container of any sandbox image present (the base image first). */
export async function leaseSpec(runtime: ContainerRuntime, config: Config, languages: LanguageRegistry): Promise<LeaseSpec> {
  const candidates = ["bash", "python"].map((l) => config.images[l] || languages.get(l).image);
  let image = candidates[0] as string;
  for (const c of candidates) {
    if ((await runtime.imageLabels(c)) !== undefined) {
      image = c;
      break;
    }
  }
  return { name: `sandboxd-lease-${config.daemonId}`, image, labels: leaseLabels(config.daemonId) };
}
