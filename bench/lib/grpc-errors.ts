import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type { ServiceError } from "@grpc/grpc-js";
import { ErrorDetailSchema, ErrorStatusSchema, type ErrorDetail } from "../../src/gen/sandboxd/v1/common_pb.js";

export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  FAILED_PRECONDITION: 9,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

export function grpcCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown })?.code;
  return typeof c === "number" ? c : undefined;
}

export function isUnimplemented(err: unknown): boolean {
  return grpcCode(err) === GrpcCode.UNIMPLEMENTED;
}

/** The daemon's ErrorDetail from the grpc-status-details-bin trailer, if present. */
export function errorDetail(err: unknown): ErrorDetail | undefined {
  const md = (err as Partial<ServiceError>)?.metadata;
  const raw = md?.get("grpc-status-details-bin")[0];
  if (!raw) return undefined;
  const status = fromBinary(ErrorStatusSchema, typeof raw === "string" ? Buffer.from(raw, "base64") : raw);
  for (const any of status.details) {
    const d = anyUnpack(any, ErrorDetailSchema);
    if (d) return d;
  }
  return undefined;
}

export function describe(err: unknown): string {
  const e = err as { code?: number; details?: string; message?: string };
  return e?.code !== undefined ? `code ${e.code}: ${e.details ?? e.message}` : String(e?.message ?? err);
}
