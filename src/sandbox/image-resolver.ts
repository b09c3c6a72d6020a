import { createHash } from "node:crypto";
import { ErrorCode, SandboxdError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import { Label } from "./labels.js";
import type { LanguageRegistry } from "./languages.js";
import type { SandboxConfig } from "./sandbox-config.js";

/** A Dockerfile as a sandbox's config keeps it: context files base64-encoded. */
export type DockerfileConfig = NonNullable<SandboxConfig["dockerfile"]>;

export interface BuildResult {
  image: string;
  /** The image existed already; nothing was built. */
  cached: boolean;
}

/** Output a caller joining a build in progress is replayed first. */
const replayBytes = 256 * 1024;

/** One build in progress, shared by every caller of the same Dockerfile. */
class Build {
  readonly done: Promise<BuildResult>;
  private readonly output: string[] = [];
  private outputBytes = 0;
  private readonly listeners = new Set<(text: string) => void>();
  private callers = 0;
  private readonly abort = new AbortController();

  /** Every caller went away and the build was told to stop: a new caller starts another. */
  get abandoned(): boolean {
    return this.abort.signal.aborted;
  }

  constructor(run: (onOutput: (text: string) => void, signal: AbortSignal) => Promise<BuildResult>) {
    this.done = run((text) => this.emit(text), this.abort.signal);
  }

  private emit(text: string): void {
    this.output.push(text);
    this.outputBytes += text.length;
    while (this.outputBytes > replayBytes && this.output.length > 1) this.outputBytes -= this.output.shift()!.length;
    for (const l of this.listeners) l(text);
  }

  /** Waits for the build as one caller: its output so far, then live; the build stops when the last caller leaves. */
  async join(onOutput: ((text: string) => void) | undefined, signal: AbortSignal | undefined): Promise<BuildResult> {
    if (onOutput) {
      for (const text of this.output) onOutput(text);
      this.listeners.add(onOutput);
    }
    this.callers++;
    let leave!: () => void;
    const left = new Promise<never>((_, reject) => {
      leave = () => reject(signal?.reason instanceof Error ? signal.reason : new SandboxdError(ErrorCode.Cancelled, "the build's caller went away"));
    });
    left.catch(() => undefined);
    if (signal?.aborted) leave();
    else signal?.addEventListener("abort", leave, { once: true });
    try {
      return await Promise.race([this.done, left]);
    } finally {
      signal?.removeEventListener("abort", leave);
      if (onOutput) this.listeners.delete(onOutput);
      if (--this.callers === 0) this.abort.abort(new SandboxdError(ErrorCode.Cancelled, "every caller of the build went away"));
    }
  }
}

/** The image a sandbox runs: present already, or built from its Dockerfile (cached by content). */
export class ImageResolver {
  private readonly builds = new Map<string, Build>();

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly languages: LanguageRegistry,
    private readonly log: Logger,
    private readonly buildNetwork: "none" | "default" = "none",
  ) {}

  /**
   * The image of a Dockerfile, built once per content: callers of the same content share a
   * build in progress (each gets its output from the start, up to the last 256 KiB) and it is
   * stopped when the last of them goes away.
   */
  build(dockerfile: DockerfileConfig, options: { onOutput?: (text: string) => void; signal?: AbortSignal } = {}): Promise<BuildResult> {
    const hash = createHash("sha256")
      .update(JSON.stringify({ content: dockerfile.content, contextFiles: dockerfile.contextFiles }))
      .digest("hex")
      .slice(0, 20);
    const tag = `sandboxd-build/${hash}:latest`;
    let build = this.builds.get(hash);
    if (!build || build.abandoned) {
      const b = new Build(async (onOutput, signal) => {
        if ((await this.runtime.imageLabels(tag)) !== undefined) return { image: tag, cached: true };
        this.log.info({ tag }, "building image from Dockerfile");
        const contextFiles = Object.fromEntries(Object.entries(dockerfile.contextFiles).map(([k, v]) => [k, Buffer.from(v, "base64")]));
        await this.runtime.buildImage(tag, {
          dockerfile: dockerfile.content,
          contextFiles,
          labels: { [Label.managed]: "true" },
          network: this.buildNetwork,
          signal,
          onOutput,
        });
        return { image: tag, cached: false };
      });
      build = b;
      this.builds.set(hash, b);
      const forget = () => {
        if (this.builds.get(hash) === b) this.builds.delete(hash);
      };
      // Once settled the engine's image (or its absence) answers; the entry only joins callers.
      b.done.then(forget, forget);
    }
    return build.join(options.onOutput, options.signal);
  }

  /** The configured image must exist; a Dockerfile is built once per content hash. */
  async ensure(config: SandboxConfig, signal?: AbortSignal): Promise<{ image: string; labels: Record<string, string> }> {
    if (config.dockerfile) {
      const { image } = await this.build(config.dockerfile, signal ? { signal } : {});
      return { image, labels: {} };
    }
    const labels = await this.runtime.imageLabels(config.image);
    if (labels === undefined) {
      const handler = this.languages.get(config.language);
      const hint = config.image === handler.image ? `; build it with: deploy/images/build.sh ${handler.imageDir}` : "";
      throw new SandboxdError(ErrorCode.FailedPrecondition, `image ${config.image} is not present on the ${this.runtime.name} engine${hint}`, {
        reason: "IMAGE_MISSING",
        metadata: { image: config.image },
      });
    }
    return { image: config.image, labels };
  }
}
