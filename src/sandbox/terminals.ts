import { failedPrecondition, invalidArgument, notFound, resourceExhausted } from "../common/errors.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import type { ProcessExit, RunningProcess } from "../runtime/process.js";
import { checkEnv } from "./request-limits.js";
import type { Sandbox } from "./sandbox.js";
import type { SandboxCleanup } from "./sandbox-removal.js";

/** Output a terminal keeps for a client that attaches again (the last bytes). */
const terminalReplayBytes = 256 * 1024;
/** Output the agent may send ahead of what a client read: while nobody reads, the program blocks. */
const terminalCreditWindow = 64 * 1024;
/** Bytes of input one message may carry. */
const terminalMaxInputBytes = 64 * 1024;
const terminalDefaultGraceMs = 60_000;
const terminalMaxGraceMs = 3_600_000;
const terminalMaxSide = 1000;
const terminalsPerSandbox = 32;
/** A terminal keeps its sandbox from being reaped as idle: it counts as used this often. */
const touchEveryMs = 5_000;
/** The image's shell: bash where there is one. */
const defaultShell = ["/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"];

export interface TerminalSize {
  rows: number;
  cols: number;
}

export interface OpenTerminalRequest {
  argv: string[];
  size: TerminalSize;
  env: Record<string, string>;
  cwd: string;
  graceMs: number;
}

export type TerminalEvent = { type: "output"; data: Uint8Array; offset: number } | { type: "exit"; exit: ProcessExit };

interface Chunk {
  offset: number;
  data: Uint8Array;
}

/** 0 means the default; anything else must be a real window size. */
export function checkTerminalSize(size: Partial<TerminalSize> | undefined): TerminalSize {
  const rows = size?.rows || 24;
  const cols = size?.cols || 80;
  if (rows > terminalMaxSide || cols > terminalMaxSide) {
    throw invalidArgument(`terminal size ${rows}x${cols} is larger than ${terminalMaxSide}x${terminalMaxSide}`, { reason: "TERMINAL_BAD_SIZE" });
  }
  return { rows, cols };
}

/**
 * One pseudo-terminal in a sandbox (made by its agent) and the program on it. Its output
 * goes into a bounded ring (for replay) and to the clients following it; the agent gets
 * credit back only for bytes a client has read, so a terminal nobody reads stalls its
 * program instead of growing. It lives on without a client for its grace period.
 */
export class Terminal {
  readonly id = newId("term");
  private readonly ring: Chunk[] = [];
  private ringBytes = 0;
  /** Offset just past the last output byte. */
  private end = 0;
  /** Output bytes credit went back for. */
  private acked = 0;
  private exit: ProcessExit | undefined;
  private clients = 0;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly toucher: NodeJS.Timeout;
  private waiters: (() => void)[] = [];
  size: TerminalSize;

  constructor(
    readonly tenant: string,
    readonly sandbox: Sandbox,
    readonly pid: number,
    private readonly proc: RunningProcess,
    size: TerminalSize,
    private readonly graceMs: number,
    private readonly onGone: (t: Terminal) => void,
  ) {
    this.size = size;
    this.toucher = setInterval(() => sandbox.touch(), touchEveryMs);
    this.toucher.unref();
    void this.pump();
  }

  get exited(): boolean {
    return this.exit !== undefined;
  }

  private async pump(): Promise<void> {
    try {
      for await (const ev of this.proc) {
        if (ev.type === "stdout" || ev.type === "stderr") this.append(ev.data);
        else if (ev.type === "exit") this.exit = ev.exit;
        this.wake();
      }
    } finally {
      this.exit ??= {
        kind: "lost",
        exitCode: -1,
        signal: 0,
        durationMs: 0,
        stdoutBytes: 0,
        stderrBytes: 0,
        truncated: false,
        message: "the terminal's channel ended",
      };
      clearInterval(this.toucher);
      this.wake();
      if (this.clients === 0) this.startGrace();
    }
  }

  private append(data: Uint8Array): void {
    this.ring.push({ offset: this.end, data });
    this.end += data.byteLength;
    this.ringBytes += data.byteLength;
    while (this.ringBytes > terminalReplayBytes && this.ring.length > 1) {
      const old = this.ring.shift() as Chunk;
      this.ringBytes -= old.data.byteLength;
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Offset of the oldest output byte kept. */
  private get start(): number {
    return this.ring[0]?.offset ?? this.end;
  }

  /** Where a client attaching with `offset` starts: that offset, or the oldest byte still kept. */
  replayFrom(offset: number): number {
    return Math.min(Math.max(offset, this.start), this.end);
  }

  /** A client read the output up to `offset`: that much credit goes back to the agent. */
  private consumed(offset: number): void {
    if (offset <= this.acked) return;
    this.proc.ack(offset - this.acked);
    this.acked = offset;
  }

  /**
   * The output from `offset` (what is kept of it, then live), and the exit last. A client
   * counts as attached while it follows; the last one leaving starts the grace period.
   */
  async *follow(offset: number, signal: AbortSignal): AsyncGenerator<TerminalEvent> {
    this.clients++;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    const onAbort = () => this.wake();
    signal.addEventListener("abort", onAbort, { once: true });
    let cursor = this.replayFrom(offset);
    try {
      for (;;) {
        if (signal.aborted) return;
        cursor = Math.max(cursor, this.start);
        const next = this.ring.find((c) => c.offset + c.data.byteLength > cursor);
        if (next) {
          const data = next.offset < cursor ? next.data.subarray(cursor - next.offset) : next.data;
          yield { type: "output", data, offset: cursor };
          cursor += data.byteLength;
          this.consumed(cursor);
          continue;
        }
        if (this.exit) {
          yield { type: "exit", exit: this.exit };
          return;
        }
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.clients--;
      if (this.clients === 0) this.startGrace();
    }
  }

  private startGrace(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = setTimeout(() => this.close(), this.exit ? Math.min(this.graceMs, terminalDefaultGraceMs) : this.graceMs);
    this.graceTimer.unref();
  }

  write(data: Uint8Array): Promise<void> {
    if (data.byteLength > terminalMaxInputBytes) {
      throw invalidArgument(`terminal input of ${data.byteLength} bytes is more than ${terminalMaxInputBytes} per message`, {
        reason: "TERMINAL_INPUT_TOO_LARGE",
      });
    }
    this.sandbox.touch();
    if (this.exit || data.byteLength === 0) return Promise.resolve();
    return this.proc.writeStdin(data);
  }

  resize(size: TerminalSize): void {
    this.size = size;
    if (!this.exit) this.proc.resize?.(size.rows, size.cols);
  }

  signal(name: string): void {
    if (!this.exit) this.proc.signal(name);
  }

  /** Ends the program (its process tree is killed) and forgets the terminal. */
  close(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    clearInterval(this.toucher);
    if (!this.exit) this.proc.kill("cancelled");
    this.onGone(this);
  }
}

/** Every live terminal, by id; a sandbox's go with it. */
export class TerminalRegistry implements SandboxCleanup {
  private readonly terminals = new Map<string, Terminal>();

  constructor(private readonly log: Logger) {}

  /** The caller's terminal; another tenant's is not found either. */
  get(tenant: string, id: string): Terminal {
    const t = this.terminals.get(id);
    if (t && t.tenant === tenant) return t;
    throw notFound(`terminal ${JSON.stringify(id.slice(0, 100))} not found`, { reason: "TERMINAL_NOT_FOUND" });
  }

  async open(tenant: string, sandbox: Sandbox, req: OpenTerminalRequest): Promise<Terminal> {
    checkEnv(req.env);
    if (req.argv.length > 0 && req.argv[0] === "") throw invalidArgument("argv[0] is empty");
    if (req.argv.some((a) => a.includes("\0")) || req.cwd.includes("\0")) throw invalidArgument("the command contains a NUL byte");
    if (req.graceMs > terminalMaxGraceMs) throw invalidArgument(`grace_ms ${req.graceMs} is above ${terminalMaxGraceMs}`, { reason: "INVALID_LIMIT" });
    const size = checkTerminalSize(req.size);
    if ([...this.terminals.values()].filter((t) => t.sandbox === sandbox).length >= terminalsPerSandbox) {
      throw resourceExhausted(`sandbox ${sandbox.id} has ${terminalsPerSandbox} terminals open`, { reason: "TERMINAL_LIMIT" });
    }
    const channel = await sandbox.runner();
    if (channel.kind !== "agent") {
      throw failedPrecondition(`sandbox ${sandbox.id} has no agent (its image has no python3): terminals need it`, { reason: "TERMINAL_NEEDS_AGENT" });
    }
    sandbox.touch();
    const proc = await channel.start({
      argv: req.argv.length > 0 ? req.argv : defaultShell,
      env: { ...sandbox.config.env, TERM: "xterm-256color", ...req.env },
      cwd: req.cwd || sandbox.config.workdir,
      keepStdinOpen: true,
      timeoutMs: 0,
      maxOutputBytes: 0,
      creditWindowBytes: terminalCreditWindow,
      pty: size,
    });
    // The first event is `started` (a program that cannot start reports pid 0, then its error).
    const it = proc[Symbol.asyncIterator]();
    const first = await it.next();
    const pid = !first.done && first.value.type === "started" ? first.value.pid : 0;
    const rest: RunningProcess = Object.assign(Object.create(proc) as RunningProcess, {
      [Symbol.asyncIterator]: () => it,
    });
    const terminal = new Terminal(tenant, sandbox, pid, rest, size, req.graceMs || terminalDefaultGraceMs, (t) => {
      if (this.terminals.get(t.id) === t) this.terminals.delete(t.id);
    });
    this.terminals.set(terminal.id, terminal);
    this.log.info({ terminalId: terminal.id, sandboxId: sandbox.id, pid }, "terminal opened");
    return terminal;
  }

  async beforeRemove(sandbox: Sandbox): Promise<void> {
    for (const t of [...this.terminals.values()]) if (t.sandbox === sandbox) t.close();
  }
}
