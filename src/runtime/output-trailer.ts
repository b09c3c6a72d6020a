import { randomBytes } from "node:crypto";

/**
 * Every byte before the exit, on runtimes whose exec may cut the tail of an exiting
 * process's output (`ContainerRuntime.execMayCutOutput`). The program runs under a shell
 * that, once it ended, prints a random trailer on stdout and on stderr and then waits for
 * an acknowledgement file before it exits. The trailer follows the program's last byte on
 * the same stream, so seeing it on both streams means nothing is missing; only then does
 * the caller write the acknowledgement, and only then can the exec end.
 */
export interface OutputTrailer {
  /** Written by the shell after the program; unguessable, so no program prints it by chance. */
  readonly mark: Buffer;
  /** The file whose creation lets the shell exit. */
  readonly ackFile: string;
  /**
   * A shell script running "$@" and then the trailer handshake; its exit status is the
   * program's (128+N when a signal killed it). The shell stays the process group's leader,
   * so killing the group ends the program and the shell alike (then no trailer comes).
   */
  readonly script: string;
}

/** Seconds the shell waits for the acknowledgement before it exits anyway (a daemon that died). */
const ackWaitSeconds = 120;

export function outputTrailer(): OutputTrailer {
  const nonce = randomBytes(16).toString("hex");
  const mark = Buffer.from(`\x1esandboxd-end-${nonce}\x1e`);
  const ackFile = `/tmp/.sandboxd-ack-${nonce}`;
  const script =
    `"$@"; rc=$?; printf '%s' '${mark.toString()}'; printf '%s' '${mark.toString()}' >&2; ` +
    `i=0; while [ ! -e ${ackFile} ] && [ $i -lt ${ackWaitSeconds * 20} ]; do sleep 0.05; i=$((i+1)); done; ` +
    `rm -f ${ackFile}; exit $rc`;
  return { mark, ackFile, script };
}

/**
 * Finds the trailer in one stream. push() returns the output to pass on: all of it, except
 * a tail that could be the start of the trailer (held until the next chunk tells), and
 * nothing from the trailer on. end() returns what was held (the stream ended without one).
 */
export class TrailerScanner {
  private held = Buffer.alloc(0);
  private found = false;

  constructor(private readonly mark: Buffer) {}

  get done(): boolean {
    return this.found;
  }

  push(chunk: Buffer): Buffer {
    if (this.found) return Buffer.alloc(0);
    const data = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const at = data.indexOf(this.mark);
    if (at >= 0) {
      this.found = true;
      this.held = Buffer.alloc(0);
      return data.subarray(0, at);
    }
    const keep = this.partialMarkAtEnd(data);
    this.held = Buffer.from(data.subarray(data.length - keep));
    return data.subarray(0, data.length - keep);
  }

  end(): Buffer {
    const rest = this.held;
    this.held = Buffer.alloc(0);
    return rest;
  }

  /** The length of the longest suffix of data that is a proper prefix of the mark. */
  private partialMarkAtEnd(data: Buffer): number {
    const max = Math.min(this.mark.length - 1, data.length);
    for (let n = max; n > 0; n--) {
      if (data.subarray(data.length - n).equals(this.mark.subarray(0, n))) return n;
    }
    return 0;
  }
}
