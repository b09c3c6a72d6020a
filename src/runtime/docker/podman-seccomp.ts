import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Podman's default seccomp profile allows unshare, clone with namespace flags, and mount
 * outright (it counts on capabilities, which a user namespace hands back): inside a
 * Podman sandbox `unshare -Urm` then succeeds and the sandbox can mount tmpfs. Docker's
 * default profile refuses both to processes without CAP_SYS_ADMIN. This derives a profile
 * from the engine host's own default with Docker's rule restored: no new namespaces (clone
 * only without namespace flags, clone3 answered ENOSYS so libc falls back to clone), no
 * unshare, no mounts.
 */
interface SeccompRule {
  names: string[];
  action: string;
  args?: unknown[] | null;
  includes?: Record<string, unknown> | null;
  excludes?: Record<string, unknown> | null;
  errnoRet?: number;
}

interface SeccompProfile {
  defaultAction: string;
  syscalls: SeccompRule[];
  [k: string]: unknown;
}

const refused = ["unshare", "clone", "clone3", "mount", "umount", "umount2", "pivot_root", "setns", "fsopen", "fsmount", "move_mount", "open_tree"];
/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET */
const namespaceFlags = 0x7e020000;
const EPERM = 1;
const ENOSYS = 38;

export function hardenSeccompProfile(base: SeccompProfile): SeccompProfile {
  const profile = structuredClone(base);
  for (const rule of profile.syscalls) {
    // Only rules that allow unconditionally are loosened by the base; conditional ones
    // (CAP_SYS_ADMIN) never apply to a sandbox, whose capabilities are all dropped.
    if (rule.action === "SCMP_ACT_ALLOW") rule.names = rule.names.filter((n) => !refused.includes(n));
  }
  profile.syscalls = profile.syscalls.filter((r) => r.names.length > 0);
  profile.syscalls.push(
    { names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: namespaceFlags, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }] },
    { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS },
    { names: refused.filter((n) => n !== "clone" && n !== "clone3"), action: "SCMP_ACT_ERRNO", errnoRet: EPERM },
  );
  return profile;
}

/**
 * Writes the hardened profile into the state directory and returns its path (Podman's API
 * takes a path on its own host: the daemon and the Podman service share this machine).
 */
export function writePodmanSeccompProfile(stateDir: string, basePath: string): string {
  let base: SeccompProfile;
  try {
    base = JSON.parse(readFileSync(basePath, "utf8")) as SeccompProfile;
  } catch (err) {
    throw new Error(`cannot read Podman's default seccomp profile ${basePath}: ${(err as Error).message} (set --podman-seccomp-base)`);
  }
  if (typeof base.defaultAction !== "string" || !Array.isArray(base.syscalls)) throw new Error(`${basePath} is not a seccomp profile`);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, "podman-seccomp.json");
  // Written aside and renamed: daemons sharing a state directory never expose half a file.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(hardenSeccompProfile(base)), { mode: 0o644 });
  renameSync(tmp, path);
  return path;
}
