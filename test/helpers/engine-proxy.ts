import { createConnection, createServer, type Server, type Socket } from "node:net";
import { rmSync } from "node:fs";

/**
 * A proxy in front of the real engine: a unix socket in front of the engine's socket, or a
 * loopback TCP port in front of the Kubernetes API server (`target` host and port). Stopping
 * it makes the engine unreachable for a daemon pointed at it (and cuts its open
 * connections), without touching the engine other tests share.
 */
export class EngineProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** When set, new connections are accepted and then never answered (a hung engine). */
  stalled = false;

  constructor(
    /** A unix socket path, or a loopback TCP port. */
    readonly path: string | number,
    private readonly target: string | { host: string; port: number } = "/var/run/docker.sock",
  ) {}

  /** Starts listening; already listening is fine. */
  async start(): Promise<void> {
    if (this.server) return;
    if (typeof this.path === "string") rmSync(this.path, { force: true });
    this.server = createServer((client) => {
      if (this.stalled) {
        this.sockets.add(client);
        client.on("error", () => this.sockets.delete(client));
        client.resume();
        return;
      }
      const upstream = typeof this.target === "string" ? createConnection(this.target) : createConnection(this.target.port, this.target.host);
      this.sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
      client.pipe(upstream).pipe(client);
    });
    const path = this.path;
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      if (typeof path === "string") server.listen(path, resolve);
      else server.listen(path, "127.0.0.1", resolve);
    });
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    if (typeof this.path === "string") rmSync(this.path, { force: true });
  }
}
