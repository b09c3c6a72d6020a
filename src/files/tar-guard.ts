import { posix } from "node:path";
import { extract as tarExtract, pack as tarPack, type Header } from "tar-stream";
import { SandboxdError, invalidArgument, permissionDenied } from "../common/errors.js";

/** Names the daemon uses for its own staging inside an upload's destination. */
export const reservedPrefix = ".sandboxd-upload-";

export type GuardedEntry =
  | { type: "file"; name: string; mode: number; size: number; mtime: Date }
  | { type: "directory"; name: string; mode: number; mtime: Date }
  | { type: "symlink"; name: string; linkname: string; mtime: Date };

// eslint-disable-next-line no-control-regex
const controlChars = /[\x00-\x1f\x7f]/;

function show(name: string): string {
  return JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}...` : name);
}

/**
 * Decides, entry by entry, what of an uploaded tar may reach the sandbox. Only regular
 * files, directories and symlinks pass; names must be relative without `..`; symlinks must
 * stay inside the destination (relative, their `..` only leading, never climbing above
 * the destination), and no entry may be written through a symlink of the same archive.
 * Anything else refuses the whole upload, so nothing of it is kept.
 */
export class TarEntryGuard {
  private readonly symlinks = new Set<string>();
  private readonly seen = new Set<string>();

  /** The entry as it will be re-packed, or null for entries that carry no file (`./`, pax globals). */
  check(header: Pick<Header, "name"> & Partial<Header>): GuardedEntry | null {
    const type: string = header.type ?? "file";
    if (type === "pax-global-header") return null;
    const raw = header.name;
    if (raw.includes("\0") || controlChars.test(raw))
      throw invalidArgument(`tar entry ${show(raw)} has control characters in its name`, { reason: "INVALID_TAR_ENTRY" });
    if (raw.startsWith("/")) throw invalidArgument(`tar entry ${show(raw)} has an absolute name`, { reason: "INVALID_TAR_ENTRY" });
    const parts = raw.split("/").filter((p: string) => p !== "" && p !== ".");
    if (parts.includes("..")) throw invalidArgument(`tar entry ${show(raw)} climbs out with '..'`, { reason: "INVALID_TAR_ENTRY" });
    const name = parts.join("/");
    const mtime = header.mtime ?? new Date();
    if (name === "") {
      if (type === "directory") return null;
      throw invalidArgument(`tar entry ${show(raw)} has an empty name`, { reason: "INVALID_TAR_ENTRY" });
    }
    if (parts[0]?.startsWith(reservedPrefix))
      throw invalidArgument(`tar entry ${show(raw)} uses a name reserved by the daemon`, { reason: "INVALID_TAR_ENTRY" });
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join("/");
      if (this.symlinks.has(ancestor)) {
        throw permissionDenied(`tar entry ${show(raw)} would be written through the symlink ${show(ancestor)}`, { reason: "SYMLINK_ESCAPE" });
      }
    }
    if (this.symlinks.has(name)) throw invalidArgument(`tar entry ${show(raw)} replaces a symlink of the same archive`, { reason: "INVALID_TAR_ENTRY" });
    switch (type) {
      case "file":
      case "contiguous-file": {
        this.seen.add(name);
        return { type: "file", name, mode: (header.mode ?? 0o644) & 0o7777, size: header.size ?? 0, mtime };
      }
      case "directory":
        this.seen.add(name);
        // The owner keeps rwx so the daemon can move entries out of its staging directory.
        return { type: "directory", name, mode: ((header.mode ?? 0o755) & 0o7777) | 0o700, mtime };
      case "symlink": {
        const target = header.linkname ?? "";
        checkLinkTarget(name, raw, target);
        if (this.seen.has(name)) throw invalidArgument(`tar entry ${show(raw)} replaces an earlier entry with a symlink`, { reason: "INVALID_TAR_ENTRY" });
        this.symlinks.add(name);
        this.seen.add(name);
        return { type: "symlink", name, linkname: target, mtime };
      }
      case "link":
        throw invalidArgument(`tar entry ${show(raw)} is a hard link; hard links cannot be uploaded`, { reason: "INVALID_TAR_ENTRY" });
      case "character-device":
      case "block-device":
        throw invalidArgument(`tar entry ${show(raw)} is a device file; devices cannot be uploaded`, { reason: "INVALID_TAR_ENTRY" });
      case "fifo":
        throw invalidArgument(`tar entry ${show(raw)} is a FIFO; only files, directories and symlinks can be uploaded`, { reason: "INVALID_TAR_ENTRY" });
      default:
        throw invalidArgument(`tar entry ${show(raw)} has unsupported type ${type}`, { reason: "INVALID_TAR_ENTRY" });
    }
  }
}

function checkLinkTarget(name: string, raw: string, target: string): void {
  if (target === "" || target.includes("\0") || controlChars.test(target)) {
    throw invalidArgument(`symlink ${show(raw)} has an empty or invalid target`, { reason: "INVALID_TAR_ENTRY" });
  }
  if (target.startsWith("/"))
    throw permissionDenied(`symlink ${show(raw)} points to the absolute path ${show(target)}, outside the destination`, { reason: "SYMLINK_ESCAPE" });
  const parts = target.split("/").filter((p) => p !== "" && p !== ".");
  // `..` after a name is resolved by the kernel through that name (maybe itself a link),
  // not lexically, so only leading `..` can be checked and allowed.
  const firstName = parts.findIndex((p) => p !== "..");
  if (firstName >= 0 && parts.slice(firstName).includes("..")) {
    throw permissionDenied(`symlink ${show(raw)} has '..' after a name in its target ${show(target)}`, { reason: "SYMLINK_ESCAPE" });
  }
  const resolved = posix.normalize(posix.join("/dest", posix.dirname(name), target));
  if (resolved !== "/dest" && !resolved.startsWith("/dest/")) {
    throw permissionDenied(`symlink ${show(raw)} points outside the destination (${show(target)})`, { reason: "SYMLINK_ESCAPE" });
  }
}

export interface RepackResult {
  files: number;
  directories: number;
  symlinks: number;
}

/**
 * Reads a client's tar, checks every entry with TarEntryGuard, and writes a fresh tar of
 * the accepted entries to `write` (which applies backpressure by resolving late). The
 * sandbox only ever unpacks what the daemon itself packed, so a parser difference between
 * tar-stream and the sandbox's tar cannot smuggle anything through. A `commitMarker`
 * entry is appended last: the sandbox keeps the upload only when it arrived. Throws on the
 * first refused entry; the caller then ends the sandbox's stdin without the marker.
 */
export async function repackTar(
  source: AsyncIterable<Uint8Array>,
  write: (chunk: Uint8Array) => Promise<void>,
  commitMarker: string,
  signal: AbortSignal,
): Promise<RepackResult> {
  const extract = tarExtract();
  const pack = tarPack();
  // Failures travel through the promises below; an 'error' event nobody listens to would
  // take the whole daemon down.
  const ignore = () => undefined;
  extract.on("error", ignore);
  pack.on("error", ignore);
  const guard = new TarEntryGuard();
  const result: RepackResult = { files: 0, directories: 0, symlinks: 0 };
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    extract.destroy(err instanceof Error ? err : new Error(String(err)));
    pack.destroy(err instanceof Error ? err : new Error(String(err)));
  };
  const onAbort = () => fail(signal.reason ?? new Error("aborted"));
  signal.addEventListener("abort", onAbort, { once: true });

  const feed = async () => {
    for await (const chunk of source) {
      if (failure !== undefined || extract.destroyed) return;
      if (!extract.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
        await waitDrain(extract);
      }
    }
    extract.end(undefined);
  };

  const repack = async () => {
    try {
      for await (const entry of extract) {
        entry.on("error", ignore);
        const accepted = guard.check(entry.header);
        if (!accepted) {
          for await (const _ of entry) void _;
          continue;
        }
        if (accepted.type === "file") {
          result.files++;
          await new Promise<void>((resolve, reject) => {
            const sink = pack.entry({ name: accepted.name, type: "file", mode: accepted.mode, size: accepted.size, mtime: accepted.mtime }, (err) =>
              err ? reject(err) : resolve(),
            );
            sink.on("error", ignore);
            void (async () => {
              try {
                for await (const data of entry) {
                  if (!sink.write(data)) await waitDrain(sink);
                }
                sink.end(undefined);
              } catch (err) {
                sink.destroy(err instanceof Error ? err : new Error(String(err)));
                reject(err);
              }
            })();
          });
        } else {
          for await (const _ of entry) void _;
          if (accepted.type === "directory") result.directories++;
          else result.symlinks++;
          await new Promise<void>((resolve, reject) =>
            pack.entry(
              accepted.type === "directory"
                ? { name: accepted.name, type: "directory", mode: accepted.mode, mtime: accepted.mtime }
                : { name: accepted.name, type: "symlink", linkname: accepted.linkname, mtime: accepted.mtime },
              (err) => (err ? reject(err) : resolve()),
            ),
          );
        }
      }
    } catch (err) {
      if (err instanceof SandboxdError) throw err;
      if (failure !== undefined) throw failure;
      throw invalidArgument(`the upload is not a valid tar archive: ${(err as Error).message}`, { reason: "INVALID_TAR", cause: err });
    }
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: commitMarker, type: "file", size: 0, mode: 0o600 }, Buffer.alloc(0), (err) => (err ? reject(err) : resolve())),
    );
    pack.finalize();
  };

  const send = async () => {
    for await (const chunk of pack) {
      await write(chunk as Uint8Array);
    }
  };

  const guarded = (p: Promise<void>) =>
    p.catch((err: unknown) => {
      fail(err);
      throw err;
    });
  try {
    const settled = await Promise.allSettled([guarded(feed()), guarded(repack()), guarded(send())]);
    if (failure !== undefined) throw failure;
    for (const s of settled) if (s.status === "rejected") throw s.reason;
    return result;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

type Emitter = { destroyed?: boolean; once(event: string, fn: () => void): unknown; removeListener(event: string, fn: () => void): unknown };

function waitDrain(stream: Emitter): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed) return resolve();
    const done = () => {
      stream.removeListener("drain", done);
      stream.removeListener("close", done);
      resolve();
    };
    stream.once("drain", done);
    stream.once("close", done);
  });
}
