import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../common/logger.js";
import { AgentRunner } from "../runtime/agent-runner.js";
import type { ContainerRuntime, ExecOptions, ExecSession } from "../runtime/container-runtime.js";
import { Kernel, type KernelEvent, type KernelSpec } from "./kernel.js";
import { decodeBundle, encodeExecute } from "./runner-protocol.js";
import { shellArgv } from "./session.js";

/** The real agent as a local child process: runners start exactly as in a sandbox. */
function localRuntime(): ContainerRuntime {
  const exec = async (_id: string, options: ExecOptions): Promise<ExecSession> => {
    const [cmd, ...args] = options.argv;
    const child = spawn(cmd as string, args, { stdio: ["pipe", "pipe", "pipe"] });
    const exited = new Promise<number>((resolve) => child.once("close", (code) => resolve(code ?? -1)));
    return { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, wait: () => exited, destroy: () => child.kill("SIGKILL") };
  };
  return { exec } as unknown as ContainerRuntime;
}

let agent: AgentRunner;
let dir: string;

beforeAll(async () => {
  agent = await AgentRunner.start({ runtime: localRuntime(), containerId: "local", logger: silentLogger() });
  dir = mkdtempSync(join(tmpdir(), "sandboxd-kernel-"));
});

afterAll(async () => {
  await agent?.close();
  rmSync(dir, { recursive: true, force: true });
});

let generation = 0;
function shellSpec(): KernelSpec {
  const n = ++generation;
  return {
    kind: "shell",
    sessionId: `ses_unit${process.pid}`,
    kernelId: `ses_unit${process.pid}.${n}`,
    dir: join(dir, String(n)),
    cwd: dir,
    env: {},
    shellArgv: shellArgv("/bin/sh"),
    memoryLimitBytes: 0,
    helloTimeoutMs: 20_000,
  };
}

/** Running, not a zombie (killed children of a dead shell wait for whoever reaps orphans here). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

interface CellResult {
  stdout: string;
  stderr: string;
  last: KernelEvent;
}

let cellNo = 0;
function run(kernel: Kernel, code: string, options: { stdin?: string; onStarted?: () => void } = {}): Promise<CellResult> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    kernel.execute(++cellNo, { code, stdin: Buffer.from(options.stdin ?? ""), maxOutputBytes: 1 << 20 }, (ev) => {
      if (ev.type === "stdout") stdout += Buffer.from(ev.data).toString();
      if (ev.type === "stderr") stderr += Buffer.from(ev.data).toString();
      if (ev.type === "done" || ev.type === "lost") resolve({ stdout, stderr, last: ev });
    });
    options.onStarted?.();
  });
}

describe("shell kernel (real runner, local agent)", () => {
  it("keeps state across commands, streams apart, reports exit codes", async () => {
    const kernel = await Kernel.start(agent, shellSpec(), silentLogger());
    try {
      expect(kernel.pid).toBeGreaterThan(0);
      await run(kernel, 'cd /; export X=kept; f() { echo "f:$1"; }');
      const r = await run(kernel, "pwd; echo $X; f 1; echo err >&2; (exit 4)");
      expect(r.stdout).toBe("/\nkept\nf:1\n");
      expect(r.stderr).toBe("err\n");
      expect(r.last).toMatchObject({ type: "done", done: { status: "ok", exit_code: 4, stdout_bytes: 11, stderr_bytes: 4 } });
      const fed = await run(kernel, "cat; echo; cat", { stdin: "in" });
      expect(fed.stdout).toBe("in\n");
    } finally {
      await kernel.close(3000);
    }
  });

  it("starts its runner through the sandbox's command wrapper: the shell and its commands inherit what it set", async () => {
    const kernel = await Kernel.start(agent, { ...shellSpec(), wrapper: ["env", "WRAPPED_BY=the wrapper"] }, silentLogger());
    try {
      expect((await run(kernel, 'echo "$WRAPPED_BY"')).stdout).toBe("the wrapper\n");
      // Interrupts still reach the command: the wrapper exec'd the runner, so its process group is the same.
      const r = await run(kernel, "sleep 30; echo not-reached", { onStarted: () => setTimeout(() => kernel.interrupt("cancelled"), 300) });
      expect(r.last).toMatchObject({ type: "done", done: { status: "interrupted", exit_code: 130 } });
    } finally {
      await kernel.close(3000);
    }
  });

  it("an interrupt ends the whole command line, like Ctrl-C", async () => {
    const kernel = await Kernel.start(agent, shellSpec(), silentLogger());
    try {
      const r = await run(kernel, "echo go; sleep 30; echo not-reached", { onStarted: () => setTimeout(() => kernel.interrupt("cancelled"), 300) });
      expect(r.stdout).toBe("go\n");
      expect(r.last).toMatchObject({ type: "done", done: { status: "interrupted", interrupted: true, exit_code: 130 } });
      expect((await run(kernel, "echo alive")).stdout).toBe("alive\n");
    } finally {
      await kernel.close(3000);
    }
  });

  it("a command that ignores SIGINT ends with its shell, which is replaced", async () => {
    const kernel = await Kernel.start(agent, shellSpec(), silentLogger());
    try {
      await run(kernel, "X=lost");
      const r = await run(kernel, "trap '' INT; sleep 30", { onStarted: () => setTimeout(() => kernel.interrupt("timeout"), 200) });
      expect(r.last).toMatchObject({ type: "done", done: { status: "interrupted", restarted: true, exit_code: -1 } });
      expect((await run(kernel, 'echo "x=$X"')).stdout).toBe("x=\n");
    } finally {
      await kernel.close(3000);
    }
  });

  it("reports `exit` on its command and dies with its runner's close, background jobs too", async () => {
    const kernel = await Kernel.start(agent, shellSpec(), silentLogger());
    const ended = await run(kernel, "exit 9");
    expect(ended.last).toMatchObject({ type: "done", done: { status: "exited", exit_code: 9, shell_exited: true } });
    const bg = await run(kernel, "sleep 300 & echo $!");
    const pid = Number(bg.stdout.trim());
    expect(alive(pid)).toBe(true);
    const exit = await kernel.close(3000);
    expect(exit).toMatchObject({ kind: "exited", exitCode: 0 });
    expect(alive(pid)).toBe(false);
  });

  it("a shell that does not exist fails the start with a clear message", async () => {
    await expect(Kernel.start(agent, { ...shellSpec(), shellArgv: ["/no/such/shell", "-i"] }, silentLogger())).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
      message: expect.stringMatching(/\/no\/such\/shell/),
    });
  });
});

const localIPython = spawnSync("python3", ["-c", "import IPython"]).status === 0;

describe.skipIf(!localIPython)("IPython kernel (real runner, local agent, local IPython)", () => {
  it("carries stdin and displayed images as raw bytes, exactly", async () => {
    const kernel = await Kernel.start(agent, { ...shellSpec(), kind: "ipython", shellArgv: [] }, silentLogger());
    try {
      const events: KernelEvent[] = [];
      const stdin = Buffer.from("é\n\u0000ü\u{1F600}");
      const code = [
        "import sys, zlib, struct",
        "from IPython.display import display, Image",
        "print(input())",
        "print(sys.stdin.read().encode().hex())",
        "def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))",
        "png = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(b'\\x00\\xff')) + chunk(b'IEND', b'')",
        "print(png.hex())",
        "display(Image(data=png))",
        "Image(data=png)",
      ].join("\n");
      await new Promise<void>((resolve) => {
        kernel.execute(++cellNo, { code, stdin, maxOutputBytes: 1 << 20 }, (ev) => {
          events.push(ev);
          if (ev.type === "done" || ev.type === "lost") resolve();
        });
      });
      const stdout = Buffer.concat(events.flatMap((e) => (e.type === "stdout" ? [Buffer.from(e.data)] : []))).toString();
      const [line, rest, pngHex] = stdout.split("\n");
      expect(line).toBe("é");
      expect(rest).toBe(Buffer.from("\u0000ü\u{1F600}").toString("hex"));
      const images = events.flatMap((e) => (e.type === "display" || e.type === "result" ? [Buffer.from(e.bundle.data["image/png"] ?? [])] : []));
      expect(images.map((b) => b.toString("hex"))).toEqual([pngHex, pngHex]);
      expect(events.at(-1)).toMatchObject({ type: "done", done: { status: "ok" } });
    } finally {
      await kernel.close(3000);
    }
  });
});

describe("pure helpers", () => {
  /** `u32 length | JSON | bytes`, as the runners write it. */
  function jsonWithBytes(json: unknown, bytes: number[]): Buffer {
    const text = Buffer.from(JSON.stringify(json));
    const length = Buffer.alloc(4);
    length.writeUInt32BE(text.length, 0);
    return Buffer.concat([length, text, Buffer.from(bytes)]);
  }

  it("decodes MIME bundles: text as UTF-8 from the JSON, binary ones as raw bytes after it", () => {
    const payload = jsonWithBytes(
      { data: { "text/plain": "héllo" }, binary: { "image/png": [2, 2], "image/jpeg": [0, 2] }, metadata: { w: 1 }, execution_count: 3 },
      [0xff, 0xd8, 0x89, 0x50],
    );
    const b = decodeBundle(payload);
    expect(Buffer.from(b.data["text/plain"] ?? []).toString()).toBe("héllo");
    expect([...(b.data["image/png"] ?? [])]).toEqual([0x89, 0x50]);
    expect([...(b.data["image/jpeg"] ?? [])]).toEqual([0xff, 0xd8]);
    expect(b).toMatchObject({ metadata: { w: 1 }, executionCount: 3 });
    expect(() => decodeBundle(jsonWithBytes({ data: {}, binary: { "image/png": [3, 2] }, metadata: {} }, [1, 2, 3]))).toThrow(/outside/);
  });

  it("sends a cell's stdin as raw bytes after the EXECUTE JSON", () => {
    const stdin = Buffer.from([0, 1, 0xfe, 0xff]);
    const payload = encodeExecute("print(input())", 100, stdin);
    const n = payload.readUInt32BE(0);
    expect(JSON.parse(payload.subarray(4, 4 + n).toString())).toEqual({ code: "print(input())", max_output: 100, stdin: [0, 4] });
    expect([...payload.subarray(4 + n)]).toEqual([...stdin]);
  });

  it("starts every shell interactive, without rc files", () => {
    expect(shellArgv("/bin/sh")).toEqual(["/bin/sh", "-i"]);
    expect(shellArgv("bash")).toEqual(["bash", "--noprofile", "--norc", "--noediting", "-i"]);
    expect(shellArgv("/usr/bin/zsh")).toEqual(["/usr/bin/zsh", "-f", "-i"]);
  });
});
