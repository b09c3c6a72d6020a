import { readFileSync } from "node:fs";
import { AsyncQueue } from "../common/async-queue.js";
import { ErrorCode, SandboxdError, describeError, resourceExhausted, unavailable } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { FrameDecoder, FrameKind, encodeFrame, type Frame } from "./agent-protocol.js";
import type { ContainerRuntime, ExecSession } from "./container-runtime.js";
import { lostExit, type ExitKind, type ProcessEvent, type ProcessExit, type ProcessSpec, type RunningProcess } from "./process.js";
import { forkServerSourceModule, moduleLoader, packModules, procfsModule } from "./python-modules.js";
import type { FileChange, FileContent, FileWatchHandle, ReadFileOptions, SandboxChannel, UsageSample } from "./sandbox-channel.js";

// The agent and the module it imports, sent on the exec's stdin; stdin then carries frames.
// The fork server's source goes as a string constant: the agent starts it with `python3 -c`.
const agentProgram = packModules([
  procfsModule,
  forkServerSourceModule,
  { name: "sandboxd_agent", source: readFileSync(new URL("../agent/sandboxd_agent.py", import.meta.url)) },
]);

/** A file write's bytes go in frames of at most this size. */
const fileFrameBytes = 1024 * 1024;
/** Bytes of a file read the agent may send ahead of the daemon's credit. */
const fileCreditWindow = 1024 * 1024;
/** Bytes of a run's stdin the daemon keeps in flight (sent, not yet in the process's pipe). */
const stdinWindow = 1024 * 1024;

export interface AgentRunnerOptions {
  runtime: ContainerRuntime;
  containerId: string;
  logger: Logger;
  /** How long the agent may take to say hello. */
  helloTimeoutMs?: number;
  /** Called once when the channel closes unexpectedly. */
  onDeath?: (reason: string) => void;
  /** Environment of the agent process (tests point its state directory elsewhere). */
  env?: Record<string, string>;
}

interface Pending {
  queue: AsyncQueue<ProcessEvent>;
  spec: ProcessSpec;
  /** Stdin bytes sent that the agent has not yet reported done (K_STDIN_CREDIT). */
  stdinUnacked: number;
  /** Writers waiting for the stdin window to have room (woken by credit, exit or death). */
  stdinWaiters: (() => void)[];
}

/**
 * A frame's payload to keep (in a run's replay): the view itself when it is most of the chunk
 * under it (a bulk frame; nothing writes into received chunks), else a copy, so that a short
 * line kept for replay does not hold a whole read's chunk alive.
 */
function ownBytes(payload: Buffer): Buffer {
  return payload.byteLength * 2 >= payload.buffer.byteLength ? payload : Buffer.from(payload);
}

function wake(run: Pending): void {
  for (const w of run.stdinWaiters.splice(0)) w();
}

/**
 * The daemon's end of the resident agent, the SandboxChannel of every image with python3:
 * one long-lived exec per sandbox, many concurrent runs and file transfers multiplexed
 * over it by channel number, payload bytes always as raw frames.
 */
export class AgentRunner implements SandboxChannel {
  readonly kind = "agent" as const;
  lostRuns: readonly string[] = [];
  private readonly runs = new Map<number, Pending>();
  private readonly requests = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  /** File reads in progress: the chunks the agent sent on that channel. */
  private readonly reads = new Map<number, { chunks: Buffer[]; bytes: number; onChunk: (n: number) => void }>();
  /** File watches: their changes as the agent reports them (FileEvent frames). */
  private readonly watches = new Map<number, AsyncQueue<FileChange>>();
  private nextChannel = 1;
  private closed = false;
  private dead: string | undefined;

  private constructor(
    private readonly exec: ExecSession,
    private readonly log: Logger,
    private readonly onDeath: ((reason: string) => void) | undefined,
  ) {}

  /** Starts the agent and resolves once it said hello; rejects when it cannot run here. */
  static async start(options: AgentRunnerOptions): Promise<AgentRunner> {
    const exec = await options.runtime.exec(options.containerId, {
      // The argument names the process for `ps` and `pkill -f sandboxd-agent`.
      argv: ["python3", "-u", "-c", moduleLoader, "sandboxd-agent"],
      stdin: true,
      ...(options.env ? { env: options.env } : {}),
    });
    const log = options.logger.child({ component: "agent" });
    const runner = new AgentRunner(exec, log, options.onDeath);
    const hello = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(unavailable("the sandbox agent did not start in time")), options.helloTimeoutMs ?? 15_000);
      runner.helloWaiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
    runner.listen();
    exec.stdin?.write(agentProgram);
    try {
      await hello;
    } catch (err) {
      exec.destroy();
      throw err;
    }
    return runner;
  }

  private helloWaiter: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  private stderrTail = "";

  get alive(): boolean {
    return !this.closed && this.dead === undefined;
  }

  private listen(): void {
    const decoder = new FrameDecoder();
    this.exec.stdout.on("data", (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        if (this.helloWaiter) {
          // Before hello, bytes that are not frames are the engine saying the agent could not
          // start (e.g. "OCI runtime exec failed: ... python3: not found").
          const text = chunk.toString("utf8").replace(/\s+/g, " ").trim().slice(0, 300);
          this.helloWaiter.reject(new SandboxdError(ErrorCode.FailedPrecondition, `the image cannot run the agent: ${text}`, { reason: "AGENT_UNSUPPORTED" }));
          this.helloWaiter = undefined;
        }
        this.die(`agent channel corrupted: ${describeError(err)}`);
        return;
      }
      for (const f of frames) this.onFrame(f);
    });
    this.exec.stderr.on("data", (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString("utf8")).slice(-4096);
    });
    void this.exec.wait().then(
      (code) => this.die(`agent exited with code ${code}${this.stderrTail ? `: ${this.stderrTail.trim()}` : ""}`, code),
      (err: unknown) => this.die(`agent channel lost: ${describeError(err)}`),
    );
  }

  private die(reason: string, exitCode?: number): void {
    if (this.dead !== undefined) return;
    this.dead = reason;
    const err = unavailable(this.closed ? "sandbox agent closed" : `sandbox agent died: ${reason}`);
    // 126/127 before hello: the image cannot run the agent (no python3), not a failure.
    const unsupported = exitCode === 126 || exitCode === 127;
    this.helloWaiter?.reject(
      unsupported ? new SandboxdError(ErrorCode.FailedPrecondition, `the image cannot run the agent: ${reason}`, { reason: "AGENT_UNSUPPORTED" }) : err,
    );
    this.helloWaiter = undefined;
    for (const [, r] of this.runs) {
      r.queue.push({ type: "exit", exit: lostExit(this.closed ? "the sandbox was closed" : reason) });
      r.queue.end();
      wake(r);
    }
    this.runs.clear();
    for (const [, req] of this.requests) req.reject(err);
    this.requests.clear();
    this.reads.clear();
    for (const [, w] of this.watches) w.end();
    this.watches.clear();
    for (const d of this.drainWaiters.splice(0)) d();
    if (!this.closed) {
      this.log.warn({ reason }, "sandbox agent died");
      this.onDeath?.(reason);
    }
  }

  private onFrame(f: Frame): void {
    switch (f.kind) {
      case FrameKind.Hello:
        try {
          const hello = JSON.parse(Buffer.from(f.payload).toString("utf8")) as { lost_runs?: unknown };
          if (Array.isArray(hello.lost_runs)) this.lostRuns = hello.lost_runs.filter((r): r is string => typeof r === "string");
        } catch {
          // An old agent's hello without the list: nothing was lost that it could tell.
        }
        this.helloWaiter?.resolve();
        this.helloWaiter = undefined;
        return;
      case FrameKind.Started: {
        const { pid } = JSON.parse(f.payload.toString("utf8")) as { pid: number };
        this.runs.get(f.channel)?.queue.push({ type: "started", pid });
        return;
      }
      case FrameKind.Stdout:
        this.runs.get(f.channel)?.queue.push({ type: "stdout", data: ownBytes(f.payload) });
        return;
      case FrameKind.Stderr:
        this.runs.get(f.channel)?.queue.push({ type: "stderr", data: ownBytes(f.payload) });
        return;
      case FrameKind.Exit: {
        const run = this.runs.get(f.channel);
        if (!run) return;
        this.runs.delete(f.channel);
        const e = JSON.parse(f.payload.toString("utf8")) as {
          status: ExitKind;
          code: number;
          signal: number;
          duration_ms: number;
          stdout_bytes: number;
          stderr_bytes: number;
          truncated: boolean;
          peak_memory_bytes?: number;
          cpu_time_ms?: number;
        };
        const exit: ProcessExit = {
          kind: e.status,
          exitCode: e.code,
          signal: e.signal,
          durationMs: e.duration_ms,
          stdoutBytes: e.stdout_bytes,
          stderrBytes: e.stderr_bytes,
          truncated: e.truncated,
          ...(typeof e.peak_memory_bytes === "number" ? { peakMemoryBytes: e.peak_memory_bytes } : {}),
          ...(typeof e.cpu_time_ms === "number" ? { cpuTimeMs: e.cpu_time_ms } : {}),
        };
        run.queue.push({ type: "exit", exit });
        run.queue.end();
        wake(run);
        return;
      }
      case FrameKind.Captured: {
        const run = this.runs.get(f.channel);
        if (!run) return;
        try {
          const p = JSON.parse(f.payload.toString("utf8")) as Record<string, unknown>;
          const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
          if (typeof p["name"] !== "string" || typeof p["format"] !== "string") return;
          const plot = { name: p["name"], format: p["format"], width: num(p["width"]), height: num(p["height"]), dpi: num(p["dpi"]), size: num(p["size"]) };
          run.queue.push({ type: "captured", plot });
        } catch {
          this.log.debug("unreadable captured frame");
        }
        return;
      }
      case FrameKind.StdinCredit: {
        const run = this.runs.get(f.channel);
        if (!run || f.payload.length < 4) return;
        run.stdinUnacked = Math.max(0, run.stdinUnacked - f.payload.readUInt32BE(0));
        if (run.stdinUnacked < stdinWindow) wake(run);
        return;
      }
      case FrameKind.FileChunk: {
        const read = this.reads.get(f.channel);
        if (!read) return;
        read.chunks.push(Buffer.from(f.payload));
        read.bytes += f.payload.length;
        read.onChunk(f.payload.length);
        return;
      }
      case FrameKind.Result: {
        const req = this.requests.get(f.channel);
        if (!req) return;
        this.requests.delete(f.channel);
        const res = JSON.parse(f.payload.toString("utf8")) as { ok: boolean; error?: string; missing?: boolean };
        if (res.ok || res.missing) req.resolve(res);
        else req.reject(unavailable(`agent request failed: ${res.error ?? "unknown"}`));
        return;
      }
      case FrameKind.UsageSample: {
        const req = this.requests.get(f.channel);
        if (!req) return;
        this.requests.delete(f.channel);
        try {
          req.resolve(usageFromAgent(JSON.parse(f.payload.toString("utf8")) as Record<string, unknown>));
        } catch (err) {
          req.reject(unavailable(`the agent's usage sample is unreadable: ${describeError(err)}`));
        }
        return;
      }
      case FrameKind.FileEvent: {
        const watch = this.watches.get(f.channel);
        if (!watch) return;
        try {
          const e = JSON.parse(f.payload.toString("utf8")) as { type?: unknown; path?: unknown; old_path?: unknown; dir?: unknown; message?: unknown };
          const types = ["create", "write", "remove", "rename", "overflow"] as const;
          const type = types.find((t) => t === e.type);
          if (!type || typeof e.path !== "string") return;
          watch.push({
            type,
            path: e.path,
            isDir: e.dir === true,
            ...(typeof e.old_path === "string" ? { oldPath: e.old_path } : {}),
            ...(typeof e.message === "string" ? { message: e.message } : {}),
          });
        } catch {
          this.log.debug("unreadable file event frame");
        }
        return;
      }
      case FrameKind.Log:
        this.log.warn({ agent: f.payload.toString("utf8").slice(0, 1000) }, "agent reported an error");
        return;
      default:
        this.log.debug({ kind: f.kind }, "unknown agent frame");
    }
  }

  /** False when the exec's stdin buffers more than its high-water mark (see waitDrain). */
  private send(kind: number, channel: number, payload?: Uint8Array): boolean {
    if (!this.alive) return true;
    return this.exec.stdin?.write(encodeFrame(kind, channel, payload)) ?? true;
  }

  private readonly drainWaiters: (() => void)[] = [];

  /** Waits until the channel's stdin took what it buffers (or the channel died). */
  private waitDrain(): Promise<void> {
    const stdin = this.exec.stdin;
    if (!stdin || !this.alive || !stdin.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        stdin.removeListener("drain", done);
        const at = this.drainWaiters.indexOf(done);
        if (at >= 0) this.drainWaiters.splice(at, 1);
        resolve();
      };
      this.drainWaiters.push(done);
      stdin.once("drain", done);
    });
  }

  /**
   * A run's stdin in frames of at most 1 MiB, all sent at once (so that a closeStdin or another
   * write right after cannot come between them); resolves once the channel drained and the
   * run's stdin window has room (the agent reports what it wrote into the pipe), or the run ended.
   */
  private async writeStdin(channel: number, run: Pending, data: Uint8Array): Promise<void> {
    let full = false;
    for (let at = 0; at < data.byteLength; at += fileFrameBytes) {
      const part = data.subarray(at, at + fileFrameBytes);
      run.stdinUnacked += part.byteLength;
      if (!this.send(FrameKind.Stdin, channel, part)) full = true;
    }
    if (full) await this.waitDrain();
    while (run.stdinUnacked >= stdinWindow && this.runs.get(channel) === run) {
      await new Promise<void>((resolve) => run.stdinWaiters.push(resolve));
    }
  }

  private allocChannel(): number {
    const ch = this.nextChannel;
    this.nextChannel = this.nextChannel >= 0xffff_fff0 ? 1 : this.nextChannel + 1;
    return ch;
  }

  async start(spec: ProcessSpec): Promise<RunningProcess> {
    if (!this.alive) throw unavailable(`sandbox agent is not running${this.dead ? `: ${this.dead}` : ""}`);
    const channel = this.allocChannel();
    const queue = new AsyncQueue<ProcessEvent>();
    const run: Pending = { queue, spec, stdinUnacked: 0, stdinWaiters: [] };
    this.runs.set(channel, run);
    const pipeStdin = spec.keepStdinOpen === true || (spec.stdin !== undefined && spec.stdin.byteLength > 0);
    const start: Record<string, unknown> = {
      argv: spec.argv,
      stdin: pipeStdin ? "pipe" : "none",
      timeout_ms: spec.timeoutMs,
      max_output: spec.maxOutputBytes,
    };
    const window = spec.creditWindowBytes ?? 0;
    if (window > 0) start["credit_window"] = window;
    if (spec.runId) start["run_id"] = spec.runId;
    if (spec.env) start["env"] = spec.env;
    if (spec.files) start["files"] = spec.files.map((f) => ({ path: f.path, mode: f.mode, size: f.data.byteLength }));
    if (spec.cwd) start["cwd"] = spec.cwd;
    if (spec.captureDir) start["capture_dir"] = spec.captureDir;
    if (spec.forkServer) start["fork_server"] = { preload: spec.forkServer.preload };
    if (spec.pty) start["pty"] = { rows: spec.pty.rows, cols: spec.pty.cols };
    // The spec (length-prefixed JSON), then the files' bytes as they are.
    const json = Buffer.from(JSON.stringify(start));
    const prefix = Buffer.allocUnsafe(4);
    prefix.writeUInt32BE(json.length, 0);
    this.send(FrameKind.Start, channel, Buffer.concat([prefix, json, ...(spec.files ?? []).map((f) => f.data)]));
    if (spec.stdin && spec.stdin.byteLength > 0) void this.writeStdin(channel, run, spec.stdin);
    if (pipeStdin && spec.keepStdinOpen !== true) this.send(FrameKind.StdinClose, channel);
    let pendingCredit = 0;
    const creditStep = Math.max(1, Math.floor(window / 4));
    return {
      [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
      writeStdin: (data) => this.writeStdin(channel, run, data),
      closeStdin: () => this.send(FrameKind.StdinClose, channel),
      signal: (name) => this.send(FrameKind.Signal, channel, Buffer.from(name)),
      kill: (reason) => this.send(FrameKind.Kill, channel, Buffer.from(reason)),
      resize: (rows, cols) => {
        const payload = Buffer.allocUnsafe(4);
        payload.writeUInt16BE(rows, 0);
        payload.writeUInt16BE(cols, 2);
        this.send(FrameKind.Resize, channel, payload);
      },
      ack: (bytes) => {
        if (window <= 0 || bytes <= 0) return;
        // Credit goes back in steps of a quarter window: fewer frames, and the agent still has
        // three quarters to send meanwhile, so no output waits for a batch (no added latency).
        pendingCredit += bytes;
        if (pendingCredit < creditStep || !this.runs.has(channel)) return;
        const payload = Buffer.allocUnsafe(4);
        payload.writeUInt32BE(Math.min(pendingCredit, 0xffff_ffff), 0);
        pendingCredit = 0;
        this.send(FrameKind.Credit, channel, payload);
      },
    };
  }

  /**
   * FileOpen, the bytes in FileData frames (at most 1 MiB each, waiting for the channel to
   * drain between them, so a large file never sits in memory), FileClose; the agent answers.
   */
  async writeFile(path: string, data: FileContent, mode: number): Promise<void> {
    if (!this.alive) throw unavailable("sandbox agent is not running");
    const channel = this.allocChannel();
    const result = new Promise((resolve, reject) => this.requests.set(channel, { resolve, reject }));
    result.catch(() => undefined);
    this.send(FrameKind.FileOpen, channel, Buffer.from(JSON.stringify({ path, mode })));
    const parts: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = data instanceof Uint8Array ? [data] : data;
    try {
      for await (const part of parts) {
        for (let at = 0; at < part.byteLength; at += fileFrameBytes) {
          if (!this.send(FrameKind.FileData, channel, part.subarray(at, at + fileFrameBytes))) await this.waitDrain();
          if (!this.alive) break;
        }
      }
    } finally {
      this.send(FrameKind.FileClose, channel);
    }
    const res = (await result) as { ok: boolean; missing?: boolean; error?: string };
    if (!res.ok) throw unavailable(`writing ${path} failed: ${res.error ?? "unknown"}`);
  }

  /** FileRead; the agent sends FileChunk frames within a credit window, then its Result. */
  async readFile(path: string, options: ReadFileOptions = {}): Promise<Uint8Array | undefined> {
    if (!this.alive) throw unavailable("sandbox agent is not running");
    const channel = this.allocChannel();
    let pending = 0;
    const step = Math.max(1, Math.floor(fileCreditWindow / 4));
    const read = {
      chunks: [] as Buffer[],
      bytes: 0,
      onChunk: (n: number) => {
        pending += n;
        if (pending < step) return;
        const payload = Buffer.allocUnsafe(4);
        payload.writeUInt32BE(pending, 0);
        pending = 0;
        this.send(FrameKind.Credit, channel, payload);
      },
    };
    this.reads.set(channel, read);
    try {
      const result = new Promise((resolve, reject) => this.requests.set(channel, { resolve, reject }));
      this.send(FrameKind.FileRead, channel, Buffer.from(JSON.stringify({ path, max_bytes: options.maxBytes ?? 0, credit_window: fileCreditWindow })));
      const res = (await result) as { ok: boolean; missing?: boolean };
      if (res.missing) return undefined;
      return Buffer.concat(read.chunks, read.bytes);
    } finally {
      this.reads.delete(channel);
    }
  }

  private request(body: Record<string, unknown>): Promise<unknown> {
    if (!this.alive) return Promise.reject(unavailable("sandbox agent is not running"));
    const channel = this.allocChannel();
    return new Promise((resolve, reject) => {
      this.requests.set(channel, { resolve, reject });
      this.send(FrameKind.Request, channel, Buffer.from(JSON.stringify(body)));
    });
  }

  /** Usage: the agent reads the sandbox's cgroup and statvfs (or walks) the paths. */
  usage(paths: readonly string[]): Promise<UsageSample> {
    if (!this.alive) return Promise.reject(unavailable("sandbox agent is not running"));
    const channel = this.allocChannel();
    return new Promise<unknown>((resolve, reject) => {
      this.requests.set(channel, { resolve, reject });
      this.send(FrameKind.Usage, channel, Buffer.from(JSON.stringify({ paths })));
    }) as Promise<UsageSample>;
  }

  /** A file watch: the agent's inotify on `path` (and below it when recursive) until stop(). */
  async watchFiles(path: string, recursive: boolean): Promise<FileWatchHandle | undefined> {
    if (!this.alive) throw unavailable("sandbox agent is not running");
    const channel = this.allocChannel();
    const queue = new AsyncQueue<FileChange>();
    this.watches.set(channel, queue);
    let res: { ok: boolean; missing?: boolean };
    try {
      res = (await new Promise<unknown>((resolve, reject) => {
        this.requests.set(channel, { resolve, reject });
        this.send(FrameKind.Request, channel, Buffer.from(JSON.stringify({ op: "watch", path, recursive })));
      })) as { ok: boolean; missing?: boolean };
    } catch (err) {
      this.watches.delete(channel);
      if (err instanceof Error && /more than \d+ file watches/.test(err.message))
        throw resourceExhausted(`too many file watches in this sandbox (${err.message.replace(/^.*: /, "")})`, { reason: "FILE_WATCHES_EXHAUSTED" });
      throw err;
    }
    if (res.missing) {
      this.watches.delete(channel);
      return undefined;
    }
    return {
      changes: queue,
      stop: () => {
        if (!this.watches.delete(channel)) return;
        this.send(FrameKind.Kill, channel);
        queue.end();
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // EOF on its stdin makes the agent kill its runs and exit.
    this.exec.stdin?.end();
    const exited = this.exec.wait().catch(() => 0);
    const timer = new Promise((r) => setTimeout(r, 2000).unref());
    await Promise.race([exited, timer]);
    this.exec.destroy();
    this.die("closed");
  }
}

/** The agent's K_USAGE_SAMPLE (snake_case JSON, null for what it could not read) as a UsageSample. */
function usageFromAgent(raw: Record<string, unknown>): UsageSample {
  if (typeof raw["error"] === "string") throw new Error(raw["error"]);
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);
  const paths = Array.isArray(raw["paths"]) ? (raw["paths"] as Record<string, unknown>[]) : [];
  return {
    memoryBytes: num(raw["memory_bytes"]),
    memoryPeakBytes: num(raw["memory_peak_bytes"]),
    memoryLimitBytes: num(raw["memory_limit_bytes"]),
    cpuTimeMs: Math.floor(num(raw["cpu_usec"]) / 1000),
    processes: num(raw["processes"]),
    processesLimit: num(raw["processes_limit"]),
    paths: paths
      .filter((p) => p !== null && typeof p === "object" && typeof p["path"] === "string" && p["error"] === undefined)
      .map((p) => ({ path: p["path"] as string, usedBytes: num(p["used_bytes"]), totalBytes: num(p["total_bytes"]) })),
  };
}
