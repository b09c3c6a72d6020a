import { createServer } from "node:net";
import { describeError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import { EgressMatcher, type EgressPolicySpec } from "./egress-policy.js";
import { EgressProxy, type EgressDeniedHook } from "./egress-proxy.js";
import { Label } from "./labels.js";

/** The environment that points every package manager of an allow-listed sandbox at its proxy. */
function proxyEnv(url: string): Record<string, string> {
  const noProxy = "localhost,127.0.0.1,::1";
  return { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url, NO_PROXY: noProxy, no_proxy: noProxy };
}

/** A free TCP port of `address` (bound and released). */
function freePortOn(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, address, () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

/**
 * The networks of bridged sandboxes, one per sandbox (it reaches out, never the host or a
 * peer), labelled with the daemon and the sandbox, so leftovers of a crash are found.
 */
export class SandboxNetworks {
  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly ownLabels: Record<string, string>,
    private readonly log: Logger,
    private readonly onEgressDenied: EgressDeniedHook = () => undefined,
  ) {}

  /** The egress proxies of this daemon's NETWORK_MODE_ALLOW_LIST sandboxes, by sandbox id. */
  private readonly proxies = new Map<string, EgressProxy>();

  /**
   * NETWORK_MODE_ALLOW_LIST: a network with no route out, and the sandbox's egress proxy on
   * its gateway, the one address and port of the host the firewall lets it reach. Returns
   * the network's name, the proxy environment for the container, and `started`, to call
   * once the container runs (on engines that make the bridge only then, the proxy listens then).
   */
  async createEgress(sandboxId: string, policy: EgressPolicySpec): Promise<{ network: string; env: Record<string, string>; started: () => Promise<void> }> {
    const net = await this.runtime.createEgressNetwork({ ...this.ownLabels, [Label.sandboxId]: sandboxId });
    const proxy = new EgressProxy(sandboxId, new EgressMatcher(policy), net.subnet, this.log, this.onEgressDenied);
    this.proxies.set(sandboxId, proxy);
    try {
      let port = 0;
      let deferred = false;
      try {
        port = await proxy.listen(net.gateway);
      } catch (err) {
        // Podman (netavark) brings the bridge, and so its gateway address, up with the first container.
        if ((err as NodeJS.ErrnoException).code !== "EADDRNOTAVAIL") throw err;
        port = await freePortOn("0.0.0.0");
        deferred = true;
      }
      await this.runtime.openEgressPort(net, port);
      const started = async () => {
        if (!deferred) return;
        for (let attempt = 0; ; attempt++) {
          try {
            await proxy.listen(net.gateway, port);
            return;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "EADDRNOTAVAIL" || attempt >= 50) throw err;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      };
      this.log.info({ sandboxId, network: net.name, proxy: `${net.gateway}:${port}` }, "egress proxy for an allow-listed sandbox");
      return { network: net.name, env: proxyEnv(`http://${net.gateway}:${port}`), started };
    } catch (err) {
      await this.removeFor(sandboxId).catch(() => undefined);
      await this.removeNamed(net.name);
      throw err;
    }
  }

  /** A new network for sandbox `sandboxId`; its name goes in ContainerSpec.network. */
  create(sandboxId: string): Promise<string> {
    return this.runtime.createSandboxNetwork({ ...this.ownLabels, [Label.sandboxId]: sandboxId });
  }

  /** Removes one network by name (a creation that failed half way); never throws. */
  async removeNamed(name: string): Promise<void> {
    await this.runtime.removeNetwork(name).catch(() => false);
  }

  /** Removes the networks (and egress proxy) of a removed sandbox. */
  async removeFor(sandboxId: string): Promise<void> {
    const proxy = this.proxies.get(sandboxId);
    if (proxy) {
      this.proxies.delete(sandboxId);
      await proxy.close().catch(() => undefined);
    }
    for (const net of await this.runtime.listNetworks({ ...this.ownLabels, [Label.sandboxId]: sandboxId })) {
      await this.runtime
        .removeNetwork(net.name)
        .catch((err: unknown) => this.log.warn({ err: describeError(err), network: net.name }, "removing a sandbox network failed"));
    }
  }

  /** Networks of sandboxes this daemon no longer has (it died before removing them). */
  async removeLeftovers(has: (sandboxId: string) => boolean): Promise<void> {
    for (const net of await this.runtime.listNetworks(this.ownLabels)) {
      const owner = net.labels[Label.sandboxId];
      if (owner !== undefined && has(owner)) continue;
      if (await this.runtime.removeNetwork(net.name).catch(() => false)) this.log.info({ network: net.name }, "removed leftover network");
    }
  }
}
