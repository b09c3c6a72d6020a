import { randomBytes } from "node:crypto";
import { PassThrough, type Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { AsyncQueue } from "../common/async-queue.js";
import { describeError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { ContainerRuntime, ExecOptions, ExecSession } from "./container-runtime.js";
import { outputTrailer, TrailerScanner } from "./output-trailer.js";
import { lostExit, signalNames, type ExitKind, type ProcessEvent, type ProcessSpec, type RunningProcess } from "./process.js";
import type { FileContent, ReadFileOptions, SandboxChannel } from "./sandbox-channel.js";

/** Stdin bytes a run may have queued on the engine stream before writeStdin waits for it. */
const stdinWindow = 1024 * 1024;

/**
 * The fallback runner: one engine exec per run, for images the agent cannot start in
 * (no python3). Each run's process group id is left in a pid file that kill and signal
 * execs read. Limits: a program that
 * exits with 128+N is reported as killed by signal N (a shell cannot tell them apart), and
 * OOM is not distinguished from SIGKILL.
 */
export class ExecRunner implements SandboxChannel {
  readonly kind = "exec" as const;
  /** One engine exec per run leaves no record in the sandbox to tell lost runs by. */
  readonly lostRuns: readonly string[] = [];
  readonly alive = true;

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly containerId: string,
    private readonly log: Logger,
  ) {}

  private async sh(script: string, stdin?: Uint8Array): Promise<number> {
    const exec = await this.runtime.exec(this.containerId, { argv: ["sh", "-c", script], stdin: stdin !== undefined });
    exec.stdout.resume();
    exec.stderr.resume();
    if (stdin !== undefined) exec.stdin?.end(Buffer.from(stdin));
    return exec.wait();
  }

  async writeFile(path: string, data: FileContent, mode: number): Promise<void> {
    const q = shellQuote(path);
    // Written aside and renamed over, as the agent does: a run starting meanwhile never reads half a file.
    const script = `mkdir -p "$(dirname ${q})" && cat > ${q}.sandboxd-$$ && chmod ${mode.toString(8)} ${q}.sandboxd-$$ && mv -f ${q}.sandboxd-$$ ${q} || { rm -f ${q}.sandboxd-$$; exit 1; }`;
    let code: number;
    if (data instanceof Uint8Array) {
      code = await this.sh(script, data);
    } else {
      const exec = await this.runtime.exec(this.containerId, { argv: ["sh", "-c", script], stdin: true });
      exec.stdout.resume();
      exec.stderr.resume();
      const stdin = exec.stdin as NonNullable<typeof exec.stdin>;
      for await (const chunk of data) {
        if (!stdin.write(Buffer.from(chunk))) await new Promise((r) => stdin.once("drain", r));
      }
      stdin.end();
      code = await exec.wait();
    }
    if (code !== 0) throw new Error(`writing ${path} failed with exit code ${code}`);
  }

  async readFile(path: string, options: ReadFileOptions = {}): Promise<Uint8Array | undefined> {
    // 44: no such file, so that a missing file is told from a failing read.
    const max = options.maxBytes ?? 0;
    const exec = await this.execWhole("", "sandboxd-read", [
      "sh",
      "-c",
      '[ -e "$1" ] || exit 44; [ "$2" = 0 ] || [ "$(wc -c < "$1")" -le "$2" ] || exit 45; exec cat -- "$1"',
      "sandboxd-read",
      path,
      String(max),
    ]);
    const chunks: Buffer[] = [];
    exec.stdout.on("data", (c: Buffer) => chunks.push(c));
    exec.stderr.resume();
    const code = await exec.wait();
    if (code === 44) return undefined;
    if (code === 45) throw new Error(`${path} is larger than ${max} bytes`);
    if (code !== 0) throw new Error(`reading ${path} failed with exit code ${code}`);
    return Buffer.concat(chunks);
  }

  /**
   * An exec of `sh -c '<prefix><run "$@">' arg0 argv...` whose output is whole before its
   * exit: where the runtime may cut an exec's tail (Kubernetes), the shell ends both streams
   * with a trailer and exits once told it arrived (`output-trailer.ts`). Elsewhere it execs
   * the program. Either way the shell's pid is the program's process group.
   */
  private async execWhole(prefix: string, arg0: string, argv: string[], options: Omit<ExecOptions, "argv"> = {}): Promise<ExecSession> {
    const trailer = this.runtime.execMayCutOutput ? outputTrailer() : undefined;
    const script = `${prefix}${trailer ? trailer.script : 'exec "$@"'}`;
    const exec = await this.runtime.exec(this.containerId, { ...options, argv: ["sh", "-c", script, arg0, ...argv] });
    if (!trailer) return exec;
    // Acknowledged once, when both streams showed the trailer (a background child may still
    // write after it on one of them).
    const scanners: TrailerScanner[] = [];
    let acked = false;
    const strip = (from: Readable): PassThrough => {
      const to = new PassThrough();
      const scanner = new TrailerScanner(trailer.mark);
      scanners.push(scanner);
      from.on("data", (chunk: Buffer) => {
        const data = scanner.push(chunk);
        if (data.length > 0 && !to.write(data)) {
          from.pause();
          to.once("drain", () => from.resume());
        }
        if (!acked && scanners.every((s) => s.done)) {
          acked = true;
          const failed = (why: unknown) => this.log.warn({ why: describeError(why) }, "acknowledging a run's output failed");
          this.sh(`touch ${trailer.ackFile}`).then((code) => {
            if (code !== 0) failed(`exit code ${code}`);
          }, failed);
        }
      });
      from.once("end", () => to.end(scanner.end()));
      from.once("error", (err) => to.destroy(err));
      return to;
    };
    return { stdin: exec.stdin, stdout: strip(exec.stdout), stderr: strip(exec.stderr), wait: () => exec.wait(), destroy: () => exec.destroy() };
  }

  async start(spec: ProcessSpec): Promise<RunningProcess> {
    for (const f of spec.files ?? []) await this.writeFile(f.path, f.data, f.mode);
    const pidFile = `/tmp/.sandboxd-run-${randomBytes(6).toString("hex")}.pid`;
    // An engine exec's process leads its own process group (runc and crun make it one), so
    // its pid is the group to kill; the pid file tells later signal execs which it is.
    const keepOpen = spec.keepStdinOpen === true;
    const hasStdin = keepOpen || (spec.stdin !== undefined && spec.stdin.byteLength > 0);
    const options: Omit<ExecOptions, "argv"> = { stdin: hasStdin };
    if (spec.env) options.env = spec.env;
    if (spec.cwd) options.workdir = spec.cwd;
    const exec = await this.execWhole('echo $$ > "$0"; ', pidFile, spec.argv, options);
    const queue = new AsyncQueue<ProcessEvent>();
    /** Stdin writers waiting for the engine stream to drain; woken when the process ended. */
    const ended = new Set<() => void>();
    let exited = false;
    const started = Date.now();
    let outcome: ExitKind | undefined;
    let total = 0;
    let truncated = false;
    const counts = { stdout: 0, stderr: 0 };
    // Flow control: the engine streams are paused at the credit window; the demuxer then
    // stops reading the exec connection, so the engine (and the program) block on write.
    const window = spec.creditWindowBytes ?? 0;
    let unacked = 0;
    let paused = false;
    let ending = false;
    const flow = () => {
      const hold = window > 0 && unacked >= window && outcome === undefined && !ending && !(spec.maxOutputBytes > 0 && total >= spec.maxOutputBytes);
      if (hold === paused) return;
      paused = hold;
      for (const s of [exec.stdout, exec.stderr]) {
        if (hold) s.pause();
        else s.resume();
      }
    };
    const forward = (type: "stdout" | "stderr") => (chunk: Buffer) => {
      let data = chunk;
      if (spec.maxOutputBytes > 0) {
        const room = spec.maxOutputBytes - total;
        if (room <= 0) {
          truncated = true;
          return;
        }
        if (data.length > room) {
          data = data.subarray(0, room);
          truncated = true;
        }
      }
      total += data.length;
      counts[type] += data.length;
      unacked += data.length;
      queue.push({ type, data });
      flow();
    };
    exec.stdout.on("data", forward("stdout"));
    exec.stderr.on("data", forward("stderr"));
    queue.push({ type: "started", pid: 0 });
    if (spec.stdin && spec.stdin.byteLength > 0) exec.stdin?.write(Buffer.from(spec.stdin));
    if (hasStdin && !keepOpen) exec.stdin?.end();

    const killTree = (signal: string) =>
      this.sh(
        `pg=$(cat ${pidFile} 2>/dev/null) && { kill -s ${signal.replace(/^SIG/, "")} -- -$pg 2>/dev/null || kill -s ${signal.replace(/^SIG/, "")} $pg 2>/dev/null; }; true`,
      ).catch((err: unknown) => this.log.warn({ err: describeError(err) }, "signalling a run failed"));
    const timer =
      spec.timeoutMs > 0
        ? setTimeout(() => {
            outcome ??= "timeout";
            flow();
            void killTree("SIGKILL");
          }, spec.timeoutMs)
        : undefined;

    void exec
      .wait()
      .then(async (code) => {
        // What the paused streams still hold is output of this run: it comes before the exit.
        ending = true;
        flow();
        await Promise.all([finished(exec.stdout), finished(exec.stderr)]).catch(() => {});
        return code;
      })
      .then(
        (code) => {
          let kind: ExitKind = "exited";
          let signal = 0;
          let exitCode = code;
          if (code > 128 && code - 128 <= 64) {
            kind = "killed";
            signal = code - 128;
            exitCode = 0;
          }
          // The deadline or a cancel killed it: that is how it ended, whatever the code says.
          if (outcome !== undefined) {
            kind = outcome;
            if (signal === 0) signal = 9;
          }
          queue.push({
            type: "exit",
            exit: {
              kind,
              exitCode,
              signal,
              durationMs: Date.now() - started,
              stdoutBytes: counts.stdout,
              stderrBytes: counts.stderr,
              truncated,
            },
          });
        },
        (err: unknown) => queue.push({ type: "exit", exit: lostExit(describeError(err)) }),
      )
      .finally(() => {
        exited = true;
        for (const w of [...ended]) w();
        if (timer) clearTimeout(timer);
        queue.end();
        void this.sh(`rm -f ${pidFile}`).catch(() => {});
      });

    return {
      [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
      writeStdin: (data) => {
        const stdin = exec.stdin;
        if (!stdin || stdin.destroyed || stdin.writableEnded) return Promise.resolve();
        // The engine stream's own backpressure: past the window, wait for it to drain (or the
        // process to end, which ends its stdin).
        if (stdin.write(Buffer.from(data)) || stdin.writableLength <= stdinWindow || exited) return Promise.resolve();
        return new Promise<void>((resolve) => {
          const done = () => {
            stdin.removeListener("drain", done);
            stdin.removeListener("close", done);
            ended.delete(done);
            resolve();
          };
          stdin.once("drain", done);
          stdin.once("close", done);
          ended.add(done);
        });
      },
      closeStdin: () => {
        if (exec.stdin && !exec.stdin.writableEnded) exec.stdin.end();
      },
      signal: (name) => {
        if (name in signalNames) void killTree(name);
      },
      kill: (reason) => {
        outcome ??= reason;
        flow();
        void killTree("SIGKILL");
      },
      ack: (bytes) => {
        unacked = Math.max(0, unacked - bytes);
        flow();
      },
    };
  }

  async close(): Promise<void> {}
}

/** Single-quotes a string for POSIX sh. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
