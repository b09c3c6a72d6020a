import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { invalidArgument } from "../common/errors.js";
import { TerminalService, type TerminalRequest, type TerminalResponseSchema } from "../gen/sandboxd/v1/terminal_service_pb.js";
import type { ServiceImpl } from "../rpc/grpc-adapter.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";
import { checkTerminalSize, type Terminal, type TerminalRegistry } from "../sandbox/terminals.js";
import { signalNames } from "../runtime/process.js";
import { exitStatusToProto } from "./convert.js";

type Methods = typeof TerminalService extends GenService<infer M extends GenServiceMethods> ? M : never;

export interface TerminalServiceDeps {
  sandboxes: SandboxManager;
  terminals: TerminalRegistry;
}

type Response = MessageInitShape<typeof TerminalResponseSchema>;

/**
 * TerminalService: one bidirectional stream per client of a terminal (docs/terminals.md).
 * The stream opens a terminal or attaches to one; its end (the client went away) leaves
 * the terminal running for its grace period.
 */
export function createTerminalService(deps: TerminalServiceDeps): ServiceImpl<Methods> {
  const { sandboxes, terminals } = deps;

  const handle = async (t: Terminal, msg: TerminalRequest): Promise<void> => {
    switch (msg.message.case) {
      case "input":
        await t.write(msg.message.value);
        return;
      case "resize":
        t.resize(checkTerminalSize(msg.message.value));
        return;
      case "signal": {
        const name = msg.message.value.toUpperCase();
        const full = name.startsWith("SIG") ? name : `SIG${name}`;
        if (!(full in signalNames)) throw invalidArgument(`unknown signal ${JSON.stringify(msg.message.value.slice(0, 50))}`, { reason: "UNKNOWN_SIGNAL" });
        t.signal(full);
        return;
      }
      case "close":
        t.close();
        return;
      case "open":
      case "attach":
        throw invalidArgument("open and attach come first, once per stream");
      default:
        return;
    }
  };

  return {
    async *terminal(reqs, ctx) {
      const it = reqs[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done) return;
      let terminal: Terminal;
      let offset = 0;
      const m = first.value.message;
      if (m.case === "open") {
        const o = m.value;
        if (o.sandboxId === "") throw invalidArgument("open.sandbox_id is required");
        const sandbox = sandboxes.get(ctx.tenant, o.sandboxId);
        terminal = await terminals.open(ctx.tenant, sandbox, {
          argv: o.argv,
          size: { rows: o.size?.rows ?? 0, cols: o.size?.cols ?? 0 },
          env: { ...o.env },
          cwd: o.cwd,
          graceMs: o.graceMs,
        });
      } else if (m.case === "attach") {
        if (m.value.terminalId === "") throw invalidArgument("attach.terminal_id is required");
        terminal = terminals.get(ctx.tenant, m.value.terminalId);
        offset = Number(m.value.offset);
      } else {
        throw invalidArgument("the first message must be open or attach");
      }
      // Input, resizes and signals are read meanwhile; a bad one ends the stream with its error.
      const controller = new AbortController();
      const onAbort = () => controller.abort();
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      let failure: unknown;
      const reading = (async () => {
        for (let n = await it.next(); !n.done; n = await it.next()) await handle(terminal, n.value);
      })().catch((err: unknown) => {
        failure = err;
        controller.abort();
      });
      try {
        const opened: Response = {
          event: {
            case: "opened",
            value: {
              terminalId: terminal.id,
              sandboxId: terminal.sandbox.id,
              pid: terminal.pid,
              offset: BigInt(terminal.replayFrom(offset)),
              size: terminal.size,
            },
          },
        };
        yield opened;
        for await (const ev of terminal.follow(offset, controller.signal)) {
          if (ev.type === "output") {
            yield { event: { case: "output", value: { data: ev.data, offset: BigInt(ev.offset) } } };
          } else {
            const e = ev.exit;
            yield { event: { case: "exit", value: { status: exitStatusToProto(e.kind), exitCode: e.exitCode, signal: e.signal, message: e.message ?? "" } } };
          }
        }
        if (failure !== undefined) throw failure;
      } finally {
        ctx.signal.removeEventListener("abort", onAbort);
        void reading;
      }
    },
  };
}
