import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Metadata, status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import { ErrorDetailSchema, ErrorStatusSchema, SecuritySeverity, type Violation as ViolationProto } from "./gen/sandboxd/v1/common_pb.js";

/** gRPC status codes by name, as the daemon's errors use them. */
export const Code = {
  Ok: "OK",
  Cancelled: "CANCELLED",
  Unknown: "UNKNOWN",
  InvalidArgument: "INVALID_ARGUMENT",
  DeadlineExceeded: "DEADLINE_EXCEEDED",
  NotFound: "NOT_FOUND",
  AlreadyExists: "ALREADY_EXISTS",
  PermissionDenied: "PERMISSION_DENIED",
  ResourceExhausted: "RESOURCE_EXHAUSTED",
  FailedPrecondition: "FAILED_PRECONDITION",
  Aborted: "ABORTED",
  OutOfRange: "OUT_OF_RANGE",
  Unimplemented: "UNIMPLEMENTED",
  Internal: "INTERNAL",
  Unavailable: "UNAVAILABLE",
  DataLoss: "DATA_LOSS",
  Unauthenticated: "UNAUTHENTICATED",
} as const;
export type Code = (typeof Code)[keyof typeof Code];

const codeNames: Record<number, Code> = Object.fromEntries(
  Object.entries(grpcStatus)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [v, k as Code]),
);

export type Severity = "SAFE" | "LOW" | "MEDIUM" | "HIGH";

/** One finding of a policy check. */
export interface Violation {
  rule: string;
  description: string;
  severity: Severity;
  line: number;
  column: number;
  snippet: string;
}

export function violationFromProto(v: ViolationProto): Violation {
  const severity = (SecuritySeverity[v.severity] ?? "SAFE") as Severity | "UNSPECIFIED";
  return {
    rule: v.rule,
    description: v.description,
    severity: severity === "UNSPECIFIED" ? "SAFE" : severity,
    line: v.line,
    column: v.column,
    snippet: v.snippet,
  };
}

/**
 * Every failure of a call: the gRPC `code`, the daemon's machine-readable `reason`
 * (`LANGUAGE_NOT_SUPPORTED`, `SANDBOX_NOT_FOUND`, `POLICY_VIOLATION`, ...), its metadata
 * and, for policy refusals, the violations. Switch on `code` for the family and on
 * `reason` for the exact cause; the message is for people.
 */
export class SandboxdError extends Error {
  override readonly name = "SandboxdError";
  readonly code: Code;
  readonly reason: string;
  readonly metadata: Record<string, string>;
  readonly violations: Violation[];

  constructor(code: Code, message: string, options: { reason?: string; metadata?: Record<string, string>; violations?: Violation[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = options.reason ?? code;
    this.metadata = options.metadata ?? {};
    this.violations = options.violations ?? [];
  }

  /** The daemon's request id, to find the call in its log. */
  get requestId(): string {
    return this.metadata["request_id"] ?? "";
  }

  static is(err: unknown, code?: Code, reason?: string): err is SandboxdError {
    return err instanceof SandboxdError && (code === undefined || err.code === code) && (reason === undefined || err.reason === reason);
  }
}

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === "object" && err !== null && "code" in err && "metadata" in err && (err as { metadata: unknown }).metadata instanceof Metadata;
}

/** Turns a grpc-js failure into a SandboxdError, reading `grpc-status-details-bin`. */
export function toSandboxdError(err: unknown): SandboxdError {
  if (err instanceof SandboxdError) return err;
  if (!isServiceError(err)) {
    if (err instanceof Error && err.name === "AbortError") return new SandboxdError(Code.Cancelled, err.message, { cause: err });
    return new SandboxdError(Code.Unknown, err instanceof Error ? err.message : String(err), { cause: err });
  }
  const code = codeNames[err.code] ?? Code.Unknown;
  let reason = "";
  const metadata: Record<string, string> = {};
  const violations: Violation[] = [];
  for (const raw of err.metadata.get("grpc-status-details-bin")) {
    try {
      const st = fromBinary(ErrorStatusSchema, typeof raw === "string" ? Buffer.from(raw, "binary") : raw);
      for (const any of st.details) {
        const detail = anyUnpack(any, ErrorDetailSchema);
        if (!detail) continue;
        reason ||= detail.reason;
        Object.assign(metadata, detail.metadata);
        violations.push(...detail.violations.map(violationFromProto));
      }
    } catch {
      // Details from something that is not sandboxd: the code and message still stand.
    }
  }
  if (!reason) {
    const plain = err.metadata.get("sandboxd-reason")[0];
    if (typeof plain === "string") reason = plain;
  }
  return new SandboxdError(code, err.details || err.message, { reason: reason || code, metadata, violations, cause: err });
}
