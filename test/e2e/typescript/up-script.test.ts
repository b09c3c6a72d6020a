import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../helpers/daemon.js";

// The README's first command as a user runs it: scripts/up.sh installs what the daemon needs
// (here everything is present already), builds dist/, starts the daemon in the background and
// streams a first run. The daemon it leaves is stopped at the end; it keeps its state (and
// so its daemon id) in a directory of its own, apart from any daemon the machine runs.

const state = mkdtempSync(join(tmpdir(), "sandboxd-up-"));
let listen = "";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

afterAll(() => {
  try {
    const pid = Number(readFileSync(join(state, "sandboxd.pid"), "utf8"));
    if (pid > 0) process.kill(pid, "SIGTERM");
  } catch {
    // no daemon was started
  }
});

describe("scripts/up.sh", () => {
  it("starts the daemon in the background and streams a first run, live and in order", async () => {
    listen = `127.0.0.1:${await freePort()}`;
    const r = spawnSync("bash", ["scripts/up.sh"], {
      cwd: repoRoot,
      env: { ...process.env, SANDBOXD_LISTEN: listen, SANDBOXD_UP_STATE: state, SANDBOXD_UP_FINISH: "0", SANDBOXD_STATE_DIR: state },
      encoding: "utf8",
      timeout: 300_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`sandboxd is listening on ${listen}`);
    // The first run's own output, between the script's markers, exactly.
    const run = r.stdout.split("--- a first streaming run ---\n")[1]?.split("--- first run after")[0];
    expect(run).toBe("tick 0\ntick 1\ntick 2\ndone\n");
    expect(r.stdout).toMatch(/--- first run after \d+s ---/);
    // The daemon keeps running after the script: its pid file names a live process.
    const pid = Number(readFileSync(join(state, "sandboxd.pid"), "utf8"));
    expect(() => process.kill(pid, 0)).not.toThrow();
    expect(readFileSync(join(state, "sandboxd.log"), "utf8")).toContain("sandboxd listening");
  });

  it("a second call finds the daemon running and only makes the run", () => {
    const pidBefore = readFileSync(join(state, "sandboxd.pid"), "utf8");
    const r = spawnSync("bash", ["scripts/up.sh"], {
      cwd: repoRoot,
      env: { ...process.env, SANDBOXD_LISTEN: listen, SANDBOXD_UP_STATE: state, SANDBOXD_UP_FINISH: "0", SANDBOXD_STATE_DIR: state },
      encoding: "utf8",
      timeout: 300_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(state, "sandboxd.pid"), "utf8")).toBe(pidBefore);
    expect(r.stdout).toContain("tick 2\ndone\n");
  });
});
