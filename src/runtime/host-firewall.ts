import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { ErrorCode, SandboxdError, describeError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";

const run = promisify(execFile);

/** Every sandbox bridge is named `sbd<daemon tag><random>`, so one wildcard rule covers them all. */
const bridgePrefix = "sbd";
const inputChain = "SANDBOXD-INPUT";
const forwardChain = "SANDBOXD-FORWARD";

const privateV4 = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
  "169.254.0.0/16",
  "192.0.0.0/24",
  "198.18.0.0/15",
  "224.0.0.0/4",
  "240.0.0.0/4",
];
const privateV6 = ["fc00::/7", "fe80::/10", "ff00::/8"];

export interface HostFirewallOptions {
  /** "iptables": the daemon installs the rules; "off": the operator vouches for their own. */
  mode: "iptables" | "off";
  /** Four hex digits naming this daemon's bridges (`sbd<tag>…`), for its own exceptions. */
  daemonTag: string;
  /** TCP ports of the host this daemon's bridged sandboxes may reach (a local package mirror). */
  allowPorts: number[];
  logger: Logger;
}

/**
 * Keeps bridged sandboxes off the host and off each other. A packet from a sandbox bridge
 * to any of the host's own addresses enters INPUT (dropped, bar the operator's listed
 * ports); one to another sandbox bridge, another network of the engine, the LAN or
 * link-local addresses (cloud metadata) is forwarded (dropped). The rules sit first in
 * INPUT and FORWARD, before the engine's.
 */
export class HostFirewall {
  private ready: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: HostFirewallOptions) {
    this.log = options.logger.child({ component: "host-firewall" });
  }

  get bridgeNamePrefix(): string {
    return `${bridgePrefix}${this.options.daemonTag}`;
  }

  /** Installs the rules once (idempotent across daemons); FAILED_PRECONDITION when it cannot. */
  ensure(): Promise<void> {
    if (this.options.mode === "off") return Promise.resolve();
    this.ready ??= this.install().catch((err: unknown) => {
      this.ready = undefined;
      throw new SandboxdError(
        ErrorCode.FailedPrecondition,
        `bridge networking needs host firewall rules that keep sandboxes off the host, and installing them failed: ${describeError(err)}. Run the daemon as root (CAP_NET_ADMIN) with iptables installed, or install equivalent rules yourself and pass --network.host-firewall off (docs/security.md)`,
        { reason: "HOST_FIREWALL_UNAVAILABLE", cause: err },
      );
    });
    return this.ready;
  }

  private async install(): Promise<void> {
    const any = `${bridgePrefix}+`;
    for (const cmd of ["iptables", "ip6tables"]) {
      await this.chain(cmd, inputChain);
      await this.chain(cmd, forwardChain);
      await this.rule(cmd, ["INPUT", "-i", any, "-j", inputChain], "insert");
      await this.rule(cmd, ["FORWARD", "-i", any, "-j", forwardChain], "insert");
      await this.rule(cmd, [inputChain, "-j", "DROP"], "append");
      await this.rule(cmd, [forwardChain, "-o", any, "-j", "DROP"], "append");
    }
    // Beyond the host: other engines' networks, the LAN, link-local (cloud metadata) and
    // other non-public ranges. A bridged sandbox reaches public addresses only.
    for (const cidr of privateV4) await this.rule("iptables", [forwardChain, "-d", cidr, "-j", "DROP"], "append");
    for (const cidr of privateV6) await this.rule("ip6tables", [forwardChain, "-d", cidr, "-j", "DROP"], "append");
    for (const port of this.options.allowPorts) {
      await this.rule("iptables", this.allowRule(port), "insert");
    }
    this.log.info({ allowPorts: this.options.allowPorts }, "host firewall rules for sandbox bridges in place");
  }

  /**
   * Engines insert their own ACCEPT rules at the top of FORWARD (and INPUT) when they make
   * a network, above ours. Called after each sandbox network is made and before its
   * container starts: puts the jumps back in first place.
   */
  async reassert(): Promise<void> {
    if (this.options.mode === "off") return;
    await this.ensure();
    const task = this.serial.then(async () => {
      const any = `${bridgePrefix}+`;
      for (const cmd of ["iptables", "ip6tables"]) {
        await this.first(cmd, ["INPUT", "-i", any, "-j", inputChain]);
        await this.first(cmd, ["FORWARD", "-i", any, "-j", forwardChain]);
      }
    });
    this.serial = task.catch(() => undefined);
    await task;
  }

  private serial: Promise<void> = Promise.resolve();

  private async first(cmd: string, spec: string[]): Promise<void> {
    const [chain, ...rest] = spec as [string, ...string[]];
    const rules = (await this.iptablesOut(cmd, ["-S", chain])).split("\n").filter((l) => l.startsWith("-A "));
    if (rules[0] === `-A ${chain} ${rest.join(" ")}`) return;
    for (;;) {
      try {
        await this.iptables(cmd, ["-D", chain, ...rest]);
      } catch {
        break;
      }
    }
    await this.iptables(cmd, ["-I", chain, "1", ...rest]);
  }

  private allowRule(port: number): string[] {
    return [inputChain, "-i", `${this.bridgeNamePrefix}+`, "-p", "tcp", "--dport", String(port), "-j", "ACCEPT"];
  }

  /**
   * NETWORK_MODE_ALLOW_LIST: from bridge `bridge` only `gateway:port` (the sandbox's egress
   * proxy) is reachable; everything else from it, the operator's allowed host ports
   * included, is dropped, in INPUT and FORWARD alike.
   */
  async allowOnly(bridge: string, gateway: string, port: number): Promise<void> {
    if (this.options.mode === "off") return;
    await this.ensure();
    const task = this.serial.then(async () => {
      for (const [cmd, spec] of this.onlyRules(bridge, gateway, port)) await this.rule(cmd, spec, "insert");
    });
    this.serial = task.catch(() => undefined);
    await task;
  }

  /**
   * Removes every rule allowOnly made for `bridge` (the bridge is gone or going), also those
   * a previous daemon left behind: found by listing the chains.
   */
  async removeBridge(bridge: string): Promise<void> {
    if (this.options.mode === "off" || !/^[a-z0-9]+$/.test(bridge)) return;
    const task = this.serial.then(async () => {
      for (const cmd of ["iptables", "ip6tables"]) {
        for (const chain of [inputChain, forwardChain]) {
          const rules = (await this.iptablesOut(cmd, ["-S", chain]).catch(() => ""))
            .split("\n")
            .filter((l) => l.startsWith(`-A ${chain} `) && l.includes(` -i ${bridge} `));
          for (const rule of rules) await this.iptables(cmd, ["-D", ...rule.slice(3).split(" ")]).catch(() => undefined);
        }
      }
    });
    this.serial = task.catch(() => undefined);
    await task;
  }

  /** In insertion order: each goes first, so the ACCEPT ends above the DROPs. */
  private onlyRules(bridge: string, gateway: string, port: number): [string, string[]][] {
    return [
      ["iptables", [inputChain, "-i", bridge, "-j", "DROP"]],
      ["ip6tables", [inputChain, "-i", bridge, "-j", "DROP"]],
      ["iptables", [forwardChain, "-i", bridge, "-j", "DROP"]],
      ["ip6tables", [forwardChain, "-i", bridge, "-j", "DROP"]],
      ["iptables", [inputChain, "-i", bridge, "-d", gateway, "-p", "tcp", "--dport", String(port), "-j", "ACCEPT"]],
    ];
  }

  /** Removes this daemon's own exceptions; the shared drop rules stay for other daemons. */
  async close(): Promise<void> {
    if (this.options.mode === "off" || !this.ready) return;
    for (const port of this.options.allowPorts) {
      await this.iptables("iptables", ["-D", ...this.allowRule(port)]).catch(() => undefined);
    }
  }

  private async chain(cmd: string, name: string): Promise<void> {
    try {
      await this.iptables(cmd, ["-N", name]);
    } catch (err) {
      if (!/exists/i.test(describeError(err))) throw err;
    }
  }

  private async rule(cmd: string, spec: string[], how: "insert" | "append"): Promise<void> {
    const [chain, ...rest] = spec as [string, ...string[]];
    try {
      await this.iptables(cmd, ["-C", chain, ...rest]);
      return;
    } catch {
      // Not there yet.
    }
    await this.iptables(cmd, how === "insert" ? ["-I", chain, "1", ...rest] : ["-A", chain, ...rest]);
  }

  private async iptables(cmd: string, args: string[]): Promise<void> {
    await this.iptablesOut(cmd, args);
  }

  private async iptablesOut(cmd: string, args: string[]): Promise<string> {
    try {
      return (await run(cmd, ["-w", "5", ...args], { timeout: 10_000 })).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message?: string };
      throw new Error(`${cmd} ${args.join(" ")}: ${(e.stderr || e.message || "failed").trim()}`);
    }
  }
}
