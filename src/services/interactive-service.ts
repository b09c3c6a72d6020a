import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AsyncQueue } from "../common/async-queue.js";
import { invalidArgument } from "../common/errors.js";
import type { Config } from "../config/config.js";
import {
  InteractiveService,
  SessionKind,
  SessionState,
  type ExecuteRequest,
  type ExecuteResponseSchema,
  type HistoryEntrySchema,
  type SessionSchema,
} from "../gen/sandboxd/v1/interactive_service_pb.js";
import type { CallContext, ServiceImpl } from "../rpc/grpc-adapter.js";
import type { Cell, HistoryEntry, Session } from "../interactive/session.js";
import type { OpenSessionRequest, SessionManager } from "../interactive/session-manager.js";
import type { RunPipeline } from "../sandbox/run-pipeline.js";
import { exitStatusToProto, keepaliveEvent, runEventToProto, sandboxRequestFromProto } from "./convert.js";
import { withKeepalive } from "./streams.js";

type Methods = typeof InteractiveService extends GenService<infer M extends GenServiceMethods> ? M : never;

export interface InteractiveServiceDeps {
  config: Config;
  sessions: SessionManager;
  /** Admits each cell (limits, the sandbox's security policy) before it runs. */
  pipeline: RunPipeline;
}

const states = { idle: SessionState.IDLE, busy: SessionState.BUSY, closed: SessionState.CLOSED } as const;

function sessionToProto(s: Session): MessageInitShape<typeof SessionSchema> {
  return {
    id: s.id,
    sandboxId: s.sandbox.id,
    kind: s.kind === "shell" ? SessionKind.SHELL : SessionKind.IPYTHON,
    shell: s.shell,
    state: states[s.state],
    settings: {
      cellTimeoutMs: s.settings.cellTimeoutMs,
      historySize: s.settings.historySize,
      memoryLimitBytes: BigInt(s.settings.memoryLimitBytes),
      idleTimeoutMs: s.settings.idleTimeoutMs,
    },
    executionCount: s.executionCount,
    createdAt: timestampFromDate(s.createdAt),
    ownsSandbox: s.ownsSandbox,
  };
}

function historyToProto(h: HistoryEntry): MessageInitShape<typeof HistoryEntrySchema> {
  return {
    cellId: h.cellId,
    code: h.code,
    executionCount: h.executionCount,
    status: exitStatusToProto(h.status),
    exitCode: h.exitCode,
    ...(h.error ? { error: h.error } : {}),
    startedAt: timestampFromDate(h.startedAt),
    durationMs: h.durationMs,
  };
}

/**
 * InteractiveService: persistent IPython and shell sessions (see docs/interactive.md).
 * A client that goes away does not stop its cells: they run to their end (or timeout) and
 * their outcome stays in the history; Interrupt stops them.
 */
/** Cells are Python in IPython sessions and shell commands in shell sessions. */
function cellLanguage(session: { kind: string }): string {
  return session.kind === "shell" ? "bash" : "python";
}

export function createInteractiveService(deps: InteractiveServiceDeps): ServiceImpl<Methods> {
  const { config, sessions, pipeline } = deps;

  /** Streams one cell's events (with keepalives on quiet stretches) until its exit. */
  const followCell = (cell: Cell, ctx: CallContext) => withKeepalive(cell.run.follow(0, ctx.signal), config.keepaliveMs, () => null, ctx.signal);

  const impl: ServiceImpl<Methods> = {
    async createSession(req, ctx) {
      if (req.kind !== SessionKind.UNSPECIFIED && req.kind !== SessionKind.IPYTHON && req.kind !== SessionKind.SHELL) {
        throw invalidArgument(`unknown session kind ${req.kind}`);
      }
      const target: OpenSessionRequest["target"] =
        req.target.case === "sandboxId"
          ? { sandboxId: req.target.value }
          : req.target.case === "sandbox"
            ? { spec: sandboxRequestFromProto(req.target.value) }
            : undefined;
      const s = req.settings;
      const session = await sessions.open(
        ctx.tenant,
        {
          target,
          kind: req.kind === SessionKind.SHELL ? "shell" : "ipython",
          shell: req.shell,
          env: { ...req.env },
          settings: {
            cellTimeoutMs: s?.cellTimeoutMs ?? 0,
            historySize: s?.historySize ?? 0,
            memoryLimitBytes: Number(s?.memoryLimitBytes ?? 0n),
            idleTimeoutMs: s?.idleTimeoutMs ?? 0,
          },
        },
        ctx.signal,
      );
      return { session: sessionToProto(session) };
    },

    async *run(req, ctx) {
      const session = sessions.get(ctx.tenant, req.sessionId);
      await pipeline.admitCell(session.sandbox, cellLanguage(session), req.code, req.timeoutMs);
      const detach = session.attachStream();
      try {
        const cell = session.submit({ cellId: "", code: req.code, timeoutMs: req.timeoutMs, stdin: req.stdin });
        for await (const ev of followCell(cell, ctx)) yield { event: ev === null ? keepaliveEvent() : runEventToProto(ev) };
      } finally {
        detach();
      }
    },

    async *execute(reqs, ctx) {
      const it = reqs[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done) return;
      if (first.value.sessionId === "") throw invalidArgument("session_id is required on the first message");
      const session = sessions.get(ctx.tenant, first.value.sessionId);
      const detach = session.attachStream();
      // Cells are followed in the order they were sent; reading goes on meanwhile, so an
      // interrupt message reaches the running cell.
      const submitted = new AsyncQueue<Cell>();
      const handle = async (msg: ExecuteRequest) => {
        if (msg.sessionId !== "" && msg.sessionId !== session.id) throw invalidArgument(`this stream is bound to session ${session.id}, not ${msg.sessionId}`);
        switch (msg.message.case) {
          case "cell": {
            const c = msg.message.value;
            // A cell the policy refuses ends the stream with PERMISSION_DENIED; nothing of it runs.
            await pipeline.admitCell(session.sandbox, cellLanguage(session), c.code, c.timeoutMs);
            submitted.push(session.submit({ cellId: c.cellId, code: c.code, timeoutMs: c.timeoutMs, stdin: c.stdin }));
            return;
          }
          case "interrupt":
            session.interrupt(msg.message.value.cellId);
            return;
          default:
            session.touch();
        }
      };
      const reading = (async () => {
        await handle(first.value);
        for (let n = await it.next(); !n.done; n = await it.next()) await handle(n.value);
      })();
      // After the client half-closes, the queued cells finish, then the stream ends.
      reading.then(
        () => submitted.end(),
        (err: unknown) => submitted.fail(err),
      );
      async function* events(): AsyncGenerator<MessageInitShape<typeof ExecuteResponseSchema>> {
        for await (const cell of submitted) {
          for await (const ev of cell.run.follow(0, ctx.signal)) yield { cellId: cell.cellId, event: runEventToProto(ev) };
        }
      }
      try {
        yield* withKeepalive(events(), config.keepaliveMs, () => ({ cellId: "", event: keepaliveEvent() }), ctx.signal);
      } finally {
        detach();
      }
    },

    async interrupt(req, ctx) {
      const session = sessions.get(ctx.tenant, req.sessionId);
      return { interrupted: session.interrupt() };
    },

    async reset(req, ctx) {
      await sessions.get(ctx.tenant, req.sessionId).reset();
      return {};
    },

    async getHistory(req, ctx) {
      const session = sessions.get(ctx.tenant, req.sessionId);
      session.touch();
      return { entries: session.historyEntries(req.limit).map(historyToProto) };
    },

    async listSessions(req, ctx) {
      return { sessions: sessions.list(ctx.tenant, req.sandboxId).map(sessionToProto) };
    },

    async closeSession(req, ctx) {
      if (req.sessionId === "") throw invalidArgument("session_id is required");
      await sessions.close(ctx.tenant, req.sessionId);
      return {};
    },
  };
  return impl;
}
