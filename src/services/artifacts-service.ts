import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { ArtifactManager } from "../artifacts/artifact-manager.js";
import { invalidArgument } from "../common/errors.js";
import type { SandboxService } from "../gen/sandboxd/v1/sandbox_service_pb.js";
import type { ServiceImpl } from "../rpc/grpc-adapter.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";
import { artifactToProto, downloadPartToProto } from "./convert.js";

type Methods = typeof SandboxService extends GenService<infer M extends GenServiceMethods> ? M : never;

export interface ArtifactsServiceDeps {
  sandboxes: SandboxManager;
  artifacts: ArtifactManager;
}

/**
 * ListArtifacts, DownloadArtifact and ClearArtifacts. Artifacts are reached only through
 * the caller's own sandbox (another tenant's sandbox is NOT_FOUND); their bytes stream
 * from inside the sandbox, the daemon keeps only their metadata.
 */
export function createArtifactsService(deps: ArtifactsServiceDeps): Pick<ServiceImpl<Methods>, "listArtifacts" | "downloadArtifact" | "clearArtifacts"> {
  const { sandboxes, artifacts } = deps;
  const sandboxOf = async (tenant: string, id: string) => {
    if (id === "") throw invalidArgument("sandbox_id is required");
    const sandbox = await sandboxes.ready(tenant, id);
    sandbox.touch();
    return sandbox;
  };
  return {
    async listArtifacts(req, ctx) {
      return { artifacts: (await artifacts.list(await sandboxOf(ctx.tenant, req.sandboxId))).map(artifactToProto) };
    },

    async *downloadArtifact(req, ctx) {
      const sandbox = await sandboxOf(ctx.tenant, req.sandboxId);
      for await (const part of artifacts.download(sandbox, req.artifactId, ctx.signal)) {
        sandbox.touch();
        switch (part.type) {
          case "artifact":
            yield { message: { case: "artifact", value: artifactToProto(part.info) } };
            break;
          case "chunk":
          case "trailer":
            yield downloadPartToProto(part);
            break;
          case "header":
            break;
        }
      }
    },

    async clearArtifacts(req, ctx) {
      return { cleared: await artifacts.clear(await sandboxOf(ctx.tenant, req.sandboxId)) };
    },
  };
}
