import { createConnection, createServer, type Server, type Socket } from "node:net";
import { rmSync } from "node:fs";

/**
 * A unix-socket proxy in front of the real engine socket. Stopping it makes the engine
 * unreachable for a daemon pointed at it (and cuts its open connections), without touching
 * the engine other tests share.
 */
export class EngineProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** When set, new connections are accepted and then never answered (a hung engine). */
  stalled = false;

  constructor(
    readonly path: string,
    private readonly target = "/var/run/docker.sock",
  ) {}

  async start(): Promise<void> {
    rmSync(this.path, { force: true });
    this.server = createServer((client) => {
      if (this.stalled) {
        this.sockets.add(client);
        client.on("error", () => this.sockets.delete(client));
        client.resume();
        return;
      }
      const upstream = createConnection(this.target);
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
    await new Promise<void>((resolve) => this.server?.listen(this.path, resolve));
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    rmSync(this.path, { force: true });
  }
}
