import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { invalidArgument } from "../common/errors.js";
import { ExhaustionStrategy, type PoolSchema, type PoolService, type PoolSettings as PoolSettingsProto } from "../gen/sandboxd/v1/pool_service_pb.js";
import type { ServiceImpl } from "../rpc/grpc-adapter.js";
import type { PoolView } from "../sandbox/client-pools.js";
import type { ExhaustionStrategy as Strategy, PoolSettings } from "../sandbox/pool-ledger.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";
import { sandboxRequestFromProto, specToProto } from "./convert.js";

type Methods = typeof PoolService extends GenService<infer M extends GenServiceMethods> ? M : never;

export interface PoolServiceDeps {
  sandboxes: SandboxManager;
}

const strategies: Record<Strategy, ExhaustionStrategy> = {
  wait: ExhaustionStrategy.WAIT,
  fail_fast: ExhaustionStrategy.FAIL_FAST,
  temporary: ExhaustionStrategy.TEMPORARY,
};

/** A client's PoolSettings (unset = all zero: defaults). */
function poolSettingsFromProto(s: PoolSettingsProto | undefined): PoolSettings {
  const strategy = s?.exhaustionStrategy ?? ExhaustionStrategy.UNSPECIFIED;
  let exhaustion: Strategy;
  switch (strategy) {
    case ExhaustionStrategy.UNSPECIFIED:
    case ExhaustionStrategy.WAIT:
      exhaustion = "wait";
      break;
    case ExhaustionStrategy.FAIL_FAST:
      exhaustion = "fail_fast";
      break;
    case ExhaustionStrategy.TEMPORARY:
      exhaustion = "temporary";
      break;
    default:
      throw invalidArgument(`unknown settings.exhaustion_strategy ${String(strategy)}`);
  }
  return {
    minReady: s?.minReady ?? 0,
    maxSize: s?.maxSize ?? 0,
    idleTimeoutMs: s?.idleTimeoutMs ?? 0,
    maxLifetimeMs: s?.maxLifetimeMs ?? 0,
    healthCheckIntervalMs: s?.healthCheckIntervalMs ?? 0,
    exhaustion,
    acquisitionTimeoutMs: s?.acquisitionTimeoutMs ?? 0,
  };
}

function poolToProto(p: PoolView): MessageInitShape<typeof PoolSchema> {
  const s = p.stats;
  return {
    id: p.id,
    name: p.name,
    spec: specToProto(p.config),
    settings: {
      minReady: p.settings.minReady,
      maxSize: p.settings.maxSize,
      idleTimeoutMs: p.settings.idleTimeoutMs,
      maxLifetimeMs: p.settings.maxLifetimeMs,
      healthCheckIntervalMs: p.settings.healthCheckIntervalMs,
      exhaustionStrategy: strategies[p.settings.exhaustion],
      acquisitionTimeoutMs: p.settings.acquisitionTimeoutMs,
    },
    stats: {
      ready: s.ready,
      creating: s.creating,
      inUse: s.inUse,
      hits: BigInt(s.hits),
      misses: BigInt(s.misses),
      temporary: BigInt(s.temporary),
      exhausted: BigInt(s.exhausted),
      recycled: BigInt(s.recycled),
      waiting: s.waiting,
      lastRefillMs: s.lastRefillMs,
    },
    createdAt: timestampFromDate(p.createdAt),
    fromConfig: p.fromConfig,
    libraries: p.libraries,
  };
}

/**
 * PoolService: warm pools a tenant creates, sizes and deletes (CreateSandbox pool_id
 * acquires from them). Each method decodes, calls SandboxManager, encodes.
 */
export function createPoolService(deps: PoolServiceDeps): ServiceImpl<Methods> {
  const { sandboxes } = deps;
  const required = (poolId: string) => {
    if (poolId === "") throw invalidArgument("pool_id is required");
    return poolId;
  };
  return {
    async createPool(req, ctx) {
      const pool = sandboxes.createPool(ctx.tenant, {
        name: req.name,
        request: sandboxRequestFromProto(req.spec),
        settings: poolSettingsFromProto(req.settings),
        libraries: req.libraries,
      });
      return { pool: poolToProto(pool) };
    },

    async getPool(req, ctx) {
      return { pool: poolToProto(sandboxes.getPool(ctx.tenant, required(req.poolId))) };
    },

    async listPools(_req, ctx) {
      return { pools: sandboxes.listPools(ctx.tenant).map(poolToProto) };
    },

    async updatePool(req, ctx) {
      return { pool: poolToProto(sandboxes.updatePool(ctx.tenant, required(req.poolId), poolSettingsFromProto(req.settings))) };
    },

    async deletePool(req, ctx) {
      return await sandboxes.deletePool(ctx.tenant, required(req.poolId), req.destroySandboxes);
    },
  };
}
