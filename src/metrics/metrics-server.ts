import { readdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { Registry } from "./registry.js";

/** Process gauges every daemon reports: memory and open file descriptors. */
export function registerProcessGauges(registry: Registry): void {
  registry.gauge({
    name: "sandboxd_process_resident_memory_bytes",
    help: "Resident set size of the daemon.",
    read: () => [{ value: process.memoryUsage.rss() }],
  });
  registry.gauge({
    name: "sandboxd_process_open_fds",
    help: "Open file descriptors of the daemon.",
    read: () => {
      try {
        return [{ value: readdirSync("/proc/self/fd").length }];
      } catch {
        return [];
      }
    },
  });
}

/** Why the daemon cannot take work now, or undefined when it can (GET /readyz). */
export type Readiness = () => string | undefined;

/**
 * A plain-text metrics endpoint in the Prometheus exposition format (GET /metrics), off by
 * default; meant for loopback scraping. Beside it, probes for an orchestrator: /healthz
 * answers 200 while the process serves at all, /readyz 200 only while it takes work (the
 * engine reachable, not draining) and 503 with the reason otherwise.
 */
export function startMetricsServer(listen: string, registry: Registry, readiness: Readiness = () => undefined): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(registry.render());
      return;
    }
    if (req.method === "GET" && path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (req.method === "GET" && path === "/readyz") {
      const notReady = readiness();
      res.writeHead(notReady === undefined ? 200 : 503, { "content-type": "text/plain" }).end(`${notReady ?? "ready"}\n`);
      return;
    }
    res.writeHead(404).end();
  });
  const colon = listen.lastIndexOf(":");
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(listen.slice(colon + 1)), listen.slice(0, colon), () => resolve(server));
  });
}
