import { lookup } from "node:dns/promises";
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { BlockList, connect, isIP, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { describeError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { EgressDenial, EgressMatcher } from "./egress-policy.js";

/** Called for every refused request (the daemon's log and /metrics counter). */
export type EgressDeniedHook = (info: { sandboxId: string; host: string; port: number; reason: EgressDenial | "resolve" | "request" }) => void;

const connectTimeoutMs = 10_000;

/** Splits `host:port` / `[v6]:port`; undefined when malformed. */
function hostPort(authority: string, defaultPort: number): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(authority);
  if (!m) return undefined;
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2] ?? "").toLowerCase(), port };
}

/**
 * The egress proxy of one NETWORK_MODE_ALLOW_LIST sandbox: an HTTP forward proxy (plain
 * `GET http://…` and `CONNECT host:port`) listening on its network's gateway, the one
 * address and port the host firewall lets that network reach. Each request's host and
 * port are checked, the name resolved once, every address checked, and the connection
 * made to a checked address (a second resolution could answer differently: DNS rebinding).
 */
export class EgressProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Duplex>();
  private readonly log: Logger;

  constructor(
    private readonly sandboxId: string,
    private readonly matcher: EgressMatcher,
    subnet: string,
    logger: Logger,
    private readonly onDenied: EgressDeniedHook,
  ) {
    this.log = logger.child({ component: "egress-proxy", sandboxId });
    this.server = createServer((req, res) => void this.forward(req, res));
    this.server.on("connect", (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.tunnel(req, socket, head));
    // Only the sandbox's own network is served (the firewall lets nothing else of the host's networks in, and this holds if it did).
    const [net = "", bits = "32"] = subnet.split("/");
    const peers = new BlockList();
    peers.addSubnet(net, Number(bits), "ipv4");
    this.server.on("connection", (s: Socket) => {
      const peer = (s.remoteAddress ?? "").replace(/^::ffff:/, "");
      if (isIP(peer) !== 4 || !peers.check(peer, "ipv4")) {
        this.log.warn({ peer }, "egress proxy: a connection from outside the sandbox's network, closed");
        s.destroy();
        return;
      }
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    this.server.on("clientError", (_err, socket: Duplex) => socket.destroy());
  }

  /** Listens on `address` (port 0: any free one); resolves with the port. */
  listen(address: string, port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, address, () => {
        this.server.off("error", reject);
        const a = this.server.address();
        resolve(typeof a === "object" && a ? a.port : port);
      });
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private deny(host: string, port: number, reason: EgressDenial | "resolve" | "request"): string {
    this.onDenied({ sandboxId: this.sandboxId, host, port, reason });
    this.log.warn({ host, port, reason }, "egress request refused");
    const why = {
      port: `port ${port} is not in the sandbox's egress allow-list`,
      host: `${host} is not in the sandbox's egress allow-list`,
      address: `${host} resolves to a private, loopback or link-local address that the sandbox's egress allow-list does not list`,
      resolve: `${host} does not resolve`,
      request: "not a proxy request",
    }[reason];
    return `sandboxd egress proxy: ${why}\n`;
  }

  /** The checked address to connect to, or the reason to refuse. */
  private async resolve(host: string, port: number): Promise<{ address: string } | { denial: EgressDenial | "resolve" }> {
    if (!this.matcher.portAllowed(port)) return { denial: "port" };
    if (isIP(host) !== 0) {
      const denial = this.matcher.check(host, host, port);
      return denial ? { denial } : { address: host };
    }
    // A name neither listed nor possibly in a listed CIDR is refused before any lookup.
    if (!this.matcher.hostListed(host) && this.matcher.spec.cidrs.length === 0) return { denial: "host" };
    let addrs: { address: string }[];
    try {
      addrs = await lookup(host, { all: true, verbatim: true });
    } catch {
      return { denial: "resolve" };
    }
    let first: EgressDenial | undefined;
    for (const { address } of addrs) {
      const denial = this.matcher.check(host, address, port);
      if (!denial) return { address };
      first ??= denial;
    }
    return { denial: first ?? "resolve" };
  }

  private async tunnel(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on("error", () => socket.destroy());
    const target = hostPort(req.url ?? "", 443);
    if (!target) {
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${this.deny(req.url ?? "", 0, "request")}`);
      return;
    }
    const verdict = await this.resolve(target.host, target.port);
    if ("denial" in verdict) {
      const body = this.deny(target.host, target.port, verdict.denial);
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    const upstream = connect({ host: verdict.address, port: target.port, timeout: connectTimeoutMs });
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      upstream.setTimeout(0);
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    const fail = (err?: unknown) => {
      if (err) this.log.info({ host: target.host, port: target.port, err: describeError(err) }, "egress connection failed");
      if (!connected) socket.end("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n");
      else socket.destroy();
      upstream.destroy();
    };
    upstream.on("timeout", () => fail(new Error("connect timed out")));
    upstream.on("error", fail);
    socket.on("close", () => upstream.destroy());
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL | undefined;
    try {
      url = new URL(req.url ?? "");
    } catch {
      url = undefined;
    }
    if (!url || url.protocol !== "http:") {
      res.writeHead(400, { "Content-Type": "text/plain" }).end(this.deny(req.url ?? "", 0, "request"));
      return;
    }
    const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
    const port = url.port ? Number(url.port) : 80;
    const verdict = await this.resolve(host, port);
    if ("denial" in verdict) {
      res.writeHead(403, { "Content-Type": "text/plain" }).end(this.deny(host, port, verdict.denial));
      return;
    }
    const headers = { ...req.headers };
    for (const h of ["proxy-connection", "proxy-authorization", "connection", "keep-alive"]) delete headers[h];
    headers.host = url.host;
    const upstream = httpRequest(
      { host: verdict.address, port, method: req.method, path: `${url.pathname}${url.search}`, headers, timeout: connectTimeoutMs, setHost: false },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("timeout", () => upstream.destroy(new Error("timed out")));
    upstream.on("error", (err) => {
      this.log.info({ host, port, err: describeError(err) }, "egress request failed");
      if (!res.headersSent) res.writeHead(502, { "Content-Type": "text/plain" }).end(`sandboxd egress proxy: ${host}:${port} did not answer\n`);
      else res.destroy();
    });
    req.pipe(upstream);
  }
}
