/**
 * @sandboxd/client: sandboxes on a sandboxd daemon from TypeScript.
 *
 * Streams are async iterables, every call takes an AbortSignal, sandboxes and sessions
 * are AsyncDisposable (`await using`), and failures are SandboxdError with the gRPC code
 * and the daemon's reason.
 */
export { createClient, SandboxdClient, Sandbox, Session } from "./client.js";
export type {
  ClientOptions,
  RunOptions,
  ExecOptions,
  TransferOptions,
  WatchFilesOptions,
  SandboxSpec,
  SessionSettings,
  PoolOptions,
  PoolSettings,
  AcquireOptions,
  BuildImageOptions,
  BuiltImage,
  Dockerfile,
} from "./client.js";
export { Code, SandboxdError, toSandboxdError } from "./errors.js";
export type { Severity, Violation } from "./errors.js";
export { Execution, RunCollector } from "./run.js";
export { ExecuteStream } from "./execute.js";
export { Terminal } from "./terminal.js";
export type { TerminalOptions, AttachTerminalOptions, TerminalExit } from "./terminal.js";
export type { CellInput, CellEvent, ExecuteOptions } from "./execute.js";
export type { RunResult, ExitStatusName, OutputCallbacks } from "./run.js";
export type { CallOptions, BidiCall } from "./transport.js";
export { Transport } from "./transport.js";
export * as pb from "./proto.js";
