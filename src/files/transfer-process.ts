import type { ProcessExit, RunningProcess } from "../runtime/process.js";
import type { SandboxChannel } from "../runtime/sandbox-channel.js";

/** The sandbox a transfer reads from or writes into: its channel, and its workdir. */
export interface TransferTarget {
  channel: SandboxChannel;
  workdir: string;
}

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Text kept of a script's stdout (uploads) and stderr: its one result line, its errors. */
const maxReport = 8 * 1024;
/**
 * Output bytes the channel sends ahead of what a transfer consumed (a download's pace is the
 * client's): the same window as a run's (creditWindowBytes in run-manager.ts).
 */
const creditWindow = 1024 * 1024;
/** Grace a cancelled upload's script gets to remove what it staged before it is killed. */
const cleanupGraceMs = 10_000;

/** The exit status a shell would report: a signal's is 128+N, a lost channel's -1. */
function exitStatus(exit: ProcessExit): number {
  if (exit.kind === "exited") return exit.exitCode;
  if (exit.kind === "lost") return -1;
  return exit.signal > 0 ? 128 + exit.signal : -1;
}

function appendText(text: string, data: Uint8Array): string {
  if (text.length >= maxReport) return text;
  return text + Buffer.from(data.buffer, data.byteOffset, Math.min(data.byteLength, maxReport - text.length)).toString("utf8");
}

/**
 * One transfer script (transfer-scripts.ts) running through the sandbox's channel, like any
 * other process: `sh -c <script> sandboxd-transfer <workdir> <args...>`, no deadline, no
 * output cap, a credit window. An upload feeds its stdin with `write` (flow-controlled by the
 * channel's stdin window) and lets `drain` read its small output; a download reads `stdout`.
 */
export class TransferProcess {
  private stdoutText = "";
  private stderrText = "";
  private exited = false;
  private stdinOpen: boolean;
  private resolveFinished!: (r: ScriptResult) => void;
  /** Resolves once the script exited: its exit status, its stdout (drain only) and stderr. */
  readonly finished = new Promise<ScriptResult>((resolve) => (this.resolveFinished = resolve));

  private constructor(
    private readonly proc: RunningProcess,
    stdin: boolean,
  ) {
    this.stdinOpen = stdin;
  }

  static async start(target: TransferTarget, script: string, args: string[], stdin: boolean): Promise<TransferProcess> {
    const proc = await target.channel.start({
      argv: ["sh", "-c", script, "sandboxd-transfer", target.workdir, ...args],
      keepStdinOpen: stdin,
      timeoutMs: 0,
      maxOutputBytes: 0,
      creditWindowBytes: creditWindow,
    });
    return new TransferProcess(proc, stdin);
  }

  private onExit(exit: ProcessExit): void {
    this.exited = true;
    if (exit.message) this.stderrText = appendText(this.stderrText, Buffer.from(exit.message));
    this.resolveFinished({ code: exitStatus(exit), stdout: this.stdoutText, stderr: this.stderrText });
  }

  /** Reads every event in the background, keeping the start of stdout and stderr (uploads). */
  drain(): void {
    void (async () => {
      for await (const ev of this.proc) {
        if (ev.type === "stdout") this.stdoutText = appendText(this.stdoutText, ev.data);
        else if (ev.type === "stderr") this.stderrText = appendText(this.stderrText, ev.data);
        else if (ev.type === "exit") this.onExit(ev.exit);
        if (ev.type === "stdout" || ev.type === "stderr") this.proc.ack(ev.data.byteLength);
      }
    })();
  }

  /**
   * The script's stdout as it comes (downloads). A chunk is acknowledged when the next one is
   * asked for, so the channel sends at most a window ahead of the caller.
   */
  async *stdout(): AsyncGenerator<Buffer> {
    for await (const ev of this.proc) {
      if (ev.type === "stdout") {
        yield Buffer.from(ev.data.buffer, ev.data.byteOffset, ev.data.byteLength);
        this.proc.ack(ev.data.byteLength);
      } else if (ev.type === "stderr") {
        this.stderrText = appendText(this.stderrText, ev.data);
        this.proc.ack(ev.data.byteLength);
      } else if (ev.type === "exit") this.onExit(ev.exit);
    }
  }

  /**
   * Writes into the script's stdin with backpressure: resolves when the channel has room
   * for more, false as soon as the script is gone (it stopped reading, e.g. refused the path).
   */
  async write(chunk: Uint8Array): Promise<boolean> {
    if (this.exited || !this.stdinOpen) return false;
    await this.proc.writeStdin(chunk);
    return !this.exited;
  }

  endStdin(): void {
    if (!this.stdinOpen) return;
    this.stdinOpen = false;
    this.proc.closeStdin();
  }

  kill(): void {
    if (!this.exited) this.proc.kill("cancelled");
  }

  /**
   * Waits for the script. When the call was cancelled the script still gets a moment to see
   * its stdin end without the commit token and clean up; then it is killed.
   */
  async result(signal: AbortSignal): Promise<ScriptResult> {
    let timer: NodeJS.Timeout | undefined;
    const cutOff = () => {
      timer ??= setTimeout(() => this.kill(), cleanupGraceMs);
    };
    if (signal.aborted) cutOff();
    signal.addEventListener("abort", cutOff, { once: true });
    try {
      return await this.finished;
    } finally {
      signal.removeEventListener("abort", cutOff);
      if (timer) clearTimeout(timer);
    }
  }
}
