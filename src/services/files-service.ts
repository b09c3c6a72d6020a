import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { invalidArgument } from "../common/errors.js";
import { download, uploadFile, uploadMode, uploadTar, type TransferTarget } from "../files/file-transfer.js";
import { checkTransferPath } from "../files/sandbox-paths.js";
import { TransferKind, type SandboxService, type UploadFilesRequest } from "../gen/sandboxd/v1/sandbox_service_pb.js";
import type { SandboxdMetrics } from "../metrics/sandboxd-metrics.js";
import type { ServiceImpl } from "../rpc/grpc-adapter.js";
import type { Sandbox } from "../sandbox/sandbox.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";
import { downloadPartToProto } from "./convert.js";

type Methods = typeof SandboxService extends GenService<infer M extends GenServiceMethods> ? M : never;

export interface FilesServiceDeps {
  sandboxes: SandboxManager;
  metrics: SandboxdMetrics;
}

/** Transfers go through the sandbox's one channel, like its runs. */
async function target(sandbox: Sandbox): Promise<TransferTarget> {
  return { channel: await sandbox.runner(), workdir: sandbox.config.workdir };
}

/** The absolute path of a client's path, refused early when it plainly leaves the allowed roots. */
function checkedPath(sandbox: Sandbox, path: string): string {
  return checkTransferPath(sandbox.config.workdir, path);
}

/**
 * UploadFiles and DownloadFiles. Bytes move through the sandbox's channel, as the stdio of a
 * transfer script (the workdir and /tmp are tmpfs mounts the engine's archive API cannot see
 * into), streamed both ways with
 * backpressure so the daemon's memory stays flat whatever the size. Paths are relative to
 * the workdir; only the workdir and /tmp are reachable, checked inside the sandbox after
 * symlinks are resolved.
 */
export function createFilesService(deps: FilesServiceDeps): Pick<ServiceImpl<Methods>, "uploadFiles" | "downloadFiles"> {
  const { sandboxes, metrics } = deps;
  return {
    async uploadFiles(reqs, ctx) {
      const it = reqs[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done || first.value.message.case !== "header") {
        throw invalidArgument("the first UploadFiles message must be the header", { reason: "MISSING_HEADER" });
      }
      const header = first.value.message.value;
      if (header.sandboxId === "") throw invalidArgument("header.sandbox_id is required");
      const sandbox = await sandboxes.ready(ctx.tenant, header.sandboxId);
      sandbox.touch();
      const isTar = header.kind === TransferKind.TAR;
      if (!isTar && header.path.trim() === "") throw invalidArgument("header.path is required for a FILE upload", { reason: "INVALID_PATH" });
      const path = checkedPath(sandbox, header.path);
      const mode = isTar ? 0 : uploadMode(header.mode);
      const chunks = (async function* (): AsyncGenerator<Uint8Array> {
        for (;;) {
          const n: IteratorResult<UploadFilesRequest> = await it.next();
          if (n.done) return;
          // A long transfer keeps the sandbox from being reaped as idle.
          sandbox.touch();
          if (n.value.message.case === "chunk") {
            metrics.transferBytes.inc({ direction: "upload" }, n.value.message.value.byteLength);
            yield n.value.message.value;
          } else throw invalidArgument("only chunks may follow the UploadFiles header", { reason: "UNEXPECTED_MESSAGE" });
        }
      })();
      const log = ctx.log.child({ sandboxId: sandbox.id });
      const started = Date.now();
      const res = isTar
        ? await uploadTar(await target(sandbox), path, chunks, ctx.signal)
        : await uploadFile(await target(sandbox), path, mode, chunks, ctx.signal);
      sandbox.touch();
      log.info({ path, kind: isTar ? "tar" : "file", bytes: res.bytes, files: res.files, ms: Date.now() - started }, "upload stored");
      return { bytes: BigInt(res.bytes), files: res.files, sha256: res.sha256 };
    },

    async *downloadFiles(req, ctx) {
      if (req.sandboxId === "") throw invalidArgument("sandbox_id is required");
      const sandbox = await sandboxes.ready(ctx.tenant, req.sandboxId);
      sandbox.touch();
      const path = checkedPath(sandbox, req.path);
      const kind = req.kind === TransferKind.FILE ? "file" : req.kind === TransferKind.TAR ? "tar" : "auto";
      for await (const part of download(await target(sandbox), path, kind, ctx.signal)) {
        sandbox.touch();
        switch (part.type) {
          case "header":
            yield {
              message: {
                case: "header",
                value: { kind: part.kind === "tar" ? TransferKind.TAR : TransferKind.FILE, mode: part.mode, size: BigInt(part.size) },
              },
            };
            break;
          case "chunk":
            metrics.transferBytes.inc({ direction: "download" }, part.data.byteLength);
            yield downloadPartToProto(part);
            break;
          case "trailer":
            yield downloadPartToProto(part);
            break;
        }
      }
      sandbox.touch();
    },
  };
}
