import { describeError, failedPrecondition, unavailable } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { FrameDecoder, encodeFrame, type Frame } from "../runtime/agent-protocol.js";
import { lostExit, type ProcessExit, type ProcessSpec, type RunningProcess } from "../runtime/process.js";
import { procfsModule } from "../runtime/python-modules.js";
import type { SandboxChannel } from "../runtime/sandbox-channel.js";
import { wrapArgv } from "../sandbox/command-wrapper.js";
import { RunnerFrame, decodeBundle, encodeExecute, runnerSources, type Bundle, type DoneFrame, type ErrorFrame, type HelloFrame } from "./runner-protocol.js";

export type SessionKind = "ipython" | "shell";

export interface KernelSpec {
  kind: SessionKind;
  sessionId: string;
  /** Distinguishes this runner from the session's earlier and later ones. */
  kernelId: string;
  /** Private directory of the session inside the sandbox (runner files, stdin files). */
  dir: string;
  cwd: string;
  env: Record<string, string>;
  /** SHELL: the shell's argv. */
  shellArgv: string[];
  memoryLimitBytes: number;
  helloTimeoutMs: number;
  /**
   * The sandbox's command wrapper (SandboxSpec.command_wrapper): the runner runs the
   * user's cells in its own process (IPython) or its children (the shell), so it is the
   * user process the wrapper goes before.
   */
  wrapper?: readonly string[];
}

/** What a running cell receives from its kernel, in order; `done` or `lost` is last. */
export type KernelEvent =
  | { type: "stdout" | "stderr"; data: Uint8Array }
  | { type: "display"; bundle: Bundle }
  | { type: "result"; bundle: Bundle }
  | { type: "error"; error: ErrorFrame }
  | { type: "done"; done: DoneFrame }
  | { type: "lost"; exit: ProcessExit; stderr: string };

export interface ExecuteRequest {
  code: string;
  maxOutputBytes: number;
  stdin: Uint8Array;
}

/** Environment variable names the runners read (see runner/sandboxd_session.py). */
export const sessionVar = "SANDBOXD_SESSION_ID";
export const kernelVar = "SANDBOXD_KERNEL_ID";

/**
 * The daemon's end of one session runner: a long-lived process inside the sandbox, started
 * through the sandbox's process runner, that keeps an IPython shell or a shell alive and
 * runs one cell at a time. Dies with its process; the session starts a new one.
 */
export class Kernel {
  private readonly decoder = new FrameDecoder();
  private stderrTail = "";
  private cell: { n: number; onEvent: (ev: KernelEvent) => void } | undefined;
  private exitInfo: ProcessExit | undefined;
  private hello: HelloFrame | undefined;
  private helloWaiter: ((h: HelloFrame | ProcessExit) => void) | undefined;
  /** Resolves with the runner's exit once it ended, for whatever reason. */
  readonly exited: Promise<ProcessExit>;
  private resolveExited!: (e: ProcessExit) => void;

  private constructor(
    readonly spec: KernelSpec,
    private readonly proc: RunningProcess,
    private readonly log: Logger,
  ) {
    this.exited = new Promise((r) => (this.resolveExited = r));
  }

  /** Starts a runner and resolves once it said hello (its kernel is ready for cells). */
  static async start(runner: SandboxChannel, spec: KernelSpec, log: Logger): Promise<Kernel> {
    const proc = await runner.start(Kernel.processSpec(spec));
    const kernel = new Kernel(spec, proc, log);
    const hello = new Promise<HelloFrame | ProcessExit>((resolve) => (kernel.helloWaiter = resolve));
    void kernel.pump();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), spec.helloTimeoutMs);
    });
    const first = await Promise.race([hello, timeout]);
    clearTimeout(timer);
    if (first === "timeout") {
      proc.kill("timeout");
      throw unavailable(`the ${spec.kind} runner did not start within ${spec.helloTimeoutMs} ms`);
    }
    if ("kind" in first) {
      throw failedPrecondition(`the ${spec.kind} runner could not start: ${kernel.describeExit(first)}`, { reason: "KERNEL_START_FAILED" });
    }
    if (first.error) {
      proc.kill("cancelled");
      throw failedPrecondition(first.error, { reason: spec.kind === "ipython" ? "IPYTHON_UNAVAILABLE" : "SHELL_UNAVAILABLE" });
    }
    return kernel;
  }

  private static processSpec(spec: KernelSpec): ProcessSpec {
    const main = spec.kind === "ipython" ? "ipython_runner.py" : "shell_runner.py";
    const config = {
      session_id: spec.sessionId,
      dir: spec.dir,
      cwd: spec.cwd,
      argv: spec.shellArgv,
      memory_limit: spec.memoryLimitBytes,
    };
    return {
      argv: wrapArgv(spec.wrapper, ["python3", "-u", `${spec.dir}/${main}`, JSON.stringify(config)]),
      files: [
        { path: `${spec.dir}/${procfsModule.name}.py`, data: procfsModule.source, mode: 0o644 },
        { path: `${spec.dir}/sandboxd_session.py`, data: runnerSources.common, mode: 0o644 },
        { path: `${spec.dir}/${main}`, data: spec.kind === "ipython" ? runnerSources.ipython : runnerSources.shell, mode: 0o644 },
      ],
      env: { ...spec.env, [sessionVar]: spec.sessionId, [kernelVar]: spec.kernelId },
      cwd: spec.cwd,
      keepStdinOpen: true,
      // The session's deadline is per cell (enforced by the session), not per runner.
      timeoutMs: 0,
      // Per-cell caps are applied inside the runner; the runner's stream itself is unbounded.
      maxOutputBytes: Number.MAX_SAFE_INTEGER,
    };
  }

  get pid(): number {
    return this.hello?.pid ?? 0;
  }

  /** The runner's process session: every process it started lives in it unless it left. */
  get sid(): number {
    return this.hello?.sid ?? 0;
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  get busy(): boolean {
    return this.cell !== undefined;
  }

  private async pump(): Promise<void> {
    let exit: ProcessExit | undefined;
    try {
      for await (const ev of this.proc) {
        switch (ev.type) {
          case "stdout": {
            let frames: Frame[];
            try {
              frames = this.decoder.push(Buffer.from(ev.data));
            } catch (err) {
              this.log.error({ err: describeError(err) }, "session runner channel corrupted; killing it");
              this.proc.kill("cancelled");
              continue;
            }
            for (const f of frames) this.onFrame(f);
            break;
          }
          case "stderr":
            // The runner's own diagnostics (user output travels in frames).
            this.stderrTail = (this.stderrTail + Buffer.from(ev.data).toString("utf8")).slice(-4096);
            break;
          case "exit":
            exit = ev.exit;
            break;
          case "started":
            break;
        }
      }
    } catch (err) {
      this.log.warn({ err: describeError(err) }, "session runner stream failed");
    }
    exit ??= lostExit("the runner's stream ended without an exit");
    this.exitInfo = exit;
    this.log.debug({ exit, stderr: this.stderrTail.trim() }, "session runner ended");
    this.helloWaiter?.(exit);
    this.helloWaiter = undefined;
    const cell = this.cell;
    this.cell = undefined;
    cell?.onEvent({ type: "lost", exit, stderr: this.stderrTail.trim() });
    this.resolveExited(exit);
  }

  private onFrame(f: Frame): void {
    const json = <T>() => JSON.parse(f.payload.toString("utf8")) as T;
    if (f.kind === RunnerFrame.Hello) {
      this.hello = json<HelloFrame>();
      this.helloWaiter?.(this.hello);
      this.helloWaiter = undefined;
      return;
    }
    const cell = this.cell;
    if (!cell || cell.n !== f.channel) return;
    switch (f.kind) {
      case RunnerFrame.Stdout:
        cell.onEvent({ type: "stdout", data: Buffer.from(f.payload) });
        return;
      case RunnerFrame.Stderr:
        cell.onEvent({ type: "stderr", data: Buffer.from(f.payload) });
        return;
      case RunnerFrame.Display:
        cell.onEvent({ type: "display", bundle: decodeBundle(f.payload) });
        return;
      case RunnerFrame.Result:
        cell.onEvent({ type: "result", bundle: decodeBundle(f.payload) });
        return;
      case RunnerFrame.Error:
        cell.onEvent({ type: "error", error: json<ErrorFrame>() });
        return;
      case RunnerFrame.Done:
        this.cell = undefined;
        cell.onEvent({ type: "done", done: json<DoneFrame>() });
        return;
      default:
        this.log.debug({ kind: f.kind }, "unknown session runner frame");
    }
  }

  /** Runs one cell; `onEvent` gets its events, the last one `done` or `lost`. */
  execute(n: number, req: ExecuteRequest, onEvent: (ev: KernelEvent) => void): void {
    if (this.exitInfo) {
      onEvent({ type: "lost", exit: this.exitInfo, stderr: this.stderrTail.trim() });
      return;
    }
    if (this.cell) throw new Error("kernel is busy");
    this.cell = { n, onEvent };
    void this.proc.writeStdin(encodeFrame(RunnerFrame.Execute, n, encodeExecute(req.code, req.maxOutputBytes, req.stdin)));
  }

  /**
   * Asks the running cell to stop. IPython: SIGINT to the runner's process group (a
   * KeyboardInterrupt in the cell, and `!cmd` children stop too). SHELL: the runner
   * interrupts the command's own processes and escalates by itself.
   */
  interrupt(reason: "cancelled" | "timeout"): void {
    if (!this.alive) return;
    if (this.spec.kind === "ipython") this.proc.signal("SIGINT");
    else void this.proc.writeStdin(encodeFrame(RunnerFrame.Interrupt, this.cell?.n ?? 0, Buffer.from(JSON.stringify({ reason }))));
  }

  /** Kills the runner's whole process group at once. */
  kill(): void {
    if (this.alive) this.proc.kill("cancelled");
  }

  /** Asks the runner to end (it kills what it started), then kills it after `graceMs`. */
  async close(graceMs: number): Promise<ProcessExit> {
    if (this.alive) {
      void this.proc.writeStdin(encodeFrame(RunnerFrame.Shutdown, 0));
      this.proc.closeStdin();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((r) => {
        timer = setTimeout(() => r("late"), graceMs);
      });
      const r = await Promise.race([this.exited, late]);
      clearTimeout(timer);
      if (r === "late") this.kill();
    }
    return this.exited;
  }

  describeExit(exit: ProcessExit): string {
    const how =
      exit.kind === "exited"
        ? `exit code ${exit.exitCode}`
        : exit.kind === "killed"
          ? `signal ${exit.signal}`
          : exit.kind === "oom"
            ? "the out-of-memory killer"
            : (exit.message ?? exit.kind);
    const tail = this.stderrTail.trim().split("\n").slice(-3).join(" | ");
    return tail ? `${how}: ${tail}` : how;
  }
}
