import { readFileSync } from "node:fs";

/**
 * The one table of frame kinds (frame-kinds.json), for the agent channel and the session
 * runners' protocol. The Python sides carry the same numbers as constants; a unit test
 * reads both, so that neither can drift.
 */
interface FrameKindTable {
  agent: Record<string, number>;
  runner: Record<string, number>;
}

export const frameKindTable = JSON.parse(readFileSync(new URL("./frame-kinds.json", import.meta.url), "utf8")) as FrameKindTable;

function kind(section: keyof FrameKindTable, name: string): number {
  const k = frameKindTable[section][name];
  if (k === undefined) throw new Error(`frame-kinds.json has no ${section}.${name}`);
  return k;
}

/** Kinds of the agent channel (daemon <-> resident agent). */
export const AgentFrame = {
  Start: kind("agent", "K_START"),
  Stdin: kind("agent", "K_STDIN"),
  StdinClose: kind("agent", "K_STDIN_CLOSE"),
  Signal: kind("agent", "K_SIGNAL"),
  Kill: kind("agent", "K_KILL"),
  Request: kind("agent", "K_REQUEST"),
  /** u32 bytes of a run's output (or a file read's chunks) the daemon consumed (flow control). */
  Credit: kind("agent", "K_CREDIT"),
  /** Opens a file for writing: JSON {path, mode}; FileData frames follow, then FileClose. */
  FileOpen: kind("agent", "K_FILE_OPEN"),
  /** Raw bytes of a file being written. */
  FileData: kind("agent", "K_FILE_DATA"),
  /** Ends a file write; the agent answers Result. */
  FileClose: kind("agent", "K_FILE_CLOSE"),
  /** Reads a file: JSON {path, max_bytes, credit_window}; FileChunk frames, then Result. */
  FileRead: kind("agent", "K_FILE_READ"),
  /** >HH rows, cols: a terminal run's new window size (TIOCSWINSZ; its foreground job gets SIGWINCH). */
  Resize: kind("agent", "K_RESIZE"),
  /** JSON {paths}: the sandbox's usage now; the agent answers UsageSample. */
  Usage: kind("agent", "K_USAGE"),
  Hello: kind("agent", "K_HELLO"),
  Started: kind("agent", "K_STARTED"),
  Stdout: kind("agent", "K_STDOUT"),
  Stderr: kind("agent", "K_STDERR"),
  Exit: kind("agent", "K_EXIT"),
  Result: kind("agent", "K_RESULT"),
  Log: kind("agent", "K_LOG"),
  /** Raw bytes of a file being read. */
  FileChunk: kind("agent", "K_FILE_CHUNK"),
  /** u32 bytes of a run's stdin the agent wrote into the process's pipe (or dropped): stdin flow control. */
  StdinCredit: kind("agent", "K_STDIN_CREDIT"),
  /** JSON {name, format, width, height, dpi, size}: a plot the run's capture hook wrote (ProcessSpec.captureDir). */
  Captured: kind("agent", "K_CAPTURED"),
  /** JSON: the sandbox's cgroup (memory, CPU, processes) and its writable paths' used bytes. */
  UsageSample: kind("agent", "K_USAGE_SAMPLE"),
  /** JSON {type, path, old_path, dir, message}: a change under a path watched with Request {op: "watch"}. */
  FileEvent: kind("agent", "K_FILE_EVENT"),
} as const;

/** Kinds of a session runner's protocol (daemon <-> runner, inside one run's stdio). */
export const RunnerFrame = {
  Execute: kind("runner", "K_EXECUTE"),
  Interrupt: kind("runner", "K_INTERRUPT"),
  Shutdown: kind("runner", "K_SHUTDOWN"),
  Hello: kind("runner", "K_HELLO"),
  Stdout: kind("runner", "K_STDOUT"),
  Stderr: kind("runner", "K_STDERR"),
  Display: kind("runner", "K_DISPLAY"),
  Result: kind("runner", "K_RESULT"),
  Error: kind("runner", "K_ERROR"),
  Done: kind("runner", "K_DONE"),
} as const;
