import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describeError, invalidArgument, notFound } from "../common/errors.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import { download, type DownloadPart } from "../files/file-transfer.js";
import type { CapturedPlot, ProcessFile } from "../runtime/process.js";
import type { SandboxChannel } from "../runtime/sandbox-channel.js";
import type { CaptureSession, CaptureStage } from "../sandbox/run-pipeline.js";
import type { ImageRecorder } from "../interactive/session.js";
import type { ArtifactInfo, Run } from "../sandbox/run.js";
import type { Sandbox } from "../sandbox/sandbox.js";
import { clearScript, collectorScript, moveScript } from "./collector-script.js";
import { formatOf, mimeOf, pngSize } from "./formats.js";

/** Everything of the capture machinery lives under here inside a sandbox. */
const artifactsRoot = "/tmp/.sandboxd/artifacts";
const storeDir = `${artifactsRoot}/store`;
/** The sandbox's artifact metadata, so a restarted daemon that re-adopts the sandbox finds them again. */
const indexFile = `${artifactsRoot}/index.json`;
const spoolRoot = `${artifactsRoot}/spool`;
const hookRoot = "/tmp/.sandboxd/capture";

const pythonHook = readFileSync(new URL("./capture/python/sitecustomize.py", import.meta.url));
const rProfile = readFileSync(new URL("./capture/r/Rprofile.R", import.meta.url));

/** Plot capture per language: the files put into the sandbox and the environment of the run. */
const captureHooks: Record<string, { files: ProcessFile[]; env: (spool: string, env: Record<string, string>) => Record<string, string> }> = {
  python: {
    files: [{ path: `${hookRoot}/python/sitecustomize.py`, data: pythonHook, mode: 0o644 }],
    env: (spool, env) => ({
      PYTHONPATH: env["PYTHONPATH"] ? `${hookRoot}/python:${env["PYTHONPATH"]}` : `${hookRoot}/python`,
      SANDBOXD_CAPTURE_DIR: spool,
    }),
  },
  r: {
    files: [{ path: `${hookRoot}/r/Rprofile.R`, data: rProfile, mode: 0o644 }],
    env: (spool) => ({ R_PROFILE_USER: `${hookRoot}/r/Rprofile.R`, SANDBOXD_CAPTURE_DIR: spool }),
  },
};

interface StoredArtifact {
  info: ArtifactInfo;
  /** Where the bytes are inside the sandbox. */
  path: string;
}

/** Per-sandbox artifact state (the bytes stay in the sandbox). */
interface SandboxArtifacts {
  /** The plot counter: the index of the last artifact; ClearArtifacts resets it. */
  counter: number;
  artifacts: Map<string, StoredArtifact>;
  /** Output-dir files already announced, by path, with their size and mtime then. */
  seenOutputs: Map<string, string>;
  /** Collections and clears of one sandbox run one at a time. */
  queue: Promise<unknown>;
  /** Whether the metadata kept in the sandbox was read (only re-adopted sandboxes have any). */
  loaded: boolean;
  /** Plots announced live whose files are still to be moved from their spool into the store: [from, to]. */
  moves: [string, string][];
  /** A move of `moves` is queued. */
  moving: boolean;
}

/** One run's plots announced while it ran. */
interface LiveRun {
  /** Spool file names announced (the collector leaves them alone). */
  names: Set<string>;
  /** A plot could not be announced live: this one and every later one wait for the collector, to keep their order. */
  deferred: boolean;
}

interface PersistedIndex {
  counter: number;
  artifacts: { info: Omit<ArtifactInfo, "createdAt"> & { createdAt: number }; path: string }[];
  seenOutputs: [string, string][];
}

const maxPerRun = 1000;
const u32 = (v: string | undefined) => Math.min(0xffffffff, Math.max(0, Math.round(Number(v) || 0)));

/**
 * Plots and output files of runs. Before a Run starts, `prepare` gives the language's
 * capture hook (Python: a sitecustomize on PYTHONPATH; R: a user profile) and a per-run
 * spool directory; after the program exited (RunPlan.beforeExit, so before the `exited`
 * event) one small collector process in the sandbox moves the run's plots into the
 * sandbox's store under their index and lists new files of the output dir. Each becomes
 * an `artifact` event of the run and an entry of ListArtifacts. Plots accumulate across
 * runs with one counter per sandbox until ClearArtifacts (or a run's clear_artifacts).
 */
export class ArtifactManager implements CaptureStage, ImageRecorder {
  private readonly log: Logger;
  /** Forgotten with the sandbox object. */
  private readonly states = new WeakMap<Sandbox, SandboxArtifacts>();
  /** Sandboxes created before this instance existed were re-adopted: their metadata is read back. */
  private readonly startedAt = Date.now();

  constructor(logger: Logger) {
    this.log = logger.child({ component: "artifacts" });
  }

  private state(sandbox: Sandbox): SandboxArtifacts {
    let s = this.states.get(sandbox);
    if (!s) {
      s = {
        counter: 0,
        artifacts: new Map(),
        seenOutputs: new Map(),
        queue: Promise.resolve(),
        loaded: sandbox.createdAt.getTime() >= this.startedAt - 1000,
        moves: [],
        moving: false,
      };
      this.states.set(sandbox, s);
    }
    return s;
  }

  private serialize<T>(sandbox: Sandbox, fn: () => Promise<T>): Promise<T> {
    const s = this.state(sandbox);
    const run = async () => {
      await this.load(sandbox, s);
      return fn();
    };
    const next = s.queue.then(run, run);
    s.queue = next.catch(() => undefined);
    return next;
  }

  /** Reads back what an earlier daemon recorded in a re-adopted sandbox. */
  private async load(sandbox: Sandbox, s: SandboxArtifacts): Promise<void> {
    if (s.loaded) return;
    s.loaded = true;
    try {
      const runner = await sandbox.runner();
      const data = await runner.readFile(indexFile, { maxBytes: 64 * 1024 * 1024 });
      const text = data ? Buffer.from(data).toString("utf8") : "";
      if (text.trim() === "") return;
      const index = JSON.parse(text) as PersistedIndex;
      const outputPrefix = `${sandbox.config.outputDir}/`;
      for (const a of index.artifacts ?? []) {
        if (typeof a.path !== "string" || !(a.path.startsWith(`${storeDir}/`) || a.path.startsWith(outputPrefix))) continue;
        if (typeof a.info?.id !== "string" || !/^art_[a-z0-9]+$/.test(a.info.id)) continue;
        const info: ArtifactInfo = {
          id: a.info.id,
          sandboxId: sandbox.id,
          name: String(a.info.name ?? ""),
          mimeType: mimeOf(String(a.info.format ?? "")),
          format: String(a.info.format ?? ""),
          size: u32(String(a.info.size)),
          width: u32(String(a.info.width)),
          height: u32(String(a.info.height)),
          dpi: u32(String(a.info.dpi)),
          index: u32(String(a.info.index)),
          runId: String(a.info.runId ?? ""),
          createdAt: new Date(Number(a.info.createdAt) || Date.now()),
        };
        s.artifacts.set(info.id, { info, path: a.path });
      }
      s.counter = u32(String(index.counter));
      for (const [path, sig] of index.seenOutputs ?? []) if (typeof path === "string" && typeof sig === "string") s.seenOutputs.set(path, sig);
      this.log.info({ sandboxId: sandbox.id, artifacts: s.artifacts.size, counter: s.counter }, "artifact metadata read back from the sandbox");
    } catch (err) {
      this.log.warn({ sandboxId: sandbox.id, err: describeError(err) }, "reading artifact metadata back failed; starting empty");
    }
  }

  /** Records the metadata inside the sandbox (state lives with the container). */
  private async persist(runner: SandboxChannel, s: SandboxArtifacts): Promise<void> {
    const index: PersistedIndex = {
      counter: s.counter,
      artifacts: [...s.artifacts.values()].map((a) => ({ info: { ...a.info, createdAt: a.info.createdAt.getTime() }, path: a.path })),
      seenOutputs: [...s.seenOutputs],
    };
    await runner.writeFile(indexFile, Buffer.from(JSON.stringify(index)), 0o600);
  }

  /** True when plots of this sandbox's language can be captured. */
  static supportsPlots(language: string): boolean {
    return language in captureHooks;
  }

  /**
   * The capture stage of a Run: clears first when asked, then gives the language's hook
   * (files and env, when plot capture is on) and a per-run spool directory; `collect`
   * announces the run's plots and new output-dir files before its exit event.
   */
  async prepare(sandbox: Sandbox, run: Run, options: { clearArtifacts: boolean; env: Record<string, string> }): Promise<CaptureSession> {
    if (options.clearArtifacts) await this.clear(sandbox);
    // A re-adopted sandbox's counter is read back before a plot can be numbered live.
    else if (!this.state(sandbox).loaded) await this.serialize(sandbox, () => Promise.resolve());
    const spool = `${spoolRoot}/${randomBytes(8).toString("hex")}`;
    const hook = sandbox.config.capturePlots ? captureHooks[sandbox.handler.name] : undefined;
    const startedAt = Date.now();
    const live: LiveRun = { names: new Set(), deferred: false };
    return {
      files: hook ? hook.files : [],
      env: hook ? hook.env(spool, options.env) : {},
      ...(hook ? { live: { dir: spool, announce: (plot: CapturedPlot) => this.announce(sandbox, run, spool, live, plot) } } : {}),
      collect: () => this.collect(sandbox, run, spool, startedAt, live),
    };
  }

  /**
   * A plot the sandbox's channel saw the hook write while the run goes on: numbered and
   * announced (an `artifact` event of the run) at once, in the order the hook wrote them;
   * its file is moved from the spool into the store in the background, through the same
   * queue as downloads, which therefore find it there. Whatever cannot be announced here
   * is left to the collector at exit, and so is every later plot of the run (order kept).
   */
  private announce(sandbox: Sandbox, run: Run, spool: string, live: LiveRun, plot: CapturedPlot): void {
    const s = this.state(sandbox);
    const format = plot.format
      .toLowerCase()
      .replace(/[^a-z0-9]/g, "")
      .slice(0, 16);
    if (!live.deferred && (!s.loaded || !/^[A-Za-z0-9_~-][A-Za-z0-9_.~-]{0,200}$/.test(plot.name) || format === "")) live.deferred = true;
    if (live.deferred || live.names.has(plot.name) || live.names.size >= maxPerRun) return;
    live.names.add(plot.name);
    const index = ++s.counter;
    const path = `${storeDir}/${String(index).padStart(6, "0")}.${format}`;
    const info = this.add(
      s,
      sandbox,
      run,
      path,
      `${String(index).padStart(6, "0")}.${format}`,
      format,
      index,
      u32(String(plot.size)),
      u32(String(plot.width)),
      u32(String(plot.height)),
      u32(String(plot.dpi)),
    );
    run.append({ type: "artifact", artifact: info });
    s.moves.push([`${spool}/${plot.name}`, path]);
    if (s.moving) return;
    s.moving = true;
    void this.serialize(sandbox, async () => {
      s.moving = false;
      const batch = s.moves.splice(0);
      if (batch.length === 0) return;
      const runner = await sandbox.runner();
      await runScript(runner, [moveScript, storeDir, ...batch.flat()]);
      await this.persist(runner, s);
    }).catch((err: unknown) => this.log.warn({ sandboxId: sandbox.id, err: describeError(err) }, "storing live plots failed"));
  }

  private collect(sandbox: Sandbox, run: Run, spool: string, startedAt: number, live: LiveRun): Promise<void> {
    return this.serialize(sandbox, async () => {
      const s = this.state(sandbox);
      const runner = await sandbox.runner();
      const since = ((startedAt - 1000) / 1000).toFixed(3);
      const skip = [...live.names].join(" ");
      const out = await runScript(runner, [collectorScript, spool, storeDir, String(s.counter + 1), sandbox.config.outputDir, since, skip]);
      const announced: ArtifactInfo[] = [];
      for (const line of out.split("\n")) {
        const f = line.split("\t");
        if (announced.length + live.names.size >= maxPerRun) break;
        if (f[0] === "P" && f.length === 8) {
          const index = u32(f[1]);
          const path = f[2] ?? "";
          if (index !== s.counter + 1 || !path.startsWith(`${storeDir}/`)) continue;
          const format = (f[3] ?? "")
            .toLowerCase()
            .replace(/[^a-z0-9]/g, "")
            .slice(0, 16);
          s.counter = index;
          announced.push(
            this.add(s, sandbox, run, path, `${String(index).padStart(6, "0")}.${format}`, format, index, u32(f[7]), u32(f[4]), u32(f[5]), u32(f[6])),
          );
        } else if (f[0] === "O" && f.length === 6) {
          const path = f[1] ?? "";
          const signature = `${f[2]} ${f[3]}`;
          if (!path.startsWith(`${sandbox.config.outputDir}/`) || s.seenOutputs.get(path) === signature) continue;
          s.seenOutputs.set(path, signature);
          const format = formatOf(path);
          s.counter += 1;
          announced.push(
            this.add(s, sandbox, run, path, path.slice(sandbox.config.outputDir.length + 1), format, s.counter, u32(f[2]), u32(f[4]), u32(f[5]), 0),
          );
        }
      }
      for (const artifact of announced) run.append({ type: "artifact", artifact });
      if (announced.length > 0)
        await this.persist(runner, s).catch((err: unknown) => this.log.warn({ err: describeError(err) }, "recording artifact metadata failed"));
      if (announced.length > 0) this.log.debug({ sandboxId: sandbox.id, runId: run.id, count: announced.length }, "artifacts collected");
    });
  }

  private add(
    s: SandboxArtifacts,
    sandbox: Sandbox,
    run: Run,
    path: string,
    name: string,
    format: string,
    index: number,
    size: number,
    width: number,
    height: number,
    dpi: number,
  ): ArtifactInfo {
    const info: ArtifactInfo = {
      id: newId("art"),
      sandboxId: sandbox.id,
      name,
      mimeType: mimeOf(format),
      format,
      size,
      width,
      height,
      dpi,
      index,
      runId: run.id,
      createdAt: new Date(),
    };
    // A newer plot stored under the same path (after a clear) replaces the older entry.
    for (const [id, a] of s.artifacts) if (a.path === path) s.artifacts.delete(id);
    s.artifacts.set(info.id, { info, path });
    return info;
  }

  /**
   * Records an image a session cell displayed (IPython `display_data`) as an artifact of
   * the sandbox, numbered by the same counter as plots. The id is assigned at once, so the
   * stream can announce it in order; the bytes are written into the sandbox in the
   * background (downloads wait for that through the same queue).
   */
  recordImage(sandbox: Sandbox, runId: string, format: "png" | "svg", data: Uint8Array): ArtifactInfo | undefined {
    if (!sandbox.config.capturePlots) return undefined;
    const s = this.state(sandbox);
    const index = ++s.counter;
    const id = newId("art");
    const path = `${storeDir}/${id}.${format}`;
    const size = format === "png" ? pngSize(data) : { width: 0, height: 0 };
    const info: ArtifactInfo = {
      id,
      sandboxId: sandbox.id,
      name: `display_${index}.${format}`,
      mimeType: mimeOf(format),
      format,
      size: data.byteLength,
      width: size.width,
      height: size.height,
      dpi: 0,
      index,
      runId,
      createdAt: new Date(),
    };
    s.artifacts.set(id, { info, path });
    void this.serialize(sandbox, async () => {
      const runner = await sandbox.runner();
      await runner.writeFile(path, data, 0o600);
      await this.persist(runner, s);
    }).catch((err: unknown) => this.log.warn({ sandboxId: sandbox.id, err: describeError(err) }, "storing a displayed image failed"));
    return info;
  }

  /** The sandbox's artifacts, oldest first. */
  list(sandbox: Sandbox): Promise<ArtifactInfo[]> {
    return this.serialize(sandbox, async () =>
      [...this.state(sandbox).artifacts.values()].map((a) => a.info).sort((a, b) => a.index - b.index || a.createdAt.getTime() - b.createdAt.getTime()),
    );
  }

  /** Deletes the stored plots and resets the counter. Output-dir files are the program's: they stay, only forgotten. */
  clear(sandbox: Sandbox): Promise<number> {
    return this.serialize(sandbox, async () => {
      const s = this.state(sandbox);
      const cleared = s.artifacts.size;
      const runner = await sandbox.runner();
      await runScript(runner, [clearScript, storeDir]);
      s.artifacts.clear();
      s.counter = 0;
      await this.persist(runner, s).catch((err: unknown) => this.log.warn({ err: describeError(err) }, "recording artifact metadata failed"));
      return cleared;
    });
  }

  /** The artifact's metadata, then its bytes streamed from the sandbox, then a trailer. */
  async *download(sandbox: Sandbox, artifactId: string, signal: AbortSignal): AsyncGenerator<{ type: "artifact"; info: ArtifactInfo } | DownloadPart> {
    if (artifactId === "") throw invalidArgument("artifact_id is required");
    const stored = await this.serialize(sandbox, async () => this.state(sandbox).artifacts.get(artifactId));
    if (!stored) throw notFound(`artifact ${JSON.stringify(artifactId.slice(0, 100))} not found in sandbox ${sandbox.id}`, { reason: "ARTIFACT_NOT_FOUND" });
    const target = { channel: await sandbox.runner(), workdir: sandbox.config.workdir };
    for await (const part of download(target, stored.path, "file", signal)) {
      if (part.type === "header") yield { type: "artifact", info: { ...stored.info, size: part.size } };
      else yield part;
    }
  }
}

/** Runs one of the artifact scripts through the sandbox's runner (a fork, with the agent) and returns its stdout. */
async function runScript(runner: SandboxChannel, args: string[]): Promise<string> {
  const [script, ...rest] = args;
  const proc = await runner.start({ argv: ["sh", "-c", script ?? "", "sandboxd-artifacts", ...rest], timeoutMs: 30_000, maxOutputBytes: 4 * 1024 * 1024 });
  const out: Buffer[] = [];
  let err = "";
  for await (const ev of proc) {
    if (ev.type === "stdout") out.push(Buffer.from(ev.data));
    else if (ev.type === "stderr") err += Buffer.from(ev.data).toString("utf8").slice(0, 2000);
    else if (ev.type === "exit" && (ev.exit.kind !== "exited" || ev.exit.exitCode !== 0)) {
      throw new Error(`artifact script failed (${ev.exit.kind} ${ev.exit.exitCode}): ${err.trim() || ev.exit.message || ""}`);
    }
  }
  return Buffer.concat(out).toString("utf8");
}
