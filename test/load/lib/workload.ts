import { ExitStatus, type RunEvent } from "../../../src/gen/sandboxd/v1/common_pb.js";
import { SessionKind } from "../../../src/gen/sandboxd/v1/interactive_service_pb.js";
import { TransferKind } from "../../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { interactiveClient, sandboxClient, type InteractiveClient, type SandboxClient } from "../../../bench/lib/client.js";
import { describe, grpcCode, GrpcCode, isUnimplemented } from "../../../bench/lib/grpc-errors.js";
import { summarize, type Summary } from "../../../bench/lib/stats.js";
import { cellProgram, pythonProgram, shellProgram } from "./programs.js";
import { Random } from "./random.js";
import { checkRunEvents, drain, sha256 } from "./verify.js";

export type OpName = "run" | "exec" | "cell" | "transfer" | "provoked" | "ephemeral";

export const defaultWeights: Record<OpName, number> = { run: 30, exec: 35, cell: 12, transfer: 12, provoked: 6, ephemeral: 1 };

export interface SessionRef {
  id: string;
  sandboxId: string;
  /** Cells run so far in this session (the next cell's counter is this + 1). */
  count: number;
  /** Cells of one session are sent one after another, so the counter is known. */
  lock: Promise<void>;
}

export interface Fleet {
  sandboxes: string[];
  sessions: SessionRef[];
  interactive: boolean;
  transfers: boolean;
  notes: string[];
}

/** An unexpected outcome: a wrong byte, a wrong status, an error nobody provoked. */
class Failure extends Error {}

/**
 * Creates `count` python sandboxes (a few at a time), probes which optional services the
 * daemon has (interactive sessions, file transfers) and opens `sessionCount` IPython sessions.
 */
export async function createFleet(address: string, count: number, sessionCount: number, labels: Record<string, string> = {}): Promise<Fleet> {
  const admin = sandboxClient(address);
  const ia = interactiveClient(address);
  const notes: string[] = [];
  try {
    const sandboxes: string[] = [];
    for (let i = 0; i < count; i += 4) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(4, count - i) }, async () => {
          const { sandbox } = await admin.createSandbox({ spec: { language: "python", labels } });
          if (!sandbox) throw new Error("CreateSandbox returned no sandbox");
          await drain(admin.exec({ sandboxId: sandbox.id, argv: ["true"] }));
          return sandbox.id;
        }),
      );
      sandboxes.push(...batch);
    }
    let transfers = true;
    try {
      await admin.uploadFiles([
        { message: { case: "header", value: { sandboxId: sandboxes[0] as string, path: "probe.bin", kind: TransferKind.FILE, mode: 0o644 } } },
        { message: { case: "chunk", value: Buffer.from("probe") } },
      ]);
    } catch (err) {
      if (!isUnimplemented(err)) throw err;
      transfers = false;
      notes.push(`file transfers skipped: UploadFiles is not implemented (${describe(err)})`);
    }
    const sessions: SessionRef[] = [];
    let interactive = sessionCount > 0;
    for (let i = 0; i < sessionCount && interactive; i++) {
      try {
        const sandboxId = sandboxes[i % sandboxes.length] as string;
        const res = await ia.createSession({ target: { case: "sandboxId", value: sandboxId }, kind: SessionKind.IPYTHON });
        sessions.push({ id: res.session?.id ?? "", sandboxId, count: 0, lock: Promise.resolve() });
      } catch (err) {
        if (!isUnimplemented(err)) throw err;
        interactive = false;
        notes.push(`interactive cells skipped: InteractiveService is not implemented (${describe(err)})`);
      }
    }
    return { sandboxes, sessions, interactive, transfers, notes };
  } finally {
    admin.close();
    ia.close();
  }
}

/** Closes the sessions and destroys the sandboxes of a fleet. */
export async function destroyFleet(address: string, fleet: Fleet): Promise<void> {
  const admin = sandboxClient(address);
  const ia = interactiveClient(address);
  try {
    await Promise.all(fleet.sessions.map((s) => ia.closeSession({ sessionId: s.id }).catch(() => {})));
    await Promise.all(fleet.sandboxes.map((id) => admin.destroySandbox({ sandboxId: id })));
  } finally {
    admin.close();
    ia.close();
  }
}

interface OpStats {
  latencies: number[];
  ok: number;
  failed: number;
  provoked: number;
}

export interface WorkloadReport {
  durationMs: number;
  clients: number;
  weights: Partial<Record<OpName, number>>;
  totalOps: number;
  opsPerSecond: number;
  failedOps: number;
  provokedErrors: number;
  verifiedBytes: number;
  latency_ms: Summary;
  ops: Record<string, { ok: number; failed: number; provoked: number; latency_ms: Summary }>;
  failures: string[];
}

export interface WorkloadOptions {
  address: string;
  fleet: Fleet;
  clients: number;
  durationMs: number;
  seed: number;
  weights?: Partial<Record<OpName, number>>;
  /** Deadline of each call; a call hanging this long is a failure. */
  callTimeoutMs?: number;
  /** Stop early when this signal fires. */
  signal?: AbortSignal;
}

/**
 * Runs `clients` closed-loop clients (each its own connection) for `durationMs`, each doing
 * a seeded random mix of operations on random sandboxes of the fleet, and checks every byte
 * of every result. Bounded: every loop stops at the deadline.
 */
export async function runWorkload(o: WorkloadOptions): Promise<WorkloadReport> {
  const weights: Partial<Record<OpName, number>> = { ...defaultWeights, ...o.weights };
  if (!o.fleet.interactive || o.fleet.sessions.length === 0) delete weights.cell;
  if (!o.fleet.transfers) delete weights.transfer;
  const callTimeoutMs = o.callTimeoutMs ?? 60_000;
  const stats = new Map<OpName, OpStats>();
  const failures: string[] = [];
  let verifiedBytes = 0;
  const t0 = Date.now();
  const end = t0 + o.durationMs;

  const record = (op: OpName, ms: number, outcome: "ok" | "failed" | "provoked") => {
    let s = stats.get(op);
    if (!s) stats.set(op, (s = { latencies: [], ok: 0, failed: 0, provoked: 0 }));
    s.latencies.push(ms);
    if (outcome === "ok") s.ok++;
    else if (outcome === "failed") s.failed++;
    else {
      s.ok++;
      s.provoked++;
    }
  };
  const fail = (op: OpName, what: string) => {
    if (failures.length < 50) failures.push(`${new Date().toISOString()} ${op}: ${what}`);
  };

  const verify = (op: OpName, events: RunEvent[], want: Parameters<typeof checkRunEvents>[1]) => {
    const check = checkRunEvents(events, want);
    if (check.problems.length) throw new Failure(check.problems.slice(0, 4).join("; "));
    verifiedBytes += check.stdoutBytes + check.stderrBytes;
  };

  const client = async (index: number) => {
    const rnd = new Random(o.seed * 1000 + index);
    const sb = sandboxClient(o.address, { ownConnection: true });
    const ia = o.fleet.interactive ? interactiveClient(o.address, { ownConnection: true }) : undefined;
    const call = { deadlineMs: callTimeoutMs };
    const ops: Record<OpName, () => Promise<"ok" | "provoked">> = {
      run: async () => {
        const seed = rnd.int(1, 1_000_000);
        const exitCode = rnd.next() < 0.1 ? rnd.int(1, 9) : 0;
        const p = pythonProgram(seed, rnd.int(0, 300), rnd.next() < 0.2 ? rnd.int(1, 1024) * 256 : 0, exitCode);
        const events = await drain(sb.run({ sandboxId: rnd.pick(o.fleet.sandboxes), code: p.code }, call));
        verify("run", events, { stdout: p.stdout, stderr: p.stderr, status: ExitStatus.EXITED, exitCode });
        return "ok";
      },
      exec: async () => {
        const exitCode = rnd.next() < 0.1 ? rnd.int(1, 9) : 0;
        const p = shellProgram(rnd.int(1, 1_000_000), rnd.int(0, 400), exitCode);
        const events = await drain(sb.exec({ sandboxId: rnd.pick(o.fleet.sandboxes), shell: p.shell }, call));
        verify("exec", events, { stdout: p.stdout, stderr: p.stderr, status: ExitStatus.EXITED, exitCode });
        return "ok";
      },
      cell: async () => {
        const session = rnd.pick(o.fleet.sessions);
        const lines = rnd.int(0, 200);
        const seed = rnd.int(1, 1_000_000);
        const previous = session.lock;
        let release!: () => void;
        session.lock = new Promise((r) => (release = r));
        await previous;
        try {
          const p = cellProgram(seed, lines, session.count + 1);
          const events = await drain((ia as InteractiveClient).run({ sessionId: session.id, code: p.code }, call));
          session.count++;
          verify("cell", events, { stdout: p.stdout, stderr: Buffer.alloc(0), status: ExitStatus.EXITED, startedFirst: false });
        } finally {
          release();
        }
        return "ok";
      },
      transfer: async () => {
        const sandboxId = rnd.pick(o.fleet.sandboxes);
        // One file per client per sandbox, overwritten each time: bounded disk use.
        const path = `load-c${index}.bin`;
        const data = rnd.bytes(rnd.int(1, 1024) * 1024 - rnd.int(0, 1023));
        const chunks: { message: { case: "chunk"; value: Buffer } }[] = [];
        for (let off = 0; off < data.length; off += 64 * 1024) chunks.push({ message: { case: "chunk", value: data.subarray(off, off + 64 * 1024) } });
        const up = await sb.uploadFiles([{ message: { case: "header", value: { sandboxId, path, kind: TransferKind.FILE, mode: 0o644 } } }, ...chunks], call);
        if (Number(up.bytes) !== data.length || up.sha256 !== sha256(data))
          throw new Failure(`upload answered ${up.bytes} bytes sha256 ${up.sha256.slice(0, 12)}, sent ${data.length} (${sha256(data).slice(0, 12)})`);
        const got: Buffer[] = [];
        let trailer: { bytes: bigint; sha256: string } | undefined;
        for await (const m of sb.downloadFiles({ sandboxId, path, kind: TransferKind.FILE }, call)) {
          if (m.message.case === "chunk") got.push(Buffer.from(m.message.value));
          if (m.message.case === "trailer") trailer = m.message.value;
        }
        const back = Buffer.concat(got);
        if (!back.equals(data)) throw new Failure(`downloaded ${back.length} bytes differ from the ${data.length} uploaded`);
        if (!trailer || trailer.sha256 !== sha256(data) || Number(trailer.bytes) !== data.length)
          throw new Failure(`download trailer ${JSON.stringify(trailer && { bytes: String(trailer.bytes), sha256: trailer.sha256 })} does not match`);
        verifiedBytes += 2 * data.length;
        return "ok";
      },
      provoked: async () => {
        const kind = rnd.int(0, 3);
        if (kind === 0) {
          // A deadline: TIMEOUT, and whatever was printed before it intact. On a busy machine
          // the deadline may fire before python started, or between print's two writes
          // ("before", then "\n"), so any prefix of "before\n" is right.
          const events = await drain(
            sb.run({ sandboxId: rnd.pick(o.fleet.sandboxes), code: "import time\nprint('before', flush=True)\ntime.sleep(30)", timeoutMs: 500 }, call),
          );
          const printed = Buffer.concat(events.flatMap((e) => (e.event.case === "output" ? [Buffer.from(e.event.value.data)] : [])));
          const want = Buffer.from("before\n");
          verify("provoked", events, {
            stdout: want.subarray(0, printed.length).equals(printed) ? printed : want,
            stderr: Buffer.alloc(0),
            status: ExitStatus.TIMEOUT,
          });
          return "provoked";
        }
        const expectCode = async (what: string, code: number, fn: () => Promise<unknown>) => {
          try {
            await fn();
          } catch (err) {
            if (grpcCode(err) === code) return "provoked" as const;
            throw new Failure(`${what}: expected code ${code}, got ${describe(err)}`);
          }
          throw new Failure(`${what}: expected code ${code}, the call succeeded`);
        };
        if (kind === 1)
          return expectCode("Exec in a missing sandbox", GrpcCode.NOT_FOUND, () => drain(sb.exec({ sandboxId: "sbx_doesnotexist000", argv: ["true"] }, call)));
        if (kind === 2)
          return expectCode("Run with empty code", GrpcCode.INVALID_ARGUMENT, () =>
            drain(sb.run({ sandboxId: rnd.pick(o.fleet.sandboxes), code: "  " }, call)),
          );
        return expectCode("Attach to a missing run", GrpcCode.NOT_FOUND, () => drain(sb.attach({ runId: "run_doesnotexist000", offset: 0n }, call)));
      },
      ephemeral: async () => {
        const seed = rnd.int(1, 1_000_000);
        const p = pythonProgram(seed, rnd.int(1, 50), 0, 0);
        const events = await drain(sb.run({ language: "python", code: p.code }, call));
        verify("ephemeral", events, { stdout: p.stdout, stderr: p.stderr, status: ExitStatus.EXITED, exitCode: 0 });
        return "ok";
      },
    };
    try {
      while (Date.now() < end && !o.signal?.aborted) {
        const op = rnd.weighted(weights as Record<OpName, number>);
        const start = performance.now();
        try {
          const outcome = await ops[op]();
          record(op, performance.now() - start, outcome);
        } catch (err) {
          record(op, performance.now() - start, "failed");
          fail(op, err instanceof Failure ? err.message : `unexpected error ${describe(err)}`);
        }
      }
    } finally {
      sb.close();
      ia?.close();
    }
  };

  await Promise.all(Array.from({ length: o.clients }, (_, i) => client(i)));
  const durationMs = Date.now() - t0;
  const all: number[] = [];
  const ops: WorkloadReport["ops"] = {};
  let total = 0;
  let failed = 0;
  let provoked = 0;
  for (const [name, s] of stats) {
    all.push(...s.latencies);
    total += s.ok + s.failed;
    failed += s.failed;
    provoked += s.provoked;
    ops[name] = { ok: s.ok, failed: s.failed, provoked: s.provoked, latency_ms: summarize(s.latencies) };
  }
  return {
    durationMs,
    clients: o.clients,
    weights,
    totalOps: total,
    opsPerSecond: Number((total / (durationMs / 1000)).toFixed(1)),
    failedOps: failed,
    provokedErrors: provoked,
    verifiedBytes,
    latency_ms: summarize(all),
    ops,
    failures,
  };
}
