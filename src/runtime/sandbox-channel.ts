import type { ProcessSpec, RunningProcess } from "./process.js";

/** Bytes of a file to write: all at once, or streamed (a large upload). */
export type FileContent = Uint8Array | AsyncIterable<Uint8Array>;

export interface ReadFileOptions {
  /** Refuse (reject) a file larger than this; 0: no limit. */
  maxBytes?: number;
}

/**
 * The one way into a sandbox: every process started in it (with its streams, signals and
 * stdin), every file written into it or read out of it goes through its channel. Two
 * implementations: the resident agent (src/runtime/agent-runner.ts: one long-lived exec,
 * binary frames, per-run and per-read credit windows) and the engine-exec fallback
 * (src/runtime/exec-runner.ts: one exec per run, sh for files) for images without python3.
 * A backend only has to provide a way to open one of them.
 */
/** Bytes used under one writable path (see SandboxUsage in the proto). */
export interface PathUsage {
  path: string;
  usedBytes: number;
  /** The mount's size when the path is a mount of its own; 0 otherwise. */
  totalBytes: number;
}

/** The sandbox's resource use as its agent read it from inside (its cgroup). */
export interface UsageSample {
  memoryBytes: number;
  /** 0 where the kernel keeps no peak. */
  memoryPeakBytes: number;
  /** 0: no limit. */
  memoryLimitBytes: number;
  cpuTimeMs: number;
  processes: number;
  processesLimit: number;
  paths: PathUsage[];
}

/** A change under a watched path, as the agent's inotify saw it (see FileEvent in the proto). */
export interface FileChange {
  type: "create" | "write" | "remove" | "rename" | "overflow";
  /** Absolute path inside the sandbox (for rename: the new one). */
  path: string;
  /** rename: the path before. */
  oldPath?: string;
  isDir: boolean;
  message?: string;
}

/** A file watch in progress: its changes until stop() (or the channel's end). */
export interface FileWatchHandle {
  changes: AsyncIterable<FileChange>;
  stop(): void;
}

export interface SandboxChannel {
  readonly kind: "agent" | "exec";
  /** False once the channel died; the sandbox then opens a new one. */
  readonly alive: boolean;
  /**
   * Run ids that were live when this sandbox's previous agent lost its daemon (kill -9):
   * their processes were ended with that channel.
   */
  readonly lostRuns: readonly string[];
  start(spec: ProcessSpec): Promise<RunningProcess>;
  /** Writes a file (parents created), replacing what was there. */
  writeFile(path: string, data: FileContent, mode: number): Promise<void>;
  /** The file's bytes, or undefined when it does not exist. */
  readFile(path: string, options?: ReadFileOptions): Promise<Uint8Array | undefined>;
  /** The sandbox's usage now, with the used bytes of these paths; absent where the channel cannot measure it. */
  usage?(paths: readonly string[]): Promise<UsageSample>;
  /** Watches a path (absolute) for changes; undefined when it does not exist. Absent where the channel cannot watch. */
  watchFiles?(path: string, recursive: boolean): Promise<FileWatchHandle | undefined>;
  close(): Promise<void>;
}
