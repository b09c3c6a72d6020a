import { status as grpcStatus } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus } from "../../src/gen/sandboxd/v1/common_pb.js";
import { TerminalService, type TerminalResponse } from "../../src/gen/sandboxd/v1/terminal_service_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { TerminalRequestSchema } from "../../src/gen/sandboxd/v1/terminal_service_pb.js";
import { hashToken } from "../../src/rpc/auth.js";
import { createClient, type Client } from "../helpers/client.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

// Terminals against real containers: a pseudo-terminal the sandbox's agent makes, driven as
// a user drives one (keys in, screen out), reattached after a dropped client, and refused
// where the request is wrong or not the caller's.
const tokens = `alpha:${hashToken("alpha-secret")},beta:${hashToken("beta-secret")}`;
let d: DaemonHandle;
let sandboxId: string;
type TerminalClient = Client<typeof TerminalService.method>;
let alpha: TerminalClient;
let beta: TerminalClient;

beforeAll(async () => {
  d = await startDaemon({ env: { SANDBOXD_AUTH__TOKENS: tokens }, clientOptions: { metadata: { authorization: "Bearer alpha-secret" } } });
  const res = await d.sandbox.createSandbox({ spec: { language: "python" } });
  sandboxId = res.sandbox?.id ?? "";
  alpha = createClient(TerminalService, d.address, { metadata: { authorization: "Bearer alpha-secret" } });
  beta = createClient(TerminalService, d.address, { metadata: { authorization: "Bearer beta-secret" } });
});

afterAll(async () => {
  alpha?.close();
  beta?.close();
  await d?.stop();
});

/** One Terminal stream, read in the background: the screen so far, the id, the exit. */
class Term {
  readonly call: ReturnType<TerminalClient["terminal"]>;
  text = "";
  id = "";
  openedOffset = -1;
  exit: Extract<TerminalResponse["event"], { case: "exit" }>["value"] | undefined;
  error: { code: number; details: string } | undefined;
  private readonly done: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(client: TerminalClient, first: MessageInitShape<typeof TerminalRequestSchema>) {
    const call = client.terminal();
    this.call = call;
    call.send(first);
    this.done = (async () => {
      try {
        for await (const r of call.responses) {
          const e = r.event;
          if (e.case === "opened") {
            this.id = e.value.terminalId;
            this.openedOffset = Number(e.value.offset);
          } else if (e.case === "output") this.text += Buffer.from(e.value.data).toString("utf8");
          else if (e.case === "exit") this.exit = e.value;
          this.wake();
        }
      } catch (err) {
        this.error = err as { code: number; details: string };
      }
      this.wake();
    })();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(msg: MessageInitShape<typeof TerminalRequestSchema>["message"]): void {
    this.call.send({ message: msg } as MessageInitShape<typeof TerminalRequestSchema>);
  }

  type(text: string): void {
    this.send({ case: "input", value: Buffer.from(text) });
  }

  /** Waits until the screen matches (or the stream ended), failing after 20 s. */
  async until(pattern: RegExp, what = String(pattern)): Promise<RegExpMatchArray> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const m = this.text.match(pattern);
      if (m) return m;
      if (this.exit || this.error) throw new Error(`stream ended before ${what}: ${JSON.stringify(this.text.slice(-500))} ${this.error?.details ?? ""}`);
      if (Date.now() > deadline) throw new Error(`no ${what} on the terminal: ${JSON.stringify(this.text.slice(-500))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async ended(): Promise<void> {
    await this.done;
  }
}

const shell = (size = { rows: 24, cols: 80 }, graceMs = 0) =>
  new Term(alpha, { message: { case: "open", value: { sandboxId, argv: ["/bin/sh"], size, graceMs, env: { PS1: "$ " } } } });

async function refusal(t: Term): Promise<{ code: number; details: string }> {
  await t.ended();
  if (!t.error) throw new Error(`not refused: ${JSON.stringify(t.text.slice(0, 200))}`);
  return { code: t.error.code, details: t.error.details };
}

describe("Terminal", () => {
  it("runs a shell on a real terminal of the opened size, follows a resize, passes the exit code", async () => {
    const t = shell({ rows: 33, cols: 101 });
    t.type("tty; stty size\n");
    await t.until(/\/dev\/pts\/\d+/, "a pts device");
    await t.until(/^33 101\r?$/m, "the opened size");
    t.send({ case: "resize", value: { rows: 40, cols: 120 } });
    t.type("stty size\n");
    await t.until(/^40 120\r?$/m, "the new size");
    t.type("exit 3\n");
    await t.ended();
    expect(t.exit?.status).toBe(ExitStatus.EXITED);
    expect(t.exit?.exitCode).toBe(3);
  });

  it("echoes and edits lines in the python3 REPL", async () => {
    const t = new Term(alpha, { message: { case: "open", value: { sandboxId, argv: ["python3", "-q"] } } });
    await t.until(/>>> $/, "the prompt");
    // A typo erased with backspace: the line python sees is the corrected one.
    t.type("print(6*7x\x7f)\r");
    await t.until(/^42\r?$/m, "the answer");
    t.type("raise SystemExit(5)\r");
    await t.ended();
    expect(t.exit?.exitCode).toBe(5);
  });

  it("delivers Ctrl-C to the foreground job, and the signal message too", async () => {
    const t = shell();
    await t.until(/\$ $/, "the prompt");
    t.type("sleep 100\n");
    await new Promise((r) => setTimeout(r, 500));
    t.type("\x03");
    await t.until(/\^C\r\n\$ $/, "the prompt after Ctrl-C");
    t.type("echo after=$?\n");
    await t.until(/after=130/, "the interrupted sleep's status");
    t.text = "";
    t.type("sleep 100\n");
    await new Promise((r) => setTimeout(r, 500));
    t.send({ case: "signal", value: "SIGINT" });
    await t.until(/\n\$ $/, "the prompt after the signal");
    t.type("echo again=$?\n");
    await t.until(/again=130/, "the signalled sleep's status");
    t.send({ case: "close", value: {} });
    await t.ended();
    expect(t.exit).toBeDefined();
  });

  it("survives a dropped client and replays its output on attach", async () => {
    const t = shell();
    t.type("echo mark-$((6*7))\n");
    await t.until(/mark-42/, "the marker");
    const id = t.id;
    t.call.cancel();
    await t.ended();
    // Meanwhile the program goes on; its output is kept for the next client.
    await new Promise((r) => setTimeout(r, 300));
    const again = new Term(alpha, { message: { case: "attach", value: { terminalId: id } } });
    await again.until(/mark-42/, "the replayed marker");
    expect(again.openedOffset).toBe(0);
    again.type("echo back-$((2+3))\n");
    await again.until(/back-5/, "live output after the replay");
    // Attaching from where this client is: nothing replayed twice.
    const at = Buffer.byteLength(again.text);
    again.call.cancel();
    await again.ended();
    const third = new Term(alpha, { message: { case: "attach", value: { terminalId: id, offset: BigInt(at) } } });
    third.type("exit 4\n");
    await third.ended();
    expect(third.text).not.toContain("mark-42");
    expect(third.exit?.exitCode).toBe(4);
  });

  it("ends the terminal and kills its processes after the grace period without a client", async () => {
    const t = new Term(alpha, {
      message: { case: "open", value: { sandboxId, argv: ["sh", "-c", "sleep 1000 & echo $! $$ > /tmp/term-grace.pids; wait"], graceMs: 1000 } },
    });
    const pids = async () => (await collect(d.sandbox.exec({ sandboxId, shell: "cat /tmp/term-grace.pids 2>/dev/null" }))).stdout.trim();
    for (let i = 0; i < 100 && (await pids()) === ""; i++) await new Promise((r) => setTimeout(r, 100));
    const sleepers = async () =>
      (
        await collect(d.sandbox.exec({ sandboxId, shell: "n=0; for p in $(cat /tmp/term-grace.pids); do kill -0 $p 2>/dev/null && n=$((n+1)); done; echo $n" }))
      ).stdout.trim();
    expect(await sleepers()).toBe("2");
    t.call.cancel();
    await t.ended();
    let left = "2";
    for (let i = 0; i < 100 && left !== "0"; i++) {
      await new Promise((r) => setTimeout(r, 200));
      left = await sleepers();
    }
    expect(left).toBe("0");
    const late = new Term(alpha, { message: { case: "attach", value: { terminalId: t.id } } });
    expect((await refusal(late)).code).toBe(grpcStatus.NOT_FOUND);
  });

  it("holds a program that floods output while nobody reads, in bounded memory, and lets it go on when read", async () => {
    const flood = "import os\nn = 0\nwhile True:\n    os.write(1, b'x' * 4096)\n    n += 4096\n    open('/tmp/flood.n', 'w').write(str(n))\n";
    const t = new Term(alpha, { message: { case: "open", value: { sandboxId, argv: ["python3", "-c", flood] } } });
    await t.until(/x{100}/, "the flood");
    t.call.cancel();
    await t.ended();
    const written = async () => Number((await collect(d.sandbox.exec({ sandboxId, shell: "cat /tmp/flood.n" }))).stdout.trim() || "0");
    let before = -1;
    let now = await written();
    for (let i = 0; i < 50 && now !== before; i++) {
      await new Promise((r) => setTimeout(r, 300));
      before = now;
      now = await written();
    }
    // Stalled: what the kept output, the agent's credit window and the pty hold, no more.
    expect(now).toBe(before);
    expect(now).toBeLessThan(4 * 1024 * 1024);
    const again = new Term(alpha, { message: { case: "attach", value: { terminalId: t.id } } });
    await again.until(/x{1000}/, "the kept output");
    let later = now;
    for (let i = 0; i < 100 && later <= now + 1024 * 1024; i++) {
      await new Promise((r) => setTimeout(r, 100));
      later = await written();
    }
    expect(later).toBeGreaterThan(now + 1024 * 1024);
    again.send({ case: "close", value: {} });
    await again.ended();
    expect(again.exit?.status).toBe(ExitStatus.CANCELLED);
  });
});

describe("Terminal and its sandbox", () => {
  it("ends when its sandbox is destroyed, and is then not found", async () => {
    const own = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox?.id ?? "";
    const t = new Term(alpha, { message: { case: "open", value: { sandboxId: own, argv: ["sleep", "1000"] } } });
    await t.until(/^/, "opened");
    for (let i = 0; i < 100 && t.id === ""; i++) await new Promise((r) => setTimeout(r, 50));
    await d.sandbox.destroySandbox({ sandboxId: own });
    await t.ended();
    expect(t.exit).toBeDefined();
    expect(t.exit?.status).not.toBe(ExitStatus.EXITED);
    const late = new Term(alpha, { message: { case: "attach", value: { terminalId: t.id } } });
    expect((await refusal(late)).code).toBe(grpcStatus.NOT_FOUND);
  });
});

describe("Terminal refusals", () => {
  it("an unknown terminal id is NOT_FOUND", async () => {
    const r = await refusal(new Term(alpha, { message: { case: "attach", value: { terminalId: "term_nosuchterminal" } } }));
    expect(r.code).toBe(grpcStatus.NOT_FOUND);
  });

  it("another tenant's terminal is NOT_FOUND, as a missing one", async () => {
    const t = shell();
    t.type("echo hi\n");
    await t.until(/hi/);
    const theirs = await refusal(new Term(beta, { message: { case: "attach", value: { terminalId: t.id } } }));
    const missing = await refusal(new Term(beta, { message: { case: "attach", value: { terminalId: "term_nosuchterminal" } } }));
    expect(theirs.code).toBe(grpcStatus.NOT_FOUND);
    expect(theirs.details.replace(t.id, "ID")).toBe(missing.details.replace("term_nosuchterminal", "ID"));
    // Nor can they open one in alpha's sandbox.
    const open = await refusal(new Term(beta, { message: { case: "open", value: { sandboxId } } }));
    expect(open.code).toBe(grpcStatus.NOT_FOUND);
    t.send({ case: "close", value: {} });
    await t.ended();
  });

  it("refuses oversize input, a bad size, a bad signal and a stream that starts with input", async () => {
    const big = shell();
    await big.until(/\$ /, "the prompt");
    big.type("x".repeat(70 * 1024));
    expect((await refusal(big)).code).toBe(grpcStatus.INVALID_ARGUMENT);
    const huge = new Term(alpha, { message: { case: "open", value: { sandboxId, size: { rows: 5000, cols: 80 } } } });
    expect((await refusal(huge)).code).toBe(grpcStatus.INVALID_ARGUMENT);
    const sig = shell();
    await sig.until(/\$ /, "the prompt");
    sig.send({ case: "signal", value: "SIGBOGUS" });
    expect((await refusal(sig)).code).toBe(grpcStatus.INVALID_ARGUMENT);
    const headless = new Term(alpha, { message: { case: "input", value: Buffer.from("ls\n") } });
    expect((await refusal(headless)).code).toBe(grpcStatus.INVALID_ARGUMENT);
    const nosandbox = new Term(alpha, { message: { case: "open", value: { sandboxId: "sbx_nosuchsandbox" } } });
    expect((await refusal(nosandbox)).code).toBe(grpcStatus.NOT_FOUND);
    const missing = new Term(alpha, { message: { case: "open", value: { sandboxId, argv: ["/no/such/program"] } } });
    await missing.ended();
    expect(missing.exit?.exitCode).toBe(127);
  });
});
