import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { VolumeSchema, VolumeService } from "../gen/sandboxd/v1/volume_service_pb.js";
import type { ServiceImpl } from "../rpc/grpc-adapter.js";
import type { VolumeManager, VolumeView } from "../sandbox/volume-manager.js";

type Methods = typeof VolumeService extends GenService<infer M extends GenServiceMethods> ? M : never;

export interface VolumeServiceDeps {
  volumes: VolumeManager;
}

function volumeToProto(v: VolumeView): MessageInitShape<typeof VolumeSchema> {
  return {
    id: v.id,
    name: v.name,
    sizeLimitBytes: BigInt(v.sizeLimitBytes),
    createdAt: timestampFromDate(v.createdAt),
    mountedBy: v.mountedBy,
    usedBytes: BigInt(v.usedBytes),
  };
}

/** VolumeService: a tenant's named volumes. Each method decodes, calls VolumeManager, encodes. */
export function createVolumeService(deps: VolumeServiceDeps): ServiceImpl<Methods> {
  const { volumes } = deps;
  return {
    async createVolume(req, ctx) {
      const size = req.sizeLimitBytes > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(req.sizeLimitBytes);
      return { volume: volumeToProto(await volumes.create(ctx.tenant, req.name, size)) };
    },
    async getVolume(req, ctx) {
      return { volume: volumeToProto(await volumes.get(ctx.tenant, req.volume)) };
    },
    async listVolumes(_req, ctx) {
      return { volumes: (await volumes.list(ctx.tenant)).map(volumeToProto) };
    },
    async deleteVolume(req, ctx) {
      return { deleted: await volumes.delete(ctx.tenant, req.volume) };
    },
  };
}
