import { Metadata, status, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { ErrorCode, SandboxdError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { ErrorDetailSchema, ErrorStatusSchema, SecuritySeverity, ViolationSchema } from "../gen/sandboxd/v1/common_pb.js";

const grpcCodes: Record<ErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  OUT_OF_RANGE: status.OUT_OF_RANGE,
  UNAVAILABLE: status.UNAVAILABLE,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  CANCELLED: status.CANCELLED,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
  INTERNAL: status.INTERNAL,
};

const severities: Record<string, SecuritySeverity> = {
  SAFE: SecuritySeverity.SAFE,
  LOW: SecuritySeverity.LOW,
  MEDIUM: SecuritySeverity.MEDIUM,
  HIGH: SecuritySeverity.HIGH,
};

function severityToProto(s: string): SecuritySeverity {
  return severities[s.toUpperCase()] ?? SecuritySeverity.UNSPECIFIED;
}

/** The header key standard gRPC status helpers read rich details from. */
const statusDetailsKey = "grpc-status-details-bin";

/**
 * The one place a daemon error becomes a gRPC status. INTERNAL errors are logged with
 * their cause and reach the client only as "internal error" with the request id.
 */
export function toStatus(err: unknown, log: Logger, requestId: string): Partial<StatusObject> & { code: status } {
  const e = SandboxdError.from(err);
  const code = grpcCodes[e.code];
  let message = e.message;
  if (e.code === ErrorCode.Internal) {
    log.error({ err: e.cause ?? e, requestId }, "internal error");
    message = `internal error (request ${requestId})`;
  }
  const detail = create(ErrorDetailSchema, {
    reason: e.reason,
    metadata: { ...e.metadata, request_id: requestId },
    violations: e.violations.map((v) => create(ViolationSchema, { ...v, severity: severityToProto(v.severity) })),
  });
  const statusMsg = create(ErrorStatusSchema, { code, message, details: [anyPack(ErrorDetailSchema, detail)] });
  const metadata = new Metadata();
  metadata.set(statusDetailsKey, Buffer.from(toBinary(ErrorStatusSchema, statusMsg)));
  metadata.set("sandboxd-reason", e.reason);
  return { code, details: message, metadata };
}

export type { ServiceError };
