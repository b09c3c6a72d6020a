import { PassThrough } from "node:stream";
import type { Duplex } from "node:stream";
import type Docker from "dockerode";
import { describeError, unavailable } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { ExecOptions, ExecSession } from "../container-runtime.js";

/** DockerRuntime's engine call: its timeout and error mapping. */
export type EngineCall = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

/**
 * One engine exec in `container` with separate stdout and stderr (demultiplexed with
 * backpressure), stdin when asked for (end() half-closes it), and its exit code.
 */
export async function startExec(container: Docker.Container, options: ExecOptions, call: EngineCall, log: Logger): Promise<ExecSession> {
  const createOpts: Docker.ExecCreateOptions = {
    Cmd: options.argv,
    AttachStdin: options.stdin === true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  };
  if (options.env) createOpts.Env = Object.entries(options.env).map(([k, v]) => `${k}=${v}`);
  if (options.workdir) createOpts.WorkingDir = options.workdir;
  const exec = await call(`exec in ${container.id}`, () => container.exec(createOpts));
  const stream = (await call(`exec start in ${container.id}`, () =>
    exec.start({ hijack: true, stdin: options.stdin === true, Detach: false, Tty: false }),
  )) as Duplex;
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  demuxWithBackpressure(stream, stdout, stderr);
  const ended = new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      stdout.end();
      stderr.end();
      resolve();
    };
    stream.once("end", finish);
    stream.once("close", finish);
    stream.once("error", (err) => {
      log.debug({ err: describeError(err), containerId: container.id }, "exec stream error");
      finish();
    });
  });
  let stdinClosed = false;
  const stdin = options.stdin === true ? new (class extends PassThrough {})() : null;
  if (stdin) {
    // Forward writes; end() half-closes the hijacked connection, which closes the
    // process's stdin while its output keeps flowing.
    stdin.on("data", (chunk: Buffer) => {
      // Backpressure: a full connection pauses stdin, so writers see write() === false.
      if (!stream.destroyed && !stream.write(chunk)) {
        stdin.pause();
        stream.once("drain", () => stdin.resume());
      }
    });
    stdin.on("end", () => {
      stdinClosed = true;
      if (!stream.destroyed) stream.end();
    });
  }
  const wait = async (): Promise<number> => {
    await ended;
    for (let attempt = 0; attempt < 50; attempt++) {
      const info = await call(`exec inspect in ${container.id}`, () => exec.inspect());
      if (!info.Running && info.ExitCode !== null) return info.ExitCode;
      await new Promise((r) => setTimeout(r, 10 + attempt * 5));
    }
    throw unavailable(`exec in ${container.id} did not report an exit code`);
  };
  return {
    stdin,
    stdout,
    stderr,
    wait,
    destroy: () => {
      if (!stdinClosed) stdin?.destroy();
      stream.destroy();
    },
  };
}

/**
 * Splits the engine's multiplexed exec stream (8-byte frame headers) into stdout and
 * stderr. Unlike dockerode's demuxStream it honours backpressure: while either side is
 * full the connection is paused, so a slow reader slows the process instead of filling
 * the daemon's memory. Readers that attach 'data' listeners never see a pause.
 */
function demuxWithBackpressure(source: Duplex, stdout: PassThrough, stderr: PassThrough): void {
  let header = Buffer.alloc(0);
  let kind = 1;
  let remaining = 0;
  const resume = () => {
    if (!stdout.writableNeedDrain && !stderr.writableNeedDrain) source.resume();
  };
  stdout.on("drain", resume);
  stderr.on("drain", resume);
  source.on("data", (chunk: Buffer) => {
    let buf = header.length > 0 ? Buffer.concat([header, chunk]) : chunk;
    header = Buffer.alloc(0);
    let off = 0;
    let full = false;
    while (off < buf.length) {
      if (remaining === 0) {
        if (buf.length - off < 8) {
          header = Buffer.from(buf.subarray(off));
          break;
        }
        kind = buf[off] === 2 ? 2 : 1;
        remaining = buf.readUInt32BE(off + 4);
        off += 8;
        continue;
      }
      const n = Math.min(remaining, buf.length - off);
      if (!(kind === 2 ? stderr : stdout).write(buf.subarray(off, off + n))) full = true;
      off += n;
      remaining -= n;
    }
    buf = Buffer.alloc(0);
    if (full) source.pause();
  });
}
