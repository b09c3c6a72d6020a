import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { describeError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";

export interface McpHttpOptions {
  /** host:port; port 0 picks a free one. */
  listen: string;
  maxSessions: number;
  sessionIdleMs: number;
  /** The tenant of an `Authorization` header; throws when it is missing or wrong (401). */
  authenticate(header: string | undefined): string;
  /** A fresh MCP server for a new session of this tenant. */
  build(tenant: string): McpServer;
  logger: Logger;
}

export interface McpHttpEndpoint {
  /** host:port it listens on. */
  address: string;
  readonly sessions: number;
  close(): Promise<void>;
}

interface Entry {
  tenant: string;
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  lastSeen: number;
}

/** A request body larger than this is refused (413): an upload_file of 8 MB, base64, fits. */
const maxBodyBytes = 12 * 1024 * 1024;

class BodyError extends Error {
  constructor(
    readonly status: number,
    readonly rpcCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** A body this much over the bound is not drained: the connection is cut. */
const maxDrainBytes = 64 * 1024 * 1024;

/**
 * A POST's JSON body, read with a bound (the SDK would read any size). An oversized body is
 * drained without being kept, so the client reads the 413 instead of a broken pipe.
 */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.byteLength;
    if (n > maxDrainBytes) {
      req.destroy();
      break;
    }
    if (n <= maxBodyBytes) chunks.push(chunk);
  }
  if (n > maxBodyBytes) throw new BodyError(413, -32600, `request body is larger than ${maxBodyBytes} bytes`);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch (err) {
    throw new BodyError(400, -32700, `parse error: the body is not JSON (${(err as Error).message})`);
  }
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}

/**
 * The Model Context Protocol over Streamable HTTP at /mcp. Every request carries the
 * daemon's bearer token (when it has tokens); the token's tenant owns the MCP session and
 * everything its tools create, and a session answers only to its own tenant. Sessions are
 * bounded in number and closed when idle.
 */
// Imported dynamically (src/daemon.ts, src/main.ts), which ts-unused-exports does not see.
// ts-unused-exports:disable-next-line
export async function startMcpHttp(o: McpHttpOptions): Promise<McpHttpEndpoint> {
  const log = o.logger.child({ component: "mcp-http" });
  const sessions = new Map<string, Entry>();
  /** Sessions being initialized (not in `sessions` yet) count against the bound too. */
  let pending = 0;

  const drop = (id: string, why: string) => {
    const e = sessions.get(id);
    if (!e) return;
    sessions.delete(id);
    log.info({ sessionId: id, tenant: e.tenant, why }, "MCP session closed");
    void e.server.close().catch(() => undefined);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== "/mcp") return jsonRpcError(res, 404, -32601, "not found: the MCP endpoint is /mcp");
    let tenant: string;
    try {
      tenant = o.authenticate(req.headers.authorization);
    } catch (err) {
      log.warn({ remote: req.socket.remoteAddress, err: describeError(err) }, "MCP request refused");
      return jsonRpcError(res, 401, -32001, describeError(err), { "www-authenticate": 'Bearer realm="sandboxd"' });
    }
    let body: unknown;
    if (req.method === "POST") {
      try {
        body = await readJson(req);
      } catch (err) {
        if (err instanceof BodyError) return jsonRpcError(res, err.status, err.rpcCode, err.message);
        throw err;
      }
    }
    const sid = req.headers["mcp-session-id"];
    if (typeof sid === "string") {
      const e = sessions.get(sid);
      // Another tenant's session is as unknown as an expired one.
      if (!e || e.tenant !== tenant) return jsonRpcError(res, 404, -32001, "unknown or expired MCP session: initialize a new one");
      e.lastSeen = Date.now();
      await e.transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== "POST") return jsonRpcError(res, 400, -32000, "no mcp-session-id: send an initialize request first");
    if (sessions.size + pending >= o.maxSessions) {
      return jsonRpcError(res, 503, -32000, `too many MCP sessions (${o.maxSessions}); close one (HTTP DELETE) or wait for idle ones to expire`);
    }
    pending++;
    const server = o.build(tenant);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { tenant, transport, server, lastSeen: Date.now() });
        log.info({ sessionId: id, tenant }, "MCP session opened");
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) drop(transport.sessionId, "closed");
    };
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    } finally {
      pending--;
      // Not an initialize request (the transport answered 400): nothing to keep.
      if (!transport.sessionId || !sessions.has(transport.sessionId)) void server.close().catch(() => undefined);
    }
  };

  const http: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err: describeError(err) }, "MCP request failed");
      jsonRpcError(res, 500, -32603, "internal error");
    });
  });
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [id, e] of sessions) if (now - e.lastSeen > o.sessionIdleMs) drop(id, "idle");
    },
    Math.min(60_000, Math.max(1000, o.sessionIdleMs / 4)),
  );
  sweep.unref();
  const colon = o.listen.lastIndexOf(":");
  const host = o.listen.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(o.listen.slice(colon + 1));
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const addr = http.address() as AddressInfo;
  return {
    address: `${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`,
    get sessions() {
      return sessions.size;
    },
    async close() {
      clearInterval(sweep);
      for (const id of [...sessions.keys()]) drop(id, "daemon stopping");
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
