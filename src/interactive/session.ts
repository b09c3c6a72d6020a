import { describeError, failedPrecondition } from "../common/errors.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import type { ExitKind } from "../runtime/process.js";
import { moduleLoader, packModules, procfsModule } from "../runtime/python-modules.js";
import type { OutputBudget } from "../sandbox/output-budget.js";
import { Run, type ArtifactInfo, type RunExit } from "../sandbox/run.js";
import type { Sandbox } from "../sandbox/sandbox.js";
import { Kernel, kernelVar, sessionVar, type KernelEvent, type SessionKind } from "./kernel.js";
import { runnerSources, type DoneFrame } from "./runner-protocol.js";

/** As llm-sandbox's InteractiveSettings, resolved (no zeros left). */
export interface SessionSettings {
  /** Default per-cell deadline; 0 for none. */
  cellTimeoutMs: number;
  historySize: number;
  /** RLIMIT_AS of the runner and everything it starts; 0 for none. */
  memoryLimitBytes: number;
  idleTimeoutMs: number;
}

/** Daemon-wide knobs of sessions (not part of the API). */
export interface SessionOptions {
  /** IPYTHON: how long a cell has to stop after SIGINT before its kernel is restarted. */
  interruptGraceMs: number;
  /** SHELL: the runner escalates by itself (SIGINT, SIGKILL, new shell); past this the daemon kills the runner. */
  shellInterruptGraceMs: number;
  helloTimeoutMs: number;
  /** How long a runner has to end by itself on close before it is killed. */
  closeGraceMs: number;
  /** Output beyond this many bytes per cell is dropped (at the source) and the exit says truncated. */
  maxOutputBytes: number;
  /** Bytes of output each cell's event log keeps for followers that fell behind. */
  replayBytes: number;
  /** The daemon-wide output budget; a running cell's output counts against it. */
  budget?: OutputBudget;
}

export interface CellError {
  name: string;
  value: string;
  traceback: string[];
}

export interface HistoryEntry {
  cellId: string;
  code: string;
  executionCount: number;
  status: ExitKind;
  exitCode: number;
  error: CellError | undefined;
  startedAt: Date;
  durationMs: number;
}

export interface CellInput {
  /** Chosen by the client; empty: the cell's run id. */
  cellId: string;
  code: string;
  /** Overrides the session's cell timeout when > 0. */
  timeoutMs: number;
  stdin: Uint8Array;
}

type Interruption = "cancelled" | "timeout";

/** How a cell that was asked to stop is being stopped. */
interface CellStop {
  why: Interruption;
  /** Set when the kernel was killed to end this cell; the exit then says why. */
  endedBy?: string;
  /** Kills the kernel when SIGINT did not end the cell within the grace time. */
  graceTimer?: NodeJS.Timeout;
}

/**
 * A cell's state, one union: queued → starting (waiting for its kernel) → running (on a
 * kernel) → done; `stop` is set once an interrupt or the timeout asked it to stop. Every
 * transition is a method of Cell.
 */
export type CellState = { name: "queued" } | { name: "starting"; stop?: CellStop } | { name: "running"; kernel: Kernel; stop?: CellStop } | { name: "done" };

/** One submitted cell: its event log (a Run, as for any other run) and how it is going. */
export class Cell {
  private current: CellState = { name: "queued" };
  error: CellError | undefined;
  startedAt = new Date();
  stdoutBytes = 0;
  stderrBytes = 0;

  constructor(
    readonly run: Run,
    readonly cellId: string,
    readonly code: string,
    readonly timeoutMs: number,
    readonly stdin: Uint8Array,
  ) {}

  get state(): CellState {
    return this.current;
  }

  /** What stopped it, if something asked it to stop (starting or running only). */
  get stop(): CellStop | undefined {
    const s = this.current;
    return s.name === "starting" || s.name === "running" ? s.stop : undefined;
  }

  /** queued → starting. */
  begin(): void {
    if (this.current.name !== "queued") throw new Error(`cell ${this.cellId} begins twice`);
    this.current = { name: "starting" };
    this.startedAt = new Date();
  }

  /** starting → running on `kernel`; false (no change) when it was asked to stop meanwhile. */
  attach(kernel: Kernel): boolean {
    const s = this.current;
    if (s.name !== "starting" || s.stop) return false;
    this.current = { name: "running", kernel };
    return true;
  }

  /**
   * Asks a starting or running cell to stop (once): the kernel it runs on, to interrupt,
   * or null while it waits for one (it ends as soon as it would start). Undefined when
   * there is nothing to stop.
   */
  requestStop(why: Interruption): Kernel | null | undefined {
    const s = this.current;
    if ((s.name !== "starting" && s.name !== "running") || s.stop) return undefined;
    s.stop = { why };
    return s.name === "running" ? s.kernel : null;
  }

  /**
   * The kernel is being killed to end this cell, and the exit will say `why` (the first
   * reason given, unless `replace`).
   */
  endedBy(why: string, interruption: Interruption = "cancelled", replace = false): void {
    const s = this.current;
    if (s.name !== "starting" && s.name !== "running") return;
    s.stop ??= { why: interruption };
    if (replace || s.stop.endedBy === undefined) s.stop.endedBy = why;
  }

  /** Arms the grace timer of a stop (cleared when the cell is done). */
  armGrace(timer: NodeJS.Timeout): void {
    const stop = this.stop;
    if (stop) stop.graceTimer = timer;
    else clearTimeout(timer);
  }

  /** → done; false when it was done already. */
  finish(): boolean {
    if (this.current.name === "done") return false;
    clearTimeout(this.stop?.graceTimer);
    this.current = { name: "done" };
    return true;
  }
}

export interface SessionInit {
  id: string;
  tenant: string;
  sandbox: Sandbox;
  kind: SessionKind;
  /** SHELL: the shell's path or name. */
  shell: string;
  env: Record<string, string>;
  settings: SessionSettings;
  ownsSandbox: boolean;
  options: SessionOptions;
  logger: Logger;
  /** Makes a displayed image an artifact of the sandbox (undefined: capture is off). */
  images?: ImageRecorder;
}

/** Where displayed images become artifacts of the sandbox (src/artifacts implements it). */
export interface ImageRecorder {
  /** The artifact announced for the image, or undefined when the sandbox captures none. */
  recordImage(sandbox: Sandbox, runId: string, format: "png" | "svg", data: Uint8Array): ArtifactInfo | undefined;
}

const sessionsRoot = "/tmp/.sandboxd/sessions";

/**
 * A persistent IPython shell or shell inside a sandbox. Cells queue and run one at a time
 * in a kernel (a runner process, see kernel.ts) that is started on creation, restarted
 * when it dies or must be killed to end a cell, and killed with all it started on close.
 */
export class Session {
  readonly id: string;
  readonly tenant: string;
  readonly sandbox: Sandbox;
  private readonly images: ImageRecorder | undefined;
  readonly kind: SessionKind;
  readonly shell: string;
  readonly settings: SessionSettings;
  readonly ownsSandbox: boolean;
  readonly createdAt = new Date();
  executionCount = 0;
  lastUsedAt = Date.now();
  closeReason: string | undefined;
  private closed: Promise<void> | undefined;
  private readonly env: Record<string, string>;
  private readonly options: SessionOptions;
  private readonly log: Logger;
  private readonly queue: Cell[] = [];
  private current: Cell | undefined;
  private kernel: Kernel | undefined;
  private kernelStarting: Promise<Kernel> | undefined;
  private lastSid = 0;
  private generation = 0;
  private cellSeq = 0;
  private pumping = false;
  private streams = 0;
  private readonly history: HistoryEntry[] = [];
  private readonly reaping = new Set<Promise<void>>();

  constructor(init: SessionInit) {
    this.id = init.id;
    this.tenant = init.tenant;
    this.sandbox = init.sandbox;
    this.images = init.images;
    this.kind = init.kind;
    this.shell = init.shell;
    this.env = init.env;
    this.settings = init.settings;
    this.ownsSandbox = init.ownsSandbox;
    this.options = init.options;
    this.log = init.logger;
  }

  get dir(): string {
    return `${sessionsRoot}/${this.id}`;
  }

  get state(): "idle" | "busy" | "closed" {
    if (this.closed) return "closed";
    return this.current || this.queue.length > 0 ? "busy" : "idle";
  }

  /** When the session became idle (no cell, no open stream), or undefined while in use. */
  idleSince(): number | undefined {
    if (this.state !== "idle" || this.streams > 0 || this.kernelStarting) return undefined;
    return this.lastUsedAt;
  }

  touch(): void {
    this.lastUsedAt = Date.now();
    this.sandbox.touch();
  }

  /** Counts an open stream of this session (it is not idle while one is open). */
  attachStream(): () => void {
    this.streams++;
    this.touch();
    let detached = false;
    return () => {
      if (detached) return;
      detached = true;
      this.streams--;
      this.touch();
    };
  }

  /** Starts the kernel; CreateSession waits for it so a missing IPython or shell is its error. */
  async start(): Promise<void> {
    await this.ensureKernel();
    this.touch();
  }

  private assertOpen(): void {
    if (this.closed) throw failedPrecondition(`session ${this.id} is closed: ${this.closeReason ?? "closed"}`, { reason: "SESSION_CLOSED" });
  }

  // -- kernel -------------------------------------------------------------------------------
  private ensureKernel(): Promise<Kernel> {
    if (this.kernel?.alive) return Promise.resolve(this.kernel);
    if (!this.kernelStarting) {
      const generation = ++this.generation;
      const starting = (async () => {
        const runner = await this.sandbox.runner();
        const kernel = await Kernel.start(runner, this.kernelSpec(generation), this.log.child({ kernel: generation }));
        this.lastSid = kernel.sid;
        if (this.closed) {
          await kernel.close(this.options.closeGraceMs);
          throw failedPrecondition(`session ${this.id} was closed`, { reason: "SESSION_CLOSED" });
        }
        this.kernel = kernel;
        void kernel.exited.then(() => this.onKernelExit(kernel));
        this.log.debug({ generation, pid: kernel.pid }, "kernel started");
        return kernel;
      })();
      this.kernelStarting = starting;
      starting.then(
        () => this.clearStarting(starting),
        () => this.clearStarting(starting),
      );
    }
    return this.kernelStarting as Promise<Kernel>;
  }

  private clearStarting(p: Promise<Kernel>): void {
    if (this.kernelStarting === p) this.kernelStarting = undefined;
  }

  private kernelSpec(generation: number) {
    const env: Record<string, string> = { ...this.env };
    if (this.kind === "ipython") {
      // The inline backend turns figures into display_data (image/png) for the cell.
      env["MPLBACKEND"] ??= "module://matplotlib_inline.backend_inline";
      // IPython's profile and caches stay out of the user's workdir.
      env["IPYTHONDIR"] ??= `${this.dir}/ipython`;
    }
    return {
      kind: this.kind,
      sessionId: this.id,
      kernelId: `${this.id}.${generation}`,
      dir: this.dir,
      cwd: this.sandbox.config.workdir,
      env,
      shellArgv: shellArgv(this.shell),
      memoryLimitBytes: this.settings.memoryLimitBytes,
      helloTimeoutMs: this.options.helloTimeoutMs,
      ...(this.sandbox.config.commandWrapper ? { wrapper: this.sandbox.config.commandWrapper } : {}),
    };
  }

  private onKernelExit(kernel: Kernel): void {
    const restartNow = kernel === this.kernel && this.current?.stop?.endedBy !== undefined;
    if (kernel === this.kernel) this.kernel = undefined;
    // Whatever of it escaped its process group (setsid, double fork) goes too; on close,
    // the session-wide reap does it.
    if (!this.closed) this.track(this.reap(`${kernelVar}=${kernel.spec.kernelId}`, kernel.sid, false));
    if (restartNow && !this.closed) {
      // It was killed to end a cell: the session goes on with a fresh kernel right away.
      this.ensureKernel().catch((err: unknown) => this.log.warn({ err: describeError(err) }, "restarting the kernel failed"));
    }
  }

  private track(p: Promise<void>): void {
    this.reaping.add(p);
    void p.finally(() => this.reaping.delete(p));
  }

  /** Kills the processes carrying `marker` (and of process session `sid`) in the sandbox. */
  private async reap(marker: string, sid: number, removeDir: boolean): Promise<void> {
    try {
      const runner = await this.sandbox.runner();
      const proc = await runner.start({
        // The program comes on stdin: nothing to write into the sandbox first.
        argv: ["python3", "-c", moduleLoader, "reap", marker, String(sid), removeDir ? this.dir : ""],
        stdin: packModules([procfsModule, { name: "__main__", source: runnerSources.common }]),
        cwd: "/",
        timeoutMs: 30_000,
        maxOutputBytes: 64 * 1024,
      });
      let stderr = "";
      for await (const ev of proc) {
        if (ev.type === "stderr") stderr += Buffer.from(ev.data).toString("utf8");
        if (ev.type === "exit" && (ev.exit.kind !== "exited" || ev.exit.exitCode !== 0)) {
          this.log.warn({ exit: ev.exit, stderr: stderr.slice(-1000) }, "reaping session processes failed");
        }
      }
    } catch (err) {
      this.log.warn({ err: describeError(err) }, "reaping session processes failed");
    }
  }

  // -- cells --------------------------------------------------------------------------------
  /** Queues a cell; its events are in `cell.run`. Cells run one at a time, in order. */
  submit(input: CellInput): Cell {
    this.assertOpen();
    const run = new Run(newId("run"), this.sandbox.id, this.tenant, this.options.replayBytes, this.options.budget);
    const timeoutMs = input.timeoutMs > 0 ? input.timeoutMs : this.settings.cellTimeoutMs;
    const cell = new Cell(run, input.cellId || run.id, input.code, timeoutMs, input.stdin);
    this.queue.push(cell);
    this.touch();
    void this.pump();
    return cell;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let cell = this.queue.shift(); cell; cell = this.queue.shift()) {
        if (cell.state.name !== "queued") continue;
        await this.runCell(cell);
      }
    } catch (err) {
      this.log.error({ err: describeError(err) }, "session cell loop failed");
    } finally {
      this.pumping = false;
    }
  }

  private async runCell(cell: Cell): Promise<void> {
    this.current = cell;
    cell.begin();
    // Counted as a run of the sandbox: it does not idle out while a cell runs.
    this.sandbox.runs.add(cell.run);
    this.sandbox.touch();
    try {
      let kernel: Kernel;
      try {
        await this.sandbox.ready();
      } catch (err) {
        this.finishCell(cell, { status: "lost", exitCode: -1, signal: 0, message: describeError(err) });
        return;
      }
      try {
        kernel = await this.ensureKernel();
      } catch (err) {
        this.finishCell(cell, { status: "lost", exitCode: -1, signal: 0, message: `the ${this.kind} kernel could not start: ${describeError(err)}` });
        return;
      }
      if (!cell.attach(kernel)) {
        this.finishCell(cell, { status: "cancelled", exitCode: 0, signal: 0, message: cell.stop?.endedBy ?? "the cell was interrupted before it started" });
        return;
      }
      cell.run.append({ type: "started", runId: cell.run.id, pid: kernel.pid, phase: "run", sandboxId: this.sandbox.id });
      await new Promise<void>((resolve) => {
        const timer = cell.timeoutMs > 0 ? setTimeout(() => this.stopCell(cell, "timeout"), cell.timeoutMs) : undefined;
        kernel.execute(++this.cellSeq, { code: cell.code, stdin: cell.stdin, maxOutputBytes: this.options.maxOutputBytes }, (ev) => {
          if (ev.type === "done" || ev.type === "lost") {
            clearTimeout(timer);
            clearTimeout(cell.stop?.graceTimer);
          }
          this.onKernelEvent(cell, kernel, ev);
          if (ev.type === "done" || ev.type === "lost") resolve();
        });
      });
    } finally {
      this.sandbox.runs.delete(cell.run);
      this.current = undefined;
      this.touch();
    }
  }

  private onKernelEvent(cell: Cell, kernel: Kernel, ev: KernelEvent): void {
    const run = cell.run;
    switch (ev.type) {
      case "stdout":
      case "stderr":
        if (ev.type === "stdout") cell.stdoutBytes += ev.data.byteLength;
        else cell.stderrBytes += ev.data.byteLength;
        run.append({ type: "output", stream: ev.type, data: ev.data, offset: 0, streamOffset: 0, phase: "run" });
        return;
      case "display": {
        const data = ev.bundle.data;
        // Images become artifacts, announced in the stream just before their display event.
        let artifactId = "";
        const png = data["image/png"];
        const svg = data["image/svg+xml"];
        const artifact = png
          ? this.images?.recordImage(this.sandbox, run.id, "png", png)
          : svg
            ? this.images?.recordImage(this.sandbox, run.id, "svg", svg)
            : undefined;
        if (artifact) {
          run.append({ type: "artifact", artifact });
          artifactId = artifact.id;
        }
        run.append({ type: "display", data, metadataJson: JSON.stringify(ev.bundle.metadata), artifactId });
        return;
      }
      case "result":
        run.append({ type: "result", executionCount: ev.bundle.executionCount ?? 0, data: ev.bundle.data });
        return;
      case "error":
        cell.error = { name: ev.error.name, value: ev.error.value, traceback: ev.error.traceback };
        run.append({ type: "error", ...cell.error });
        return;
      case "done":
        this.finishCell(cell, this.exitFromDone(cell, ev.done), ev.done.truncated);
        return;
      case "lost":
        if (cell.stop?.endedBy !== undefined) {
          this.finishCell(cell, { status: cell.stop.why, exitCode: -1, signal: 9, message: cell.stop.endedBy, kernelRestarted: true });
        } else {
          this.finishCell(cell, {
            status: "lost",
            exitCode: ev.exit.exitCode,
            signal: ev.exit.signal,
            message: `the ${this.kind === "ipython" ? "IPython kernel" : "shell runner"} died while running the cell (${kernel.describeExit(ev.exit)}); the next cell starts a new one and the session's state is lost`,
          });
        }
        return;
    }
  }

  private exitFromDone(cell: Cell, done: DoneFrame): CellExit {
    const interrupted = done.interrupted || done.status === "interrupted";
    const status: ExitKind = interrupted ? (cell.stop?.why ?? "cancelled") : "exited";
    const exitCode = this.kind === "shell" ? (done.exit_code ?? 0) : done.status === "ok" ? 0 : 1;
    const restarted = done.restarted === true;
    if (this.kind === "ipython" && done.execution_count !== undefined) this.executionCount = done.execution_count;
    if (this.kind === "shell") this.executionCount++;
    let message = "";
    if (interrupted) {
      const what = status === "timeout" ? `the cell's timeout of ${cell.timeoutMs} ms passed` : "the cell was interrupted";
      message = restarted
        ? `${what}; it did not end on SIGINT, so its shell was restarted (cwd, variables and functions are reset)`
        : `${what}; it was stopped with SIGINT and the ${this.kind === "ipython" ? "kernel" : "shell"} kept its state`;
    } else if (done.status === "error") {
      message = cell.error ? `${cell.error.name}: ${cell.error.value}` : "the cell raised an error";
    } else if (done.shell_exited) {
      message = "the shell exited; the next command starts a new shell (cwd, variables and functions are reset)";
    } else if (done.exit_requested) {
      message = "the cell ended the kernel; the next cell starts a new one";
    }
    return { status, exitCode, signal: interrupted ? (restarted ? 9 : 2) : 0, message, kernelRestarted: restarted };
  }

  private finishCell(cell: Cell, exit: CellExit, truncated = false): void {
    if (!cell.finish()) return;
    const durationMs = Date.now() - cell.startedAt.getTime();
    const full: RunExit = {
      status: exit.status,
      exitCode: exit.exitCode,
      signal: exit.signal,
      durationMs,
      stdoutBytes: cell.stdoutBytes,
      stderrBytes: cell.stderrBytes,
      truncated,
      phase: "run",
      message: exit.message,
      kernelRestarted: exit.kernelRestarted ?? false,
    };
    cell.run.append({ type: "exited", exit: full });
    // A finished cell is not kept for Attach: its output stops counting (followers hold it).
    cell.run.release();
    this.history.push({
      cellId: cell.cellId,
      code: cell.code,
      executionCount: this.executionCount,
      status: exit.status,
      exitCode: exit.exitCode,
      error: cell.error,
      startedAt: cell.startedAt,
      durationMs,
    });
    const excess = this.history.length - this.settings.historySize;
    if (excess > 0) this.history.splice(0, excess);
  }

  /**
   * Stops the running cell: SIGINT first; when it has not ended within the grace time, its
   * kernel is killed (and restarted) and the exit says so.
   */
  private stopCell(cell: Cell, why: Interruption): boolean {
    const kernel = cell.requestStop(why);
    if (kernel === undefined) return false;
    if (kernel === null) return true; // still waiting for its kernel: it ends as soon as it has one
    kernel.interrupt(why);
    const grace = this.kind === "ipython" ? this.options.interruptGraceMs : this.options.shellInterruptGraceMs;
    cell.armGrace(
      setTimeout(() => {
        if (cell.state.name !== "running") return;
        const what = why === "timeout" ? `the cell's timeout of ${cell.timeoutMs} ms passed` : "the cell was interrupted";
        cell.endedBy(
          `${what} and it did not stop within ${grace} ms of SIGINT; the ${this.kind === "ipython" ? "kernel" : "shell"} was restarted and the session's state is lost`,
          why,
          true,
        );
        this.log.info({ cellId: cell.cellId, why }, "cell did not stop on interrupt; restarting the kernel");
        kernel.kill();
      }, grace),
    );
    return true;
  }

  /**
   * Interrupt: the running cell (cellId empty or its id) is stopped; a queued cell with that
   * id is dropped. False when there was nothing to interrupt.
   */
  interrupt(cellId = ""): boolean {
    this.touch();
    if (cellId) {
      const idx = this.queue.findIndex((c) => c.cellId === cellId && c.state.name === "queued");
      if (idx >= 0) {
        const [cell] = this.queue.splice(idx, 1);
        if (cell) this.finishCell(cell, { status: "cancelled", exitCode: 0, signal: 0, message: "the cell was interrupted before it started" });
        return true;
      }
      if (this.current?.cellId !== cellId) return false;
    }
    return this.current ? this.stopCell(this.current, "cancelled") : false;
  }

  /**
   * A fresh kernel: queued cells are dropped, a running cell is ended, every process of the
   * session is killed, and the next kernel starts now. The namespace (IPYTHON) or the
   * shell's state (SHELL) is gone; the execution count starts over.
   */
  async reset(): Promise<void> {
    this.assertOpen();
    this.touch();
    this.dropQueued("the session was reset before the cell started");
    await this.stopKernel("the session was reset");
    this.executionCount = 0;
    await this.ensureKernel();
  }

  private dropQueued(message: string): void {
    for (const cell of this.queue.splice(0)) this.finishCell(cell, { status: "cancelled", exitCode: 0, signal: 0, message });
  }

  /** Ends the current kernel (and the cell it runs, with `why`), waiting until it is gone. */
  private async stopKernel(why: string): Promise<void> {
    const starting = this.kernelStarting;
    if (starting) await starting.catch(() => undefined);
    const kernel = this.kernel;
    this.kernel = undefined;
    const cell = this.current;
    if (cell && (cell.state.name === "starting" || cell.state.name === "running")) {
      cell.endedBy(why);
      if (cell.state.name === "starting") this.finishCell(cell, { status: "cancelled", exitCode: 0, signal: 0, message: why });
    }
    if (!kernel) return;
    // A busy kernel would not read the shutdown request: kill it at once.
    if (kernel.busy) kernel.kill();
    await kernel.close(this.options.closeGraceMs);
  }

  /** Closes the session: cells end, the kernel and every process it started are killed. */
  close(reason: string): Promise<void> {
    if (!this.closed) {
      this.closeReason = reason;
      this.closed = (async () => {
        this.dropQueued(`the session was closed (${reason})`);
        await this.stopKernel(`the session was closed (${reason})`);
        await this.reap(`${sessionVar}=${this.id}`, this.lastSid, true);
        await Promise.all([...this.reaping]);
        this.log.info({ reason }, "session closed");
      })();
    }
    return this.closed;
  }

  historyEntries(limit: number): HistoryEntry[] {
    return limit > 0 ? this.history.slice(-limit) : [...this.history];
  }
}

interface CellExit {
  status: ExitKind;
  exitCode: number;
  signal: number;
  message: string;
  kernelRestarted?: boolean;
}

/**
 * How each shell is started: interactive (so an interrupt abandons the whole command line,
 * like Ctrl-C in a terminal), without rc files or line editing, from a known state.
 */
export function shellArgv(shell: string): string[] {
  const name = shell.slice(shell.lastIndexOf("/") + 1);
  if (name === "bash") return [shell, "--noprofile", "--norc", "--noediting", "-i"];
  if (name === "zsh") return [shell, "-f", "-i"];
  return [shell, "-i"];
}
