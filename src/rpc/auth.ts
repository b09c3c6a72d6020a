import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Metadata } from "@grpc/grpc-js";
import { ErrorCode, SandboxdError } from "../common/errors.js";

/** The tenant of callers when no tokens are configured (a loopback or unix-socket daemon). */
const defaultTenant = "default";

const tenantPattern = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/**
 * Bearer tokens, each mapped to a tenant. Only SHA-256 hashes are kept (and accepted in the
 * token file and env), so a leaked config does not leak tokens. Lines: `<tenant> <hex-sha256>`
 * (or `sha256:<hex>`); `#` starts a comment.
 */
export class TokenTable {
  private readonly byHash = new Map<string, string>();

  static parse(text: string, source: string): TokenTable {
    const table = new TokenTable();
    text.split(/\r?\n|,/).forEach((raw, i) => {
      const line = raw.replace(/#.*$/, "").trim();
      if (!line) return;
      const [tenant, hash, extra] = line.split(/[\s:]+/).filter((p) => p !== "sha256");
      if (!tenant || !hash || extra !== undefined || !tenantPattern.test(tenant) || !/^[0-9a-f]{64}$/.test(hash)) {
        throw new Error(`${source}: entry ${i + 1} must be "<tenant> <sha256 hex of the token>"`);
      }
      table.byHash.set(hash, tenant);
    });
    return table;
  }

  static load(file: string, env: string): TokenTable {
    const table = new TokenTable();
    if (file) for (const [h, t] of TokenTable.parse(readFileSync(file, "utf8"), file).byHash) table.byHash.set(h, t);
    if (env) for (const [h, t] of TokenTable.parse(env, "SANDBOXD_AUTH__TOKENS").byHash) table.byHash.set(h, t);
    return table;
  }

  get size(): number {
    return this.byHash.size;
  }

  /** The caller's tenant from `authorization: Bearer <token>`; UNAUTHENTICATED otherwise. */
  authenticate(metadata: Metadata): string {
    const header = metadata.get("authorization")[0];
    return this.authenticateHeader(typeof header === "string" ? header : undefined);
  }

  /** The same, from an HTTP `Authorization` header (the MCP endpoint). */
  authenticateHeader(header: string | undefined): string {
    if (this.byHash.size === 0) return defaultTenant;
    const m = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m?.[1]) {
      throw new SandboxdError(ErrorCode.Unauthenticated, "missing bearer token: send 'authorization: Bearer <token>'", { reason: "TOKEN_MISSING" });
    }
    const hash = hashToken(m[1]);
    for (const [known, tenant] of this.byHash) {
      if (timingSafeEqual(Buffer.from(known, "hex"), Buffer.from(hash, "hex"))) return tenant;
    }
    throw new SandboxdError(ErrorCode.Unauthenticated, "invalid bearer token", { reason: "TOKEN_INVALID" });
  }
}

/** True for addresses only this machine can reach. */
export function isLocalAddress(listen: string): boolean {
  if (listen.startsWith("unix:")) return true;
  const host = listen.slice(0, listen.lastIndexOf(":")).replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}
