/**
 * What a process started through a SandboxChannel (sandbox-channel.ts) is asked to be, and
 * what it reports. Services never know which channel ran it.
 */
export interface ProcessFile {
  path: string;
  data: Uint8Array;
  mode: number;
}

export interface ProcessSpec {
  argv: string[];
  /** Files written (parents created) just before the process starts. */
  files?: ProcessFile[];
  env?: Record<string, string>;
  cwd?: string;
  /** Bytes written to stdin at start. */
  stdin?: Uint8Array;
  /** Keep stdin open after the initial bytes (WriteInput feeds it); otherwise EOF follows. */
  keepStdinOpen?: boolean;
  /** Server-enforced deadline; 0 for none. The whole process group is killed when it fires. */
  timeoutMs: number;
  /** Output beyond this many bytes (both streams) is dropped and the exit says truncated. */
  maxOutputBytes: number;
  /** The daemon's run id: the agent records it while the process lives (see lostRuns). */
  runId?: string;
  /**
   * Flow control: at most this many output bytes not yet acknowledged with `ack()`; the
   * runner then stops reading the process's output, so it blocks on write. 0 or absent: none.
   */
  creditWindowBytes?: number;
  /**
   * The run's plot spool (the capture hook's SANDBOXD_CAPTURE_DIR): a channel that can watch
   * it reports each plot as a `captured` event while the process runs, before any output
   * the program wrote after it. Channels that cannot simply report none (the daemon then
   * collects the plots after the exit).
   */
  captureDir?: string;
  /**
   * A Python run the agent may fork from its fork server (a started interpreter with these
   * modules imported) instead of spawning; it spawns whatever is not eligible. Absent: spawned.
   */
  forkServer?: { preload: string[] };
  /**
   * A pseudo-terminal of this size for the process (its stdin, stdout and stderr, and its
   * controlling terminal): its output is all `stdout`. Only the agent channel has them.
   */
  pty?: { rows: number; cols: number };
}

/** A plot the capture hook wrote into the run's spool (a line of its manifest), as the agent saw it. */
export interface CapturedPlot {
  /** File name inside the spool directory. */
  name: string;
  format: string;
  width: number;
  height: number;
  dpi: number;
  size: number;
}

export type ExitKind = "exited" | "killed" | "timeout" | "oom" | "cancelled" | "lost";

export interface ProcessExit {
  kind: ExitKind;
  exitCode: number;
  signal: number;
  durationMs: number;
  stdoutBytes: number;
  stderrBytes: number;
  truncated: boolean;
  message?: string;
  /** The process tree's largest resident set and CPU time as its channel reaped it; absent where not measured. */
  peakMemoryBytes?: number;
  cpuTimeMs?: number;
}

/** The exit of a process whose channel died before it reported one (the exit is unknown). */
export function lostExit(message: string): ProcessExit {
  return { kind: "lost", exitCode: -1, signal: 0, durationMs: 0, stdoutBytes: 0, stderrBytes: 0, truncated: false, message };
}

export type ProcessEvent =
  | { type: "started"; pid: number }
  | { type: "stdout"; data: Uint8Array }
  | { type: "stderr"; data: Uint8Array }
  | { type: "captured"; plot: CapturedPlot }
  | { type: "exit"; exit: ProcessExit };

/**
 * Reads a short process to its end: its stdout and stderr as one text, in arrival order, and
 * its exit (undefined if the channel ended without one). For setup and install steps whose
 * output only goes into a log line or an error message; a run's output is streamed instead.
 */
export async function drainProcess(proc: AsyncIterable<ProcessEvent>): Promise<{ output: string; exit: ProcessExit | undefined }> {
  let output = "";
  let exit: ProcessExit | undefined;
  for await (const ev of proc) {
    if (ev.type === "stdout" || ev.type === "stderr") output += Buffer.from(ev.data).toString();
    else if (ev.type === "exit") exit = ev.exit;
  }
  return { output, exit };
}

/** A started process. Iterate for its events; the last one is always `exit`. */
export interface RunningProcess extends AsyncIterable<ProcessEvent> {
  /**
   * Queues bytes for the process's stdin. Resolves at once while less than the runner's stdin
   * window (1 MiB) is in flight (not yet written into the process's pipe), else once there is
   * room again; also once the process ended. Never rejects: callers that only feed small
   * messages may ignore it, bulk writers (uploads) await it.
   */
  writeStdin(data: Uint8Array): Promise<void>;
  closeStdin(): void;
  /** Sends a signal (by name, e.g. SIGINT) to the process group. */
  signal(name: string): void;
  /** Kills the whole process tree; the exit reports `reason`. */
  kill(reason: "cancelled" | "timeout"): void;
  /** Returns credit: `bytes` more of the output events were consumed (see creditWindowBytes). */
  ack(bytes: number): void;
  /** A terminal process's new window size (ProcessSpec.pty); absent where there are none. */
  resize?(rows: number, cols: number): void;
}

export const signalNames: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
  SIGCONT: 18,
  SIGSTOP: 19,
};
