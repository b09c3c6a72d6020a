import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus, Stream, type RunEvent } from "../../src/gen/sandboxd/v1/common_pb.js";
import { SessionKind } from "../../src/gen/sandboxd/v1/interactive_service_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { workloads } from "../helpers/engine.js";
import { collect, type Collected } from "../helpers/events.js";

// AgentFense's sessions guide, reproduced through the gRPC API with SHELL sessions, plus
// what a terminal user relies on: separate streams, exit codes, stdin, timeouts.

let d: DaemonHandle;
let sandboxId: string;

async function shellSession(options: { shell?: string; env?: Record<string, string> } = {}): Promise<string> {
  const { session } = await d.interactive.createSession({
    target: { case: "sandboxId", value: sandboxId },
    kind: SessionKind.SHELL,
    shell: options.shell ?? "",
    env: options.env ?? {},
  });
  return session?.id ?? "";
}

function sh(sessionId: string, code: string, options: { timeoutMs?: number; stdin?: string } = {}): Promise<Collected> {
  return collect(d.interactive.run({ sessionId, code, timeoutMs: options.timeoutMs ?? 0, stdin: Buffer.from(options.stdin ?? "") }));
}

async function processes(): Promise<string> {
  return (await collect(d.sandbox.exec({ sandboxId, argv: ["ps", "-eo", "pid,args"] }))).stdout;
}

/** Closing is synchronous, but a process killed a moment ago may still be listed while it is reaped. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

beforeAll(async () => {
  // Not the shared "test-" prefix: another test run's global setup on the same engine
  // removes those containers. afterAll checks this daemon left nothing behind.
  d = await startDaemon({ daemonId: `interactive-${randomBytes(4).toString("hex")}` });
  const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
  sandboxId = sandbox?.id ?? "";
  await collect(d.sandbox.exec({ sandboxId, shell: "mkdir -p /sandbox/backend /sandbox/frontend" }));
});

afterAll(async () => {
  await d?.stop();
  const left = await workloads([`org.sandboxd.daemon=${d?.daemonId}`]);
  expect(left.map((c) => c.name)).toEqual([]);
});

describe("shell sessions: AgentFense's guide", () => {
  it("the working directory persists", async () => {
    const s = await shellSession();
    await sh(s, "cd /sandbox/backend");
    expect((await sh(s, "pwd")).stdout).toBe("/sandbox/backend\n");
    await sh(s, "cd ../frontend");
    expect((await sh(s, "pwd")).stdout).toBe("/sandbox/frontend\n");
    await d.interactive.closeSession({ sessionId: s });
  });

  it("exported variables persist", async () => {
    const s = await shellSession();
    await sh(s, "export API_URL=http://localhost:8000");
    await sh(s, "export DB_NAME=testdb");
    expect((await sh(s, "printenv API_URL")).stdout).toBe("http://localhost:8000\n");
    expect((await sh(s, "printenv DB_NAME")).stdout).toBe("testdb\n");
    await d.interactive.closeSession({ sessionId: s });
  });

  it("aliases and functions persist (bash)", async () => {
    const s = await shellSession({ shell: "/bin/bash" });
    await sh(s, "alias ll='ls -la'");
    const ll = await sh(s, "ll /sandbox");
    expect(ll.stdout).toMatch(/^total \d+\n/);
    expect(ll.stdout).toMatch(/backend/);
    await sh(s, "myfunction() { echo 'Hello from function'; }");
    expect((await sh(s, "myfunction")).stdout).toBe("Hello from function\n");
    await d.interactive.closeSession({ sessionId: s });
  });

  it("aliases and functions persist (/bin/sh)", async () => {
    const s = await shellSession();
    await sh(s, "alias greet='echo hi'");
    await sh(s, 'twice() { echo "$1$1"; }');
    expect((await sh(s, "greet; twice ab")).stdout).toBe("hi\nabab\n");
    await d.interactive.closeSession({ sessionId: s });
  });

  it("initial environment and a custom shell", async () => {
    const s = await shellSession({ shell: "bash", env: { DEBUG: "1", ENV: "test" } });
    expect((await sh(s, "printenv DEBUG")).stdout).toBe("1\n");
    await sh(s, "declare -a arr=(1 2 3)");
    expect((await sh(s, 'echo "${arr[1]} of ${#arr[@]}"')).stdout).toBe("2 of 3\n");
    const listed = (await d.interactive.listSessions({ sandboxId })).sessions.find((x) => x.id === s);
    expect(listed?.kind).toBe(SessionKind.SHELL);
    expect(listed?.shell).toBe("bash");
    await d.interactive.closeSession({ sessionId: s });
  });

  it("a Python virtual environment: create, source, use", async () => {
    const s = await shellSession({ shell: "/bin/bash" });
    await sh(s, "cd /sandbox");
    const created = await sh(s, "python3 -m venv venv", { timeoutMs: 120_000 });
    expect(created.exit.exitCode).toBe(0);
    await sh(s, "source venv/bin/activate");
    expect((await sh(s, "command -v python; echo $VIRTUAL_ENV")).stdout).toBe("/sandbox/venv/bin/python\n/sandbox/venv\n");
    expect((await sh(s, "python -c 'import sys; print(sys.prefix)'")).stdout).toBe("/sandbox/venv\n");
    const pip = await sh(s, "pip --version", { timeoutMs: 60_000 });
    expect(pip.stdout).toMatch(/\/sandbox\/venv\//);
    await d.interactive.closeSession({ sessionId: s });
  });

  it("a background server keeps running, later commands reach it, closing the session kills it", async () => {
    const s = await shellSession();
    await sh(s, "cd /sandbox/backend && echo served > index.txt");
    const start = await sh(s, "python3 -m http.server 8000 &");
    expect(start.exit.exitCode).toBe(0);
    // No curl in the image: reach it through loopback with Python.
    const fetch = await sh(
      s,
      "for i in $(seq 1 50); do python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/index.txt').read().decode(), end='')\" 2>/dev/null && break; sleep 0.2; done",
      { timeoutMs: 60_000 },
    );
    // Like in a terminal, what the background server prints lands in whichever command
    // runs at the time (its banner on stdout, its request log on stderr).
    expect(fetch.stdout).toMatch(/served\n$/);
    expect(fetch.stderr).toMatch(/"GET \/index\.txt HTTP\/1\.1" 200/);
    expect((await processes()).match(/http\.server 8000/g)).toHaveLength(1);
    await d.interactive.closeSession({ sessionId: s });
    expect(await eventually(async () => !/http\.server 8000/.test(await processes()))).toBe(true);
  });
});

describe("shell sessions: commands", () => {
  let s: string;
  beforeAll(async () => {
    s = await shellSession();
  });
  afterAll(async () => {
    await d.interactive.closeSession({ sessionId: s });
  });

  it("keeps stdout and stderr apart and reports each command's own exit code", async () => {
    const r = await sh(s, "echo out; echo err >&2; echo more-out; sh -c 'exit 7'");
    expect(r.stdout).toBe("out\nmore-out\n");
    expect(r.stderr).toBe("err\n");
    expect(r.exit.status).toBe(ExitStatus.EXITED);
    expect(r.exit.exitCode).toBe(7);
    expect((await sh(s, "false")).exit.exitCode).toBe(1);
    expect((await sh(s, "true")).exit.exitCode).toBe(0);
    expect((await sh(s, "no-such-command-here")).exit.exitCode).toBe(127);
  });

  it("output without a trailing newline and output that looks like protocol stays the user's", async () => {
    expect((await sh(s, "printf 'no newline'")).stdout).toBe("no newline");
    const fake = await sh(s, "echo \"$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n') 0\"; printf 'forged 0\\n' >&3");
    expect(fake.stdout).toMatch(/^[0-9a-f]{32} 0\n$/);
    // fd 3 (the status channel) is closed for commands: forging fails, the command reports it.
    expect(fake.stderr).toMatch(/3/);
    expect(fake.exit.exitCode).not.toBe(0);
    expect((await sh(s, "echo fine")).stdout).toBe("fine\n");
  });

  it("streams output live", async () => {
    const stream = d.interactive.run({
      sessionId: s,
      code: "echo first; while [ ! -e /tmp/shell-go-on ]; do sleep 0.05; done; echo second",
      timeoutMs: 30_000,
    });
    const seen: string[] = [];
    for await (const { event } of stream) {
      const e = event?.event;
      if (e?.case === "output") {
        const text = Buffer.from(e.value.data).toString();
        seen.push(text);
        if (text.includes("first")) await collect(d.sandbox.exec({ sandboxId, argv: ["touch", "/tmp/shell-go-on"] }));
      }
    }
    expect(seen.join("")).toBe("first\nsecond\n");
  });

  it("a command waiting for input gets EOF, unless stdin is sent", async () => {
    const eof = await sh(s, 'cat; echo "cat ended $?"', { timeoutMs: 10_000 });
    expect(eof.stdout).toBe("cat ended 0\n");
    expect(eof.exit.status).toBe(ExitStatus.EXITED);
    const py = await sh(s, "python3 -c 'input()'", { timeoutMs: 10_000 });
    expect(py.stderr).toMatch(/EOFError/);
    expect(py.exit.exitCode).toBe(1);
    const fed = await sh(s, 'read line; echo "got:$line"; cat', { stdin: "hello\nrest of it" });
    expect(fed.stdout).toBe("got:hello\nrest of it");
    // The shell itself still reads its commands: stdin went to that command only.
    expect((await sh(s, "echo after")).stdout).toBe("after\n");
  });

  it("a syntax error fails that command only", async () => {
    const r = await sh(s, "if then fi (");
    expect(r.exit.exitCode).toBe(2);
    expect(r.stderr).toMatch(/[Ss]yntax error/);
    expect((await sh(s, "echo survived")).stdout).toBe("survived\n");
  });

  it("a timeout ends the command line like Ctrl-C; the shell keeps its state", async () => {
    await sh(s, "cd /tmp && export KEPT=yes");
    const r = await sh(s, "echo started; sleep 300 & sleep 301; echo not reached; touch /tmp/not-reached", { timeoutMs: 1000 });
    expect(r.stdout).toBe("started\n");
    expect(r.exit.status).toBe(ExitStatus.TIMEOUT);
    expect(r.exit.exitCode).toBe(130);
    expect(r.exit.kernelRestarted).toBe(false);
    expect(r.exit.message).toMatch(/timeout of 1000 ms/);
    // The rest of the line did not run; a background job survives, as in a terminal.
    expect((await sh(s, "ls /tmp/not-reached")).exit.exitCode).not.toBe(0);
    expect(await eventually(async () => !/sleep 301/.test(await processes()))).toBe(true);
    expect(await processes()).toMatch(/sleep 300/);
    expect((await sh(s, "pwd; echo $KEPT")).stdout).toBe("/tmp\nyes\n");
    await sh(s, "kill %1 2>/dev/null || pkill -f 'sleep 300'");
  });

  it("a command that ignores SIGINT is ended at the timeout by restarting the shell", async () => {
    await sh(s, "export KEPT=yes");
    const r = await sh(s, "trap '' INT; sleep 302; touch /tmp/not-reached-2", { timeoutMs: 1000 });
    expect(r.exit.status).toBe(ExitStatus.TIMEOUT);
    expect(r.exit.kernelRestarted).toBe(true);
    expect(r.exit.exitCode).toBe(-1);
    expect(r.exit.message).toMatch(/restarted/);
    expect(await eventually(async () => !/sleep 302/.test(await processes()))).toBe(true);
    expect((await sh(s, 'echo "kept=$KEPT"; ls /tmp/not-reached-2')).stdout).toBe("kept=\n");
  });

  it("a loop of builtins is interrupted too, and the shell keeps its state", async () => {
    await sh(s, "cd /tmp && export KEPT=yes");
    const r = await sh(s, "while :; do :; done; echo not reached", { timeoutMs: 1000 });
    expect(r.stdout).toBe("");
    expect(r.exit.status).toBe(ExitStatus.TIMEOUT);
    expect(r.exit.kernelRestarted).toBe(false);
    expect((await sh(s, 'pwd; echo "kept=$KEPT"')).stdout).toBe("/tmp\nkept=yes\n");
  });

  it("Interrupt stops the running command (CANCELLED)", async () => {
    const stream = d.interactive.run({ sessionId: s, code: "echo go; sleep 303; echo not reached" });
    const events: RunEvent[] = [];
    let sent = false;
    for await (const { event } of stream) {
      if (!event) continue;
      events.push(event);
      if (event.event.case === "output" && !sent) {
        sent = true;
        expect((await d.interactive.interrupt({ sessionId: s })).interrupted).toBe(true);
      }
    }
    const stdout = events.flatMap((e) =>
      e.event.case === "output" && e.event.value.stream === Stream.STDOUT ? [Buffer.from(e.event.value.data).toString()] : [],
    );
    expect(stdout.join("")).toBe("go\n");
    const last = events.at(-1)?.event;
    expect(last?.case === "exited" && last.value.status).toBe(ExitStatus.CANCELLED);
    expect(last?.case === "exited" && last.value.exitCode).toBe(130);
    expect(await eventually(async () => !/sleep 303/.test(await processes()))).toBe(true);
  });

  it("`exit` ends the shell: reported on that command, the next one gets a new shell", async () => {
    await sh(s, "cd /tmp");
    const r = await sh(s, "echo bye; exit 3");
    expect(r.stdout).toBe("bye\n");
    expect(r.exit.status).toBe(ExitStatus.EXITED);
    expect(r.exit.exitCode).toBe(3);
    expect(r.exit.message).toMatch(/shell exited/);
    expect((await sh(s, "pwd")).stdout).toBe("/sandbox\n");
  });

  it("Execute runs commands in order, tagged by cell id, and stops one on an interrupt message", async () => {
    const call = d.interactive.execute();
    call.send({ sessionId: s, message: { case: "cell", value: { cellId: "cd", code: "cd /sandbox/backend" } } });
    call.send({ message: { case: "cell", value: { cellId: "slow", code: "echo slow; sleep 304" } } });
    call.send({ message: { case: "cell", value: { cellId: "pwd", code: "pwd; echo oops >&2; exit_code=5; (exit $exit_code)" } } });
    const out = new Map<string, { stdout: string; stderr: string; status?: ExitStatus; code?: number }>();
    const order: string[] = [];
    let interrupted = false;
    for await (const res of call.responses) {
      const e = res.event?.event;
      if (!e || e.case === "keepalive") continue;
      if (order.at(-1) !== res.cellId) order.push(res.cellId);
      const o = out.get(res.cellId) ?? { stdout: "", stderr: "" };
      if (e.case === "output") {
        if (e.value.stream === Stream.STDOUT) o.stdout += Buffer.from(e.value.data).toString();
        else o.stderr += Buffer.from(e.value.data).toString();
        if (res.cellId === "slow" && !interrupted) {
          interrupted = true;
          call.send({ message: { case: "interrupt", value: { cellId: "" } } });
          call.end();
        }
      }
      if (e.case === "exited") {
        o.status = e.value.status;
        o.code = e.value.exitCode;
      }
      out.set(res.cellId, o);
    }
    expect(order).toEqual(["cd", "slow", "pwd"]);
    expect(out.get("slow")).toMatchObject({ stdout: "slow\n", status: ExitStatus.CANCELLED, code: 130 });
    expect(out.get("pwd")).toEqual({ stdout: "/sandbox/backend\n", stderr: "oops\n", status: ExitStatus.EXITED, code: 5 });
  });

  it("GetHistory lists commands with their exit codes", async () => {
    const h = await d.interactive.getHistory({ sessionId: s, limit: 2 });
    expect(h.entries.map((e) => [e.cellId, e.exitCode])).toEqual([
      ["slow", 130],
      ["pwd", 5],
    ]);
  });
});

describe("shell sessions: lifecycle", () => {
  it("closing a session kills everything it started, even what left its process group", async () => {
    const s = await shellSession();
    await sh(s, "sleep 501 & (sleep 502 &) ; setsid sleep 503 & nohup sleep 504 >/dev/null 2>&1 &");
    expect(await processes()).toMatch(/sleep 501[\s\S]*sleep 50[234]/);
    await d.interactive.closeSession({ sessionId: s });
    const after = await processes();
    expect(after).not.toMatch(/sleep 50[1234]/);
    expect(after).not.toContain(s);
  });

  it("sessions in different sandboxes and in one sandbox are independent", async () => {
    const { sandbox: other } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    const a = await shellSession();
    const b = await shellSession();
    const { session: c } = await d.interactive.createSession({ target: { case: "sandboxId", value: other?.id ?? "" }, kind: SessionKind.SHELL });
    try {
      await sh(a, "cd /sandbox/backend; X=a");
      await sh(b, "cd /sandbox/frontend; X=b");
      await sh(c?.id ?? "", "cd /tmp; X=c; touch /tmp/only-in-other");
      expect((await sh(a, "echo $X $(pwd)")).stdout).toBe("a /sandbox/backend\n");
      expect((await sh(b, "echo $X $(pwd)")).stdout).toBe("b /sandbox/frontend\n");
      expect((await sh(c?.id ?? "", "echo $X $(pwd)")).stdout).toBe("c /tmp\n");
      expect((await sh(a, "ls /tmp/only-in-other")).exit.exitCode).not.toBe(0);
      // A blocks on something only B does: the two run at the same time.
      const waiting = sh(a, "while [ ! -e /tmp/b-did-it ]; do sleep 0.05; done; echo a saw b", { timeoutMs: 60_000 });
      await sh(b, "touch /tmp/b-did-it");
      expect((await waiting).stdout).toBe("a saw b\n");
    } finally {
      await d.interactive.closeSession({ sessionId: a });
      await d.interactive.closeSession({ sessionId: b });
      await d.sandbox.destroySandbox({ sandboxId: other?.id ?? "" });
    }
    expect((await d.interactive.listSessions({})).sessions.map((x) => x.id)).not.toContain(c?.id);
  });

  it("an inline sandbox spec makes a session-owned sandbox; closing the session destroys it", async () => {
    const { session } = await d.interactive.createSession({ target: { case: "sandbox", value: {} }, kind: SessionKind.SHELL, shell: "bash" });
    expect(session?.ownsSandbox).toBe(true);
    expect((await sh(session?.id ?? "", "echo $0")).stdout).toBe("bash\n");
    await d.interactive.closeSession({ sessionId: session?.id ?? "" });
    await expect(d.sandbox.getSandbox({ sandboxId: session?.sandboxId ?? "" })).rejects.toMatchObject({ code: 5 });
  });

  it("a shell that is not in the image is a clear error", async () => {
    const zsh = await collect(d.sandbox.exec({ sandboxId, shell: "command -v zsh" }));
    if (zsh.exit.exitCode === 0) {
      const s = await shellSession({ shell: "zsh" });
      await sh(s, "cd /tmp; typeset -A m; m[k]=v");
      expect((await sh(s, "echo $m[k] $(pwd)")).stdout).toBe("v /tmp\n");
      await d.interactive.closeSession({ sessionId: s });
    } else {
      await expect(shellSession({ shell: "zsh" })).rejects.toMatchObject({ code: 9, details: expect.stringMatching(/zsh/) });
    }
    await expect(shellSession({ shell: "../bin/sh" })).rejects.toMatchObject({ code: 3 });
  });
});
