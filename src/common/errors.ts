/**
 * The daemon's one error type. Every failure that reaches a client is a SandboxdError with
 * a fixed code; `src/rpc/status.ts` maps codes to gRPC statuses in one place. The original
 * error travels as `cause` for the log and is never sent to the client.
 */
export const ErrorCode = {
  InvalidArgument: "INVALID_ARGUMENT",
  NotFound: "NOT_FOUND",
  AlreadyExists: "ALREADY_EXISTS",
  PermissionDenied: "PERMISSION_DENIED",
  Unauthenticated: "UNAUTHENTICATED",
  ResourceExhausted: "RESOURCE_EXHAUSTED",
  FailedPrecondition: "FAILED_PRECONDITION",
  OutOfRange: "OUT_OF_RANGE",
  Unavailable: "UNAVAILABLE",
  DeadlineExceeded: "DEADLINE_EXCEEDED",
  Cancelled: "CANCELLED",
  Unimplemented: "UNIMPLEMENTED",
  Internal: "INTERNAL",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorViolation {
  rule: string;
  description: string;
  severity: string;
  line: number;
  column: number;
  snippet: string;
}

export interface SandboxdErrorOptions {
  /** Stable machine-readable reason, e.g. LANGUAGE_NOT_SUPPORTED. */
  reason?: string;
  metadata?: Record<string, string>;
  violations?: ErrorViolation[];
  cause?: unknown;
}

export class SandboxdError extends Error {
  override readonly name = "SandboxdError";
  readonly code: ErrorCode;
  readonly reason: string;
  readonly metadata: Record<string, string>;
  readonly violations: ErrorViolation[];

  constructor(code: ErrorCode, message: string, options: SandboxdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = options.reason ?? code;
    this.metadata = options.metadata ?? {};
    this.violations = options.violations ?? [];
  }

  static from(err: unknown): SandboxdError {
    if (err instanceof SandboxdError) return err;
    return new SandboxdError(ErrorCode.Internal, "internal error", { cause: err });
  }
}

export const invalidArgument = (message: string, options?: SandboxdErrorOptions) => new SandboxdError(ErrorCode.InvalidArgument, message, options);
export const notFound = (message: string, options?: SandboxdErrorOptions) => new SandboxdError(ErrorCode.NotFound, message, options);
export const alreadyExists = (message: string, options?: SandboxdErrorOptions) => new SandboxdError(ErrorCode.AlreadyExists, message, options);
export const failedPrecondition = (message: string, options?: SandboxdErrorOptions) => new SandboxdError(ErrorCode.FailedPrecondition, message, options);
export const unavailable = (message: string, options?: SandboxdErrorOptions) => new SandboxdError(ErrorCode.Unavailable, message, options);
export const resourceExhausted = (message: string, options?: SandboxdErrorOptions) => new SandboxdError(ErrorCode.ResourceExhausted, message, options);
export const permissionDenied = (message: string, options?: SandboxdErrorOptions) => new SandboxdError(ErrorCode.PermissionDenied, message, options);

/** A message for logs from any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
