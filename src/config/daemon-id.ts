import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { join } from "node:path";

/** Where the daemon keeps what must outlive it on this host: root's or the user's state. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (process.getuid?.() === 0) return "/var/lib/sandboxd";
  return join(env["XDG_STATE_HOME"] || join(homedir(), ".local", "state"), "sandboxd");
}

const idPattern = /^[a-z0-9][a-z0-9-]{0,40}$/;

/**
 * The daemon id of this host and state directory: made once (host name plus a random
 * part) and kept in `<stateDir>/daemon-id`, so a restart finds its sandboxes again while
 * two daemons with their own state directories never share an id.
 */
export function persistentDaemonId(stateDir: string): string {
  const file = join(stateDir, "daemon-id");
  try {
    const id = readFileSync(file, "utf8").trim();
    if (idPattern.test(id)) return id;
  } catch {
    // None yet: make one below.
  }
  const host =
    hostname()
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 24) || "host";
  const id = `${host}-${randomBytes(4).toString("hex")}`;
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  // `wx`: two daemons starting at once on a fresh state directory agree on the first id.
  try {
    writeFileSync(file, `${id}\n`, { flag: "wx", mode: 0o600 });
    return id;
  } catch {
    const again = readFileSync(file, "utf8").trim();
    if (idPattern.test(again)) return again;
    throw new Error(`${file} does not hold a valid daemon id`);
  }
}
