import { readFileSync } from "node:fs";
import type { DaemonComponents } from "../compose.js";
import type { Config } from "../config/config.js";
import type { Logger } from "../common/logger.js";
import { createMcpServer, type McpOptions } from "./server.js";

/** The version of this checkout (package.json), announced to MCP clients. */
function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  } catch {
    return "0.0.0";
  }
}

/** A factory of per-caller MCP servers over the daemon's components. */
// Imported dynamically (src/daemon.ts, src/main.ts), which ts-unused-exports does not see.
// ts-unused-exports:disable-next-line
export function mcpServerFactory(config: Config, components: DaemonComponents, logger: Logger): (tenant: string) => ReturnType<typeof createMcpServer> {
  const options: McpOptions = { network: config.mcpNetwork as "none" | "bridge", version: version() };
  const domain = { ...components, logger };
  return (tenant) => createMcpServer(domain, tenant, options);
}
