import { BlockList, isIP } from "node:net";
import { invalidArgument } from "../common/errors.js";

/**
 * The allow-list of a NETWORK_MODE_ALLOW_LIST sandbox, as the egress proxy checks it. A
 * request passes when its port is listed and its host matches a listed name or its
 * address lies in a listed CIDR; an address in a private, loopback, link-local or other
 * non-public range passes only when a listed CIDR holds it.
 */
export interface EgressPolicySpec {
  hosts: string[];
  cidrs: string[];
  ports: number[];
}

/** Ports when the policy lists none. */
const defaultEgressPorts = [80, 443];

const maxEntries = 256;
const hostName = /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/;

// Never reachable by name alone: the host, the LAN, the engine's networks, cloud metadata.
const deniedV4 = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "224.0.0.0/4",
  "240.0.0.0/4",
];
// IPv4-mapped addresses (::ffff:a.b.c.d) are checked as the IPv4 address they carry (unmapped).
const deniedV6 = ["::/128", "::1/128", "64:ff9b::/96", "fc00::/7", "fe80::/10", "ff00::/8"];

function parseCidr(text: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } | undefined {
  const [address = "", bits, extra] = text.split("/");
  if (extra !== undefined) return undefined;
  const kind = isIP(address);
  if (kind === 0) return undefined;
  const max = kind === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined;
  return { address, prefix, family: kind === 4 ? "ipv4" : "ipv6" };
}

function blockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) {
    const p = parseCidr(c);
    if (p) list.addSubnet(p.address, p.prefix, p.family);
  }
  return list;
}

const denied = blockList([...deniedV4, ...deniedV6]);

function family(address: string): "ipv4" | "ipv6" {
  return isIP(address) === 6 ? "ipv6" : "ipv4";
}

/** ::ffff:a.b.c.d and ::ffff:xxxx:yyyy as a.b.c.d; any other address as it is. */
function unmapped(address: string): string {
  const a = address.toLowerCase();
  const dotted = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (dotted && isIP(dotted[1]!) === 4) return dotted[1]!;
  const hex = /^(?:0{0,4}:){0,5}:?ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (hex) {
    const hi = parseInt(hex[1]!, 16);
    const lo = parseInt(hex[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return address;
}

/** Validates and normalises a client's policy (INVALID_ARGUMENT naming the bad entry). */
export function checkEgressPolicy(spec: EgressPolicySpec): EgressPolicySpec {
  if (spec.hosts.length + spec.cidrs.length + spec.ports.length > maxEntries)
    throw invalidArgument(`egress lists at most ${maxEntries} entries`, { reason: "EGRESS_POLICY_INVALID" });
  const hosts = spec.hosts.map((h) => {
    const name = h.trim().toLowerCase().replace(/\.$/, "");
    if (name.length > 253 || (!hostName.test(name) && isIP(name) === 0))
      throw invalidArgument(`egress.hosts: ${JSON.stringify(h)} is not a host name (exact, or *.domain)`, { reason: "EGRESS_POLICY_INVALID" });
    return name;
  });
  const cidrs = spec.cidrs.map((c) => {
    const p = parseCidr(c.trim());
    if (!p) throw invalidArgument(`egress.cidrs: ${JSON.stringify(c)} is not an address or CIDR (10.0.0.0/8, fd00::/8)`, { reason: "EGRESS_POLICY_INVALID" });
    return `${p.address}/${p.prefix}`;
  });
  const ports = spec.ports.map((p) => {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw invalidArgument(`egress.ports: ${p} is not a TCP port`, { reason: "EGRESS_POLICY_INVALID" });
    return p;
  });
  if (hosts.length === 0 && cidrs.length === 0)
    throw invalidArgument("NETWORK_MODE_ALLOW_LIST needs egress.hosts or egress.cidrs: with nothing listed the sandbox could reach nothing", {
      reason: "EGRESS_POLICY_INVALID",
    });
  return { hosts: [...new Set(hosts)], cidrs: [...new Set(cidrs)], ports: [...new Set(ports)] };
}

/** Why a destination is refused, or undefined when it is allowed. */
export type EgressDenial = "port" | "host" | "address";

/** A compiled policy: the proxy asks it twice, for the name and for each address it resolves. */
export class EgressMatcher {
  private readonly cidrs: BlockList;
  private readonly ports: Set<number>;

  constructor(readonly spec: EgressPolicySpec) {
    this.cidrs = blockList(spec.cidrs);
    this.ports = new Set(spec.ports.length > 0 ? spec.ports : defaultEgressPorts);
  }

  /** Whether the port is listed. */
  portAllowed(port: number): boolean {
    return this.ports.has(port);
  }

  /** Whether a host name (or an address literal) is listed by name. */
  hostListed(host: string): boolean {
    const name = host.toLowerCase().replace(/\.$/, "");
    return this.spec.hosts.some((h) => (h.startsWith("*.") ? name.endsWith(h.slice(1)) && name.length > h.length - 1 : h === name));
  }

  /** Whether an address lies in a listed CIDR. */
  cidrListed(address: string): boolean {
    const a = unmapped(address);
    return isIP(a) !== 0 && this.cidrs.check(a, family(a));
  }

  /**
   * The verdict on connecting to `address` (already resolved) for a request to `host`:
   * listed by name or by CIDR, and not in a denied range unless a listed CIDR holds it.
   */
  check(host: string, address: string, port: number): EgressDenial | undefined {
    if (!this.portAllowed(port)) return "port";
    if (this.cidrListed(address)) return undefined;
    if (!this.hostListed(host)) return "host";
    const a = unmapped(address);
    if (isIP(a) === 0 || denied.check(a, family(a))) return "address";
    return undefined;
  }
}
