import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { createClient, type Sandbox, type SandboxdClient } from "../../../clients/typescript/src/index.js";
import { repoRoot } from "../../helpers/daemon.js";
import { startDaemon, stopDaemon } from "./daemon.js";

// `sandboxctl shell` and `sandboxctl exec -it` as a person uses them: in a real terminal
// (a tmux pane), keys sent with send-keys, the screen read with capture-pane.
let d: Awaited<ReturnType<typeof startDaemon>>;
let client: SandboxdClient;
let sandbox: Sandbox;
const sessions: string[] = [];

beforeAll(async () => {
  d = await startDaemon();
  client = createClient({ address: d.address });
  sandbox = await client.createSandbox({ language: "python" });
});

afterAll(async () => {
  for (const s of sessions) spawnTmux(["kill-session", "-t", s], true);
  await sandbox?.[Symbol.asyncDispose]();
  client?.close();
  if (d) await stopDaemon(d);
});

function spawnTmux(args: string[], quiet = false): string {
  try {
    return execFileSync("tmux", args, { encoding: "utf8" });
  } catch (err) {
    if (quiet) return "";
    throw err;
  }
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A tmux session of `cols`x`rows` running sandboxctl with `args`; when sandboxctl ends, the
 * pane shows its exit code and whether the local terminal is back in canonical mode.
 */
function pane(args: string[], cols = 100, rows = 30): string {
  const name = `sbx-term-${randomBytes(4).toString("hex")}`;
  sessions.push(name);
  const ctl = [process.execPath, "--import", "tsx", join(repoRoot, "clients/typescript/src/sandboxctl.ts"), ...args].map(quote).join(" ");
  const script = `cd ${quote(repoRoot)}; SANDBOXD_ADDRESS=${quote(d.address)} ${ctl}; echo "EXIT=$?"; stty -a | grep -o -- '-\\?icanon' | sed 's/^/MODE=/'; sleep 1000`;
  spawnTmux(["new-session", "-d", "-s", name, "-x", String(cols), "-y", String(rows), "bash", "--norc", "-c", script]);
  return name;
}

const screen = (name: string) => spawnTmux(["capture-pane", "-p", "-J", "-t", name, "-S", "-200"]);
const keys = (name: string, ...k: string[]) => spawnTmux(["send-keys", "-t", name, ...k]);
const typeLine = (name: string, line: string) => {
  keys(name, "-l", line);
  keys(name, "Enter");
};

async function until(name: string, pattern: RegExp, what = String(pattern)): Promise<RegExpMatchArray> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = screen(name);
    const m = s.match(pattern);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`no ${what} on the screen:\n${s}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe("sandboxctl terminals under tmux", () => {
  it("shell: a real terminal, its size and resizes, Ctrl-C, line editing, top, the exit code, the terminal restored", async () => {
    const t = pane(["shell", sandbox.id], 100, 30);
    typeLine(t, "tty; echo ready-$((40+2))");
    await until(t, /^\/dev\/pts\/\d+\s*$/m, "a pts device");
    await until(t, /ready-42/, "the shell");
    typeLine(t, "stty size");
    await until(t, /^30 100\s*$/m, "the pane's size");
    spawnTmux(["resize-window", "-t", t, "-x", "120", "-y", "40"]);
    await new Promise((r) => setTimeout(r, 300));
    typeLine(t, "stty size");
    await until(t, /^40 120\s*$/m, "the new size");
    // Ctrl-C reaches the program, not sandboxctl.
    typeLine(t, "sleep 100");
    await new Promise((r) => setTimeout(r, 700));
    keys(t, "C-c");
    typeLine(t, "echo rc=$?");
    await until(t, /^rc=130\s*$/m, "the interrupted sleep's status");
    // Line editing in the python3 REPL: a missing digit inserted with the left arrow.
    typeLine(t, "python3 -q");
    await until(t, /^>>> /m, "the REPL");
    keys(t, "-l", "print(6*)");
    keys(t, "Left");
    keys(t, "-l", "7");
    keys(t, "Enter");
    await until(t, /^42\s*$/m, "the edited line's result");
    typeLine(t, "exit()");
    // A full-screen program: top draws, q quits it.
    typeLine(t, "top -d 1");
    await until(t, /PID\s+USER/, "top's process list");
    keys(t, "q");
    // top flushes pending input as it restores the terminal: type after it is gone.
    await new Promise((r) => setTimeout(r, 1000));
    typeLine(t, "echo after-top-$((1+1))");
    await until(t, /after-top-2/, "the shell after top");
    typeLine(t, "exit 3");
    await until(t, /^EXIT=3\s*$/m, "sandboxctl's exit code");
    await until(t, /^MODE=icanon\s*$/m, "the local terminal back in canonical mode");
  });

  it("exec -it: any program on a terminal, its exit code passed through", async () => {
    const t = pane(["exec", "-it", sandbox.id, "--", "python3", "-q"], 90, 25);
    await until(t, /^>>> /m, "the REPL");
    typeLine(t, "import os, sys; print(os.isatty(0), os.get_terminal_size())");
    await until(t, /True os\.terminal_size\(columns=90, lines=25\)/, "a terminal of the pane's size");
    typeLine(t, "sys.exit(7)");
    await until(t, /^EXIT=7\s*$/m, "the program's exit code");
    await until(t, /^MODE=icanon\s*$/m, "the local terminal restored");
  });
});
