import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../common/logger.js";
import { AgentRunner } from "./agent-runner.js";
import type { ContainerRuntime, ExecOptions, ExecSession } from "./container-runtime.js";
import type { ProcessEvent, RunningProcess } from "./process.js";

/** Runs the agent as a local child process: the real agent code, without an engine. */
function localRuntime(): ContainerRuntime {
  const exec = async (_id: string, options: ExecOptions): Promise<ExecSession> => {
    const [cmd, ...args] = options.argv;
    const child = spawn(cmd as string, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...options.env } });
    const exited = new Promise<number>((resolve) => child.once("close", (code) => resolve(code ?? -1)));
    return {
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      wait: () => exited,
      destroy: () => child.kill("SIGKILL"),
    };
  };
  return { exec } as unknown as ContainerRuntime;
}

async function collect(p: RunningProcess) {
  const events: ProcessEvent[] = [];
  for await (const e of p) events.push(e);
  const text = (t: "stdout" | "stderr") => Buffer.concat(events.flatMap((e) => (e.type === t ? [Buffer.from(e.data)] : []))).toString();
  const last = events.at(-1);
  if (last?.type !== "exit") throw new Error("no exit event");
  return { events, stdout: text("stdout"), stderr: text("stderr"), exit: last.exit };
}

describe("agent runner (local process)", () => {
  it("runs processes with separate streams, exact exit codes and signals", async () => {
    await using agent = await startAgent();
    const ok = await collect(await agent.start({ argv: ["sh", "-c", "echo out; echo err >&2; exit 3"], timeoutMs: 0, maxOutputBytes: 1 << 20 }));
    expect(ok.stdout).toBe("out\n");
    expect(ok.stderr).toBe("err\n");
    expect(ok.exit).toMatchObject({ kind: "exited", exitCode: 3, stdoutBytes: 4, stderrBytes: 4 });

    const killed = await collect(await agent.start({ argv: ["sh", "-c", "kill -TERM $$"], timeoutMs: 0, maxOutputBytes: 1024 }));
    expect(killed.exit).toMatchObject({ kind: "killed", signal: 15 });

    const missing = await collect(await agent.start({ argv: ["no-such-program-xyz"], timeoutMs: 0, maxOutputBytes: 1024 }));
    expect(missing.exit.exitCode).toBe(127);
    expect(missing.stderr).toContain("no-such-program-xyz");
  });

  it("kills the whole process tree at the deadline", async () => {
    await using agent = await startAgent();
    const t0 = Date.now();
    const r = await collect(await agent.start({ argv: ["sh", "-c", "sleep 30 & sleep 30; echo never"], timeoutMs: 300, maxOutputBytes: 1024 }));
    expect(r.exit.kind).toBe("timeout");
    expect(r.stdout).toBe("");
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("feeds stdin and caps output", async () => {
    await using agent = await startAgent();
    const echo = await collect(await agent.start({ argv: ["cat"], stdin: Buffer.from("hello stdin"), timeoutMs: 5000, maxOutputBytes: 1024 }));
    expect(echo.stdout).toBe("hello stdin");
    const flood = await collect(await agent.start({ argv: ["sh", "-c", "head -c 1000000 /dev/zero"], timeoutMs: 5000, maxOutputBytes: 1000 }));
    expect(flood.stdout.length).toBe(1000);
    expect(flood.exit.truncated).toBe(true);
  });

  it("runs several processes concurrently over one channel", async () => {
    await using agent = await startAgent();
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => agent.start({ argv: ["sh", "-c", `sleep 0.5; echo ${i}`], timeoutMs: 5000, maxOutputBytes: 1024 })),
    );
    const t0 = Date.now();
    const results = await Promise.all(runs.map(collect));
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 8 }, (_, i) => `${i}\n`));
    // Eight 0.5 s sleeps in series would take 4 s; together they overlap.
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});

async function startAgent(stateDir = mkdtempSync(join(tmpdir(), "agent-state-"))) {
  const agent = await AgentRunner.start({ runtime: localRuntime(), containerId: "local", logger: silentLogger(), env: { SANDBOXD_AGENT_STATE_DIR: stateDir } });
  return Object.assign(agent, { [Symbol.asyncDispose]: () => agent.close() });
}

describe("agent robustness", () => {
  it("a spec the OS rejects fails its run, not the agent", async () => {
    await using agent = await startAgent();
    const bad = await collect(await agent.start({ argv: ["echo", "a\0b"], cwd: "/tmp", timeoutMs: 0, maxOutputBytes: 1024 }));
    expect(bad.exit.exitCode).toBe(126);
    expect(bad.stderr).toMatch(/null byte/);
    const badCwd = await collect(await agent.start({ argv: ["pwd"], cwd: "/no/such/dir", timeoutMs: 0, maxOutputBytes: 1024 }));
    expect(badCwd.exit.exitCode).not.toBe(0);
    const ok = await collect(await agent.start({ argv: ["echo", "still alive"], timeoutMs: 0, maxOutputBytes: 1024 }));
    expect(ok.stdout).toBe("still alive\n");
  });
});

describe("agent restarts", () => {
  it("a new agent kills the process groups a dead agent left running", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "agent-state-"));
    const first = await startAgent(stateDir);
    const proc = await first.start({ argv: ["sh", "-c", "echo $$; exec sleep 300"], timeoutMs: 0, maxOutputBytes: 1024 });
    let pid = 0;
    for await (const e of proc) {
      if (e.type === "stdout") {
        pid = Number(Buffer.from(e.data).toString().trim());
        break;
      }
    }
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    // The agent dies without cleaning up (SIGKILL of its process, as an OOM kill would).
    (first as unknown as { exec: { destroy(): void } }).exec.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    await using second = await startAgent(stateDir);
    await new Promise((r) => setTimeout(r, 100));
    const stat = existsSync(`/proc/${pid}/stat`) ? (await import("node:fs")).readFileSync(`/proc/${pid}/stat`, "utf8") : "";
    // Gone, or a zombie waiting for its (dead) parent's reaper.
    expect(stat === "" || / Z /.test(stat)).toBe(true);
    void second;
  });
});

describe("agent restarts: escaped processes", () => {
  it("a new agent kills what a dead agent's runs started outside their process groups", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "agent-state-"));
    const first = await startAgent(stateDir);
    const arg = `299.9${process.pid}`;
    const proc = await first.start({
      argv: ["sh", "-c", `setsid sleep ${arg} >/dev/null 2>&1 & sleep 0.2; echo ready; exec sleep 300`],
      timeoutMs: 0,
      maxOutputBytes: 1024,
    });
    for await (const e of proc) if (e.type === "stdout") break;
    await new Promise((r) => setTimeout(r, 800)); // a rescan records the escapee
    expect(findProcesses(["sleep", arg]).length).toBe(1);
    (first as unknown as { exec: { destroy(): void } }).exec.destroy();
    await new Promise((r) => setTimeout(r, 200));
    await using second = await startAgent(stateDir);
    await new Promise((r) => setTimeout(r, 100));
    expect(findProcesses(["sleep", arg])).toEqual([]);
    void second;
  });
});

describe("agent under concurrency", () => {
  it("keeps every run's output its own across many overlapping runs", async () => {
    await using agent = await startAgent();
    for (let batch = 0; batch < 10; batch++) {
      const runs = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          agent.start({ argv: ["sh", "-c", `echo out-${batch}-${i}; echo err-${batch}-${i} >&2`], timeoutMs: 5000, maxOutputBytes: 1024 }),
        ),
      );
      const results = await Promise.all(runs.map(collect));
      results.forEach((r, i) => {
        expect(r.stdout).toBe(`out-${batch}-${i}\n`);
        expect(r.stderr).toBe(`err-${batch}-${i}\n`);
        expect(r.exit.kind).toBe("exited");
      });
    }
    // A correctness test: 160 runs on a loaded 2-core machine may take longer than the default 5 s.
  }, 60_000);
});

/** Live processes (not zombies) whose command line is exactly `argv`. */
function findProcesses(argv: string[]): number[] {
  const want = argv.join("\0") + "\0";
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8") !== want) continue;
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

// Each escape starts `sleep <unique>` outside the run's process group and lets its parent go.
function escapes(tag: number): Record<string, string[]> {
  const s = (i: number) => `${300 + tag}.${i}${process.pid}`;
  return {
    // The shells give the child a moment to leave the group (killing the group first is no proof).
    setsid: ["sh", "-c", `setsid sleep ${s(1)} >/dev/null 2>&1 & sleep 0.3; echo started`],
    "double fork": ["sh", "-c", `(setsid sh -c 'sleep ${s(2)} >/dev/null 2>&1 &' &) ; sleep 0.3; echo started`],
    start_new_session: [
      "python3",
      "-c",
      `import subprocess; subprocess.Popen(['sleep', '${s(3)}'], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print('started')`,
    ],
  };
}

describe("agent: no process outlives its run", () => {
  let tag = 0;
  for (const ending of ["exits", "hits its deadline"] as const) {
    for (const kind of ["setsid", "double fork", "start_new_session"]) {
      it(`kills a child that escaped with ${kind} when the run ${ending}`, async () => {
        await using agent = await startAgent();
        const t = ++tag;
        const base = escapes(t)[kind] as string[];
        const argv = ending === "exits" ? base : [...base.slice(0, -1), `${base.at(-1)}; sleep 30`];
        if (ending !== "exits" && base[0] === "python3") argv[argv.length - 1] = `${base.at(-1)}; import time; time.sleep(30)`;
        const sleepArg = (base.at(-1) as string).match(/sleep'?,? '?(\d+\.\d+)/)?.[1] as string;
        const r = await collect(await agent.start({ argv, timeoutMs: ending === "exits" ? 10_000 : 1500, maxOutputBytes: 1024 }));
        expect(r.stdout).toBe("started\n");
        expect(r.exit.kind).toBe(ending === "exits" ? "exited" : "timeout");
        expect(findProcesses(["sleep", sleepArg])).toEqual([]);
      });
    }
  }
});

describe("agent: concurrent runs keep their own processes", () => {
  it("a run's escaped child dies with it while another run's children live on until that run ends", async () => {
    await using agent = await startAgent();
    const x = `298.1${process.pid}`;
    const y = `298.2${process.pid}`;
    const long = collect(
      await agent.start({ argv: ["sh", "-c", `setsid sleep ${y} >/dev/null 2>&1 & sleep 2.5; echo long`], timeoutMs: 20_000, maxOutputBytes: 1024 }),
    );
    await new Promise((r) => setTimeout(r, 300));
    // Orphaned at once, in its own session, holding the short run's stdout.
    const short = await collect(
      await agent.start({ argv: ["sh", "-c", `(setsid sleep ${x} &); sleep 0.3; echo short`], timeoutMs: 20_000, maxOutputBytes: 1024 }),
    );
    expect(short.stdout).toBe("short\n");
    expect(findProcesses(["sleep", x])).toEqual([]);
    expect(findProcesses(["sleep", y]).length).toBe(1);
    expect((await long).stdout).toBe("long\n");
    expect(findProcesses(["sleep", y])).toEqual([]);
  });
});

describe("agent flow control", () => {
  const window = 64 * 1024;
  /** Reads a process's events; acks each output chunk when `acking()` says so, else keeps it for later. */
  function reader(p: RunningProcess) {
    const state = { bytes: 0, unacked: 0, acking: false, exit: undefined as ProcessEvent | undefined, data: [] as Buffer[] };
    const release = () => {
      const n = state.unacked;
      state.unacked = 0;
      p.ack(n);
    };
    const done = (async () => {
      for await (const e of p) {
        if (e.type === "stdout" || e.type === "stderr") {
          state.bytes += e.data.byteLength;
          state.data.push(Buffer.from(e.data));
          state.unacked += e.data.byteLength;
          if (state.acking) release();
        } else if (e.type === "exit") state.exit = e;
      }
    })();
    return {
      state,
      done,
      resume: () => {
        state.acking = true;
        release();
      },
    };
  }
  const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("stops reading a run at its window, never holds up another run, and resumes on credit with every byte", async () => {
    await using agent = await startAgent();
    const total = 3_000_000;
    const stalled = reader(
      await agent.start({
        argv: ["sh", "-c", `head -c ${total} /dev/urandom | od -An -v -tx1 | head -c ${total}`],
        timeoutMs: 0,
        maxOutputBytes: 1 << 30,
        creditWindowBytes: window,
      }),
    );
    // Wait for the first output (a loaded machine starts the pipeline late), then give the
    // agent time to overrun the window if it would.
    for (let waited = 0; stalled.state.bytes === 0 && waited < 20_000; waited += 50) await settle(50);
    await settle(500);
    // At most one window was sent without credit.
    expect(stalled.state.bytes).toBeGreaterThan(0);
    expect(stalled.state.bytes).toBeLessThanOrEqual(window);
    const other = await collect(
      await agent.start({ argv: ["sh", "-c", "head -c 500000 /dev/zero"], timeoutMs: 5000, maxOutputBytes: 1 << 30, creditWindowBytes: 0 }),
    );
    expect(other.stdout.length).toBe(500_000);
    expect(stalled.state.bytes).toBeLessThanOrEqual(window);
    expect(stalled.state.exit).toBeUndefined();
    stalled.resume();
    await stalled.done;
    expect(stalled.state.bytes).toBe(total);
    expect(stalled.state.exit).toMatchObject({ exit: { kind: "exited", exitCode: 0, stdoutBytes: total } });
    // In order: od's lines are intact from the first byte to the last.
    expect(/^( [0-9a-f]{2}){16}\n/.test(Buffer.concat(stalled.state.data).subarray(0, 49).toString())).toBe(true);
  }, 60_000);

  it("a leader that exited while its output was held loses nothing: the drain waits for credit", async () => {
    await using agent = await startAgent();
    // The writer outlives the leader; without credit it blocks, and the drain grace waits.
    const r = reader(
      await agent.start({ argv: ["sh", "-c", "head -c 400000 /dev/zero & exit 0"], timeoutMs: 0, maxOutputBytes: 1 << 30, creditWindowBytes: window }),
    );
    await settle(800);
    expect(r.state.exit).toBeUndefined();
    r.resume();
    await r.done;
    expect(r.state.bytes).toBe(400_000);
    expect(r.state.exit).toMatchObject({ exit: { kind: "exited", exitCode: 0 } });
  });

  it("a stalled reader cannot hold a run past its deadline or a kill", async () => {
    await using agent = await startAgent();
    const t0 = Date.now();
    const flood = ["sh", "-c", "head -c 50000000 /dev/zero"];
    const timed = reader(await agent.start({ argv: flood, timeoutMs: 600, maxOutputBytes: 1 << 30, creditWindowBytes: window }));
    const killedProc = await agent.start({ argv: flood, timeoutMs: 0, maxOutputBytes: 1 << 30, creditWindowBytes: window });
    const killed = reader(killedProc);
    // The leader exited, a child holds the output: the deadline still ends it.
    const heldExit = reader(
      await agent.start({ argv: ["sh", "-c", "head -c 400000 /dev/zero & exit 0"], timeoutMs: 900, maxOutputBytes: 1 << 30, creditWindowBytes: window }),
    );
    await settle(300);
    killedProc.kill("cancelled");
    await killed.done;
    expect(killed.state.exit).toMatchObject({ exit: { kind: "cancelled" } });
    await timed.done;
    expect(timed.state.exit).toMatchObject({ exit: { kind: "timeout" } });
    await heldExit.done;
    expect(heldExit.state.exit?.type).toBe("exit");
    expect(Date.now() - t0).toBeLessThan(3000);
    // At most the window, plus what the run's two pipes held when it was killed (the agent
    // drains them whatever the credit; OUTPUT_PIPE_BYTES each, src/agent/sandboxd_agent.py).
    for (const r of [timed, killed, heldExit]) expect(r.state.bytes).toBeLessThanOrEqual(window + 2 * 262_144);
  });

  it("output past the cap is dropped without credit; the run ends truncated", async () => {
    await using agent = await startAgent();
    const r = reader(
      await agent.start({ argv: ["sh", "-c", "head -c 5000000 /dev/zero"], timeoutMs: 10_000, maxOutputBytes: 100_000, creditWindowBytes: window }),
    );
    r.resume();
    await r.done;
    expect(r.state.bytes).toBe(100_000);
    expect(r.state.exit).toMatchObject({ exit: { truncated: true, kind: "exited" } });
  });
});

describe("agent stdin flow control", () => {
  it("holds a writer back at the stdin window while the process does not read, keeps other runs going, then delivers every byte", async () => {
    await using agent = await startAgent();
    // It reads its stdin only once the test says so (the go file), however loaded the machine.
    const go = join(mkdtempSync(join(tmpdir(), "agent-stdin-")), "go");
    const p = await agent.start({
      argv: ["sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.05; done; wc -c', go],
      keepStdinOpen: true,
      timeoutMs: 30_000,
      maxOutputBytes: 1024,
    });
    const chunk = Buffer.alloc(256 * 1024, 7);
    let accepted = 0;
    const writer = (async () => {
      for (let i = 0; i < 32; i++) {
        await p.writeStdin(chunk);
        accepted += chunk.length;
      }
      p.closeStdin();
    })();
    await new Promise((r) => setTimeout(r, 700));
    // The 1 MiB window (plus the pipe's 64 KiB and the chunk that crossed it), not 8 MiB.
    expect(accepted).toBeLessThanOrEqual(2 * 1024 * 1024);
    const other = await collect(await agent.start({ argv: ["echo", "other"], timeoutMs: 5000, maxOutputBytes: 1024 }));
    expect(other.stdout).toBe("other\n");
    expect(accepted).toBeLessThanOrEqual(2 * 1024 * 1024);
    writeFileSync(go, "");
    await writer;
    const r = await collect(p);
    expect(r.stdout.trim()).toBe(String(32 * chunk.length));
  });
});

describe("files through the agent channel", () => {
  it("writes and reads back bytes exactly, small and large, streamed or whole", async () => {
    await using agent = await startAgent();
    const dir = mkdtempSync(join(tmpdir(), "agent-files-"));
    const all = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    await agent.writeFile(join(dir, "sub/dir/bytes.bin"), all, 0o600);
    expect(Buffer.from((await agent.readFile(join(dir, "sub/dir/bytes.bin"))) ?? [])).toEqual(all);
    // 9 MiB in chunks: more than the frame size and the read's credit window.
    const big = Buffer.alloc(9 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    await agent.writeFile(
      join(dir, "big.bin"),
      (async function* () {
        for (let at = 0; at < big.length; at += 700_000) yield big.subarray(at, at + 700_000);
      })(),
      0o644,
    );
    const back = await agent.readFile(join(dir, "big.bin"));
    expect(back?.byteLength).toBe(big.length);
    expect(Buffer.from(back ?? []).equals(big)).toBe(true);
    // Runs still work between transfers on the same channel.
    const ok = await collect(await agent.start({ argv: ["cat", join(dir, "sub/dir/bytes.bin")], timeoutMs: 0, maxOutputBytes: 1024 }));
    expect(ok.stdout.length).toBeGreaterThan(0);
  });

  it("a missing file reads as undefined; a failing write or read rejects and the agent goes on", async () => {
    await using agent = await startAgent();
    const dir = mkdtempSync(join(tmpdir(), "agent-files-"));
    expect(await agent.readFile(join(dir, "nothing-here"))).toBeUndefined();
    await expect(agent.readFile(dir)).rejects.toThrow(/not a regular file/);
    await agent.writeFile(join(dir, "f"), Buffer.from("12345"), 0o644);
    await expect(agent.readFile(join(dir, "f"), { maxBytes: 4 })).rejects.toThrow(/more than 4/);
    await expect(agent.writeFile(join(dir, "f", "under-a-file"), Buffer.from("x"), 0o644)).rejects.toThrow(/File exists/);
    expect(Buffer.from((await agent.readFile(join(dir, "f"))) ?? []).toString()).toBe("12345");
  });

  it("a run's program files travel with its start, as bytes", async () => {
    await using agent = await startAgent();
    const dir = mkdtempSync(join(tmpdir(), "agent-files-"));
    const binary = Buffer.from([0, 1, 2, 255, 10, 13]);
    const r = await collect(
      await agent.start({
        argv: ["sh", "-c", `cat ${join(dir, "a.txt")}; od -An -tx1 ${join(dir, "b.bin")}`],
        files: [
          { path: join(dir, "a.txt"), data: Buffer.from("first\n"), mode: 0o644 },
          { path: join(dir, "b.bin"), data: binary, mode: 0o644 },
        ],
        timeoutMs: 0,
        maxOutputBytes: 1024,
      }),
    );
    expect(r.stdout.replace(/\s+/g, " ").trim()).toBe("first 00 01 02 ff 0a 0d");
  });
});
