import { describeError, failedPrecondition, invalidArgument, notFound } from "../common/errors.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import { checkEnv, checkTimeout, type RequestLimits } from "../sandbox/request-limits.js";
import type { Sandbox } from "../sandbox/sandbox.js";
import type { SandboxRequest } from "../sandbox/sandbox-config.js";
import type { SandboxCleanup, SandboxManager } from "../sandbox/sandbox-manager.js";
import type { SessionKind } from "./kernel.js";
import { Session, type ImageRecorder, type SessionOptions, type SessionSettings } from "./session.js";

/** Defaults for what a client leaves at zero, and the daemon-side knobs. */
export interface InteractiveDefaults extends SessionOptions {
  /** llm-sandbox's default per-cell timeout is 300 s. */
  cellTimeoutMs: number;
  historySize: number;
  /** 0: the sandbox's own idle timeout. */
  idleTimeoutMs: number;
  reapIntervalMs: number;
}

export const defaultInteractive: InteractiveDefaults = {
  cellTimeoutMs: 300_000,
  historySize: 1000,
  idleTimeoutMs: 0,
  reapIntervalMs: 1000,
  interruptGraceMs: 2000,
  shellInterruptGraceMs: 5000,
  helloTimeoutMs: 60_000,
  closeGraceMs: 3000,
  maxOutputBytes: 16 * 1024 * 1024,
  replayBytes: 8 * 1024 * 1024,
};

export interface CreateSessionParams {
  sandbox: Sandbox;
  ownsSandbox: boolean;
  kind: SessionKind;
  shell: string;
  env: Record<string, string>;
  /** Zeros mean the defaults. */
  settings: SessionSettings;
}

interface Tombstone {
  tenant: string;
  reason: string;
}

const maxTombstones = 10_000;

/**
 * The open sessions, by id, and what closed ones were closed for. SandboxManager calls it
 * (a SandboxCleanup) before it removes a sandbox, so that a sandbox's sessions close first;
 * it holds no sandbox manager, so both are built by constructor without a cycle.
 */
export class SessionRegistry implements SandboxCleanup {
  readonly sessions = new Map<string, Session>();
  private readonly tombstones = new Map<string, Tombstone>();

  /** The caller's open session; another tenant's session is not found either. */
  get(tenant: string, id: string): Session {
    const session = this.sessions.get(id);
    if (session && session.tenant === tenant) return session;
    const t = this.tombstones.get(id);
    if (t && t.tenant === tenant) throw failedPrecondition(`session ${id} is closed: ${t.reason}`, { reason: "SESSION_CLOSED" });
    throw notFound(`session ${JSON.stringify(id)} not found`, { reason: "SESSION_NOT_FOUND" });
  }

  /** Whether the caller's session of this id was closed (closing it again is not an error). */
  wasClosed(tenant: string, id: string): boolean {
    const t = this.tombstones.get(id);
    return t !== undefined && t.tenant === tenant;
  }

  /** Forgets an open session (leaving a tombstone with the reason) and closes it. */
  async close(session: Session, reason: string): Promise<void> {
    if (this.sessions.get(session.id) === session) {
      this.sessions.delete(session.id);
      this.tombstones.set(session.id, { tenant: session.tenant, reason });
      if (this.tombstones.size > maxTombstones) {
        const oldest = this.tombstones.keys().next().value;
        if (oldest !== undefined) this.tombstones.delete(oldest);
      }
    }
    await session.close(reason);
  }

  /** A sandbox is going away: its sessions close first (their processes die with it anyway). */
  async beforeRemove(sandbox: Sandbox): Promise<void> {
    const doomed = [...this.sessions.values()].filter((s) => s.sandbox === sandbox);
    await Promise.all(doomed.map((s) => this.close(s, `its sandbox ${sandbox.id} was removed`)));
  }
}

/** CreateSession, decoded: the sandbox to use (or to create, then owned), kind and settings. */
export interface OpenSessionRequest {
  /** Undefined: the request named neither (INVALID_ARGUMENT, after the other checks). */
  target: { sandboxId: string } | { spec: SandboxRequest } | undefined;
  kind: SessionKind;
  /** SHELL: the shell (default /bin/sh); must be empty for IPYTHON. */
  shell: string;
  env: Record<string, string>;
  /** Zeros mean the defaults. */
  settings: SessionSettings;
}

const shellName = /^[A-Za-z0-9_.+\/-]+$/;

export interface SessionManagerDeps {
  registry: SessionRegistry;
  sandboxes: SandboxManager;
  /** Displayed images become artifacts of the sandbox. */
  images: ImageRecorder;
  defaults: InteractiveDefaults;
  limits: RequestLimits;
  logger: Logger;
}

/**
 * Every interactive session of the daemon, by tenant. Closes sessions that idled out; a
 * session that created its own sandbox destroys it when it closes. (The sessions of a
 * sandbox that is removed are closed by the registry, which SandboxManager calls.)
 */
export class SessionManager {
  private readonly registry: SessionRegistry;
  private readonly sessions: Map<string, Session>;
  private readonly sandboxes: SandboxManager;
  private readonly images: ImageRecorder;
  private readonly defaults: InteractiveDefaults;
  private readonly limits: RequestLimits;
  private readonly log: Logger;
  private readonly reaper: NodeJS.Timeout;

  constructor(deps: SessionManagerDeps) {
    this.registry = deps.registry;
    this.sessions = deps.registry.sessions;
    this.sandboxes = deps.sandboxes;
    this.images = deps.images;
    this.defaults = deps.defaults;
    this.limits = deps.limits;
    this.log = deps.logger.child({ component: "sessions" });
    this.reaper = setInterval(() => this.tick(), this.defaults.reapIntervalMs);
    this.reaper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  resolveSettings(s: SessionSettings, sandbox: Sandbox): SessionSettings {
    return {
      cellTimeoutMs: s.cellTimeoutMs || this.defaults.cellTimeoutMs,
      historySize: s.historySize || this.defaults.historySize,
      memoryLimitBytes: s.memoryLimitBytes,
      idleTimeoutMs: s.idleTimeoutMs || this.defaults.idleTimeoutMs || sandbox.config.idleTimeoutMs,
    };
  }

  /**
   * CreateSession: checks the request, uses the caller's sandbox or creates one the
   * session then owns (removed again when the session cannot start), and starts the kernel.
   */
  async open(tenant: string, req: OpenSessionRequest, signal: AbortSignal): Promise<Session> {
    if (req.kind === "ipython" && req.shell !== "") throw invalidArgument("shell applies to SHELL sessions only");
    const shell = req.shell || "/bin/sh";
    if (!shellName.test(shell) || shell.split("/").includes("..")) throw invalidArgument(`invalid shell ${JSON.stringify(shell.slice(0, 100))}`);
    checkEnv(req.env);
    checkTimeout(req.settings.cellTimeoutMs, this.limits, "cell_timeout_ms");
    const mem = req.settings.memoryLimitBytes;
    if (mem !== 0 && mem < 64 * 1024 * 1024) throw invalidArgument("memory_limit_bytes must be at least 64 MiB", { reason: "INVALID_LIMIT" });
    if (!req.target) throw invalidArgument("either sandbox_id or sandbox is required");
    let sandbox: Sandbox;
    let owns = false;
    if ("sandboxId" in req.target) {
      sandbox = await this.sandboxes.ready(tenant, req.target.sandboxId);
    } else {
      const spec = req.target.spec;
      // Sessions run in Python (the runner); a spec without language or image gets Python's.
      if (!spec.language && !spec.image && !spec.dockerfile) spec.language = "python";
      sandbox = await this.sandboxes.create(tenant, spec, { signal });
      owns = true;
    }
    try {
      return await this.create(tenant, {
        sandbox,
        ownsSandbox: owns,
        kind: req.kind,
        shell: req.kind === "shell" ? shell : "",
        env: req.env,
        settings: req.settings,
      });
    } catch (err) {
      if (owns)
        await this.sandboxes
          .destroy(tenant, sandbox.id)
          .catch((e: unknown) => this.log.warn({ err: describeError(e) }, "removing the session's sandbox failed"));
      throw err;
    }
  }

  /** Creates a session and starts its kernel; the kernel's failure to start is the error. */
  async create(tenant: string, params: CreateSessionParams): Promise<Session> {
    const id = newId("ses");
    const session = new Session({
      id,
      tenant,
      sandbox: params.sandbox,
      kind: params.kind,
      shell: params.shell,
      env: params.env,
      settings: this.resolveSettings(params.settings, params.sandbox),
      ownsSandbox: params.ownsSandbox,
      options: this.defaults,
      logger: this.log.child({ sessionId: id, sandboxId: params.sandbox.id }),
      images: this.images,
    });
    this.sessions.set(id, session);
    try {
      await session.start();
    } catch (err) {
      this.sessions.delete(id);
      await session.close("its kernel did not start");
      throw err;
    }
    this.log.info({ sessionId: id, sandboxId: params.sandbox.id, kind: params.kind, tenant }, "session created");
    return session;
  }

  /** The caller's open session; another tenant's session is not found either. */
  get(tenant: string, id: string): Session {
    return this.registry.get(tenant, id);
  }

  list(tenant: string, sandboxId: string): Session[] {
    return [...this.sessions.values()]
      .filter((s) => s.tenant === tenant && (sandboxId === "" || s.sandbox.id === sandboxId))
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /** Closes the caller's session; closing it again is not an error. */
  async close(tenant: string, id: string): Promise<void> {
    const session = this.sessions.get(id);
    if (!session || session.tenant !== tenant) {
      if (this.registry.wasClosed(tenant, id)) return;
      throw notFound(`session ${JSON.stringify(id)} not found`, { reason: "SESSION_NOT_FOUND" });
    }
    await this.closeSession(session, "closed by request", true);
  }

  private async closeSession(session: Session, reason: string, destroyOwnedSandbox: boolean): Promise<void> {
    await this.registry.close(session, reason);
    if (destroyOwnedSandbox && session.ownsSandbox) {
      await this.sandboxes
        .destroy(session.tenant, session.sandbox.id)
        .catch((err: unknown) => this.log.warn({ err: describeError(err), sessionId: session.id }, "destroying the session's sandbox failed"));
    }
  }

  /** Closes sessions idle past their timeout; an open session keeps its sandbox in use. */
  private tick(): void {
    const now = Date.now();
    for (const session of [...this.sessions.values()]) {
      const since = session.idleSince();
      if (since !== undefined && now - since >= session.settings.idleTimeoutMs) {
        this.log.info({ sessionId: session.id, idleMs: now - since }, "closing idle session");
        void this.closeSession(session, `it was idle for ${session.settings.idleTimeoutMs} ms`, true).catch((err: unknown) =>
          this.log.warn({ err: describeError(err), sessionId: session.id }, "closing an idle session failed"),
        );
        continue;
      }
      session.sandbox.touch();
    }
  }

  /** Stops the idle reaper; sessions close with their sandboxes. */
  shutdown(): void {
    clearInterval(this.reaper);
  }
}
