import { createHash } from "node:crypto";
import { ErrorCode, SandboxdError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { ContainerRuntime } from "../runtime/container-runtime.js";
import { Label } from "./labels.js";
import type { LanguageRegistry } from "./languages.js";
import type { SandboxConfig } from "./sandbox-config.js";

/** The image a sandbox runs: present already, or built from its Dockerfile (cached by content). */
export class ImageResolver {
  private readonly builds = new Map<string, Promise<string>>();

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly languages: LanguageRegistry,
    private readonly log: Logger,
  ) {}

  /** The configured image must exist; a Dockerfile is built once per content hash. */
  async ensure(config: SandboxConfig, signal?: AbortSignal): Promise<{ image: string; labels: Record<string, string> }> {
    if (config.dockerfile) {
      const hash = createHash("sha256").update(JSON.stringify(config.dockerfile)).digest("hex").slice(0, 20);
      const tag = `sandboxd-build/${hash}:latest`;
      let build = this.builds.get(hash);
      if (!build) {
        build = (async () => {
          if ((await this.runtime.imageLabels(tag)) !== undefined) return tag;
          this.log.info({ tag }, "building image from Dockerfile");
          const contextFiles = Object.fromEntries(Object.entries(config.dockerfile?.contextFiles ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")]));
          await this.runtime.buildImage(tag, {
            dockerfile: config.dockerfile?.content ?? "",
            contextFiles,
            labels: { [Label.managed]: "true" },
            ...(signal ? { signal } : {}),
          });
          return tag;
        })();
        this.builds.set(hash, build);
        build.catch(() => this.builds.delete(hash));
      }
      return { image: await build, labels: {} };
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
