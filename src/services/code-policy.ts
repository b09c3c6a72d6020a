import { SandboxdError, ErrorCode, invalidArgument, permissionDenied } from "../common/errors.js";
import type { Sandbox } from "../sandbox/sandbox.js";
import type { PolicySpec, SandboxConfig } from "../sandbox/sandbox-config.js";
import {
  PolicyError,
  checkCode,
  checkLibraries,
  compilePolicy,
  getPreset,
  isSeverity,
  type CheckCodeResult,
  type CompiledPolicy,
  type SecurityPolicy,
  type Violation,
} from "../security/index.js";

const policyKey = "code-policy";

/** A client's policy as the engine's type; severities are checked by compilePolicy. */
function fromSpec(spec: PolicySpec): SecurityPolicy {
  const sev = (s: string, field: string) => {
    const up = s.toUpperCase();
    if (!isSeverity(up)) throw invalidArgument(`${field}: unknown severity ${JSON.stringify(s)}`, { reason: "INVALID_POLICY" });
    return up;
  };
  return {
    severityThreshold: sev(spec.severityThreshold, "security_policy.severity_threshold"),
    patterns: spec.patterns.map((p, i) => ({ pattern: p.pattern, description: p.description, severity: sev(p.severity, `security_policy.patterns[${i}].severity`) })),
    restrictedModules: spec.restrictedModules.map((m, i) => ({ name: m.name, description: m.description, severity: sev(m.severity, `security_policy.restricted_modules[${i}].severity`) })),
  };
}

/** Compiles a preset or an inline policy; INVALID_ARGUMENT names what is wrong. */
export function compileFor(preset: string | undefined, inline: PolicySpec | undefined): CompiledPolicy | undefined {
  try {
    if (preset) return compilePolicy(getPreset(preset));
    if (inline) return compilePolicy(fromSpec(inline));
    return undefined;
  } catch (err) {
    if (err instanceof PolicyError) throw invalidArgument(`invalid security policy: ${err.message}`, { reason: "INVALID_POLICY", cause: err });
    throw err;
  }
}

/** Validates a sandbox's policy at creation (nothing is created with a broken policy). */
export function validateSandboxPolicy(config: SandboxConfig): void {
  compileFor(config.securityPreset, config.securityPolicy);
}

function policyOf(sandbox: Sandbox): CompiledPolicy | undefined {
  if (!sandbox.extensions.has(policyKey)) {
    sandbox.extensions.set(policyKey, compileFor(sandbox.config.securityPreset, sandbox.config.securityPolicy));
  }
  return sandbox.extensions.get(policyKey) as CompiledPolicy | undefined;
}

function toErrorViolations(vs: readonly Violation[]) {
  return vs.map((v) => ({ rule: v.rule, description: v.description, severity: v.severity, line: v.line, column: v.column, snippet: v.snippet }));
}

export function checkWithPolicy(language: string, code: string, policy: CompiledPolicy): CheckCodeResult {
  return checkCode(language, code, policy);
}

/**
 * Refuses code the sandbox's policy forbids, before anything runs: PERMISSION_DENIED with
 * every violation in the status details.
 */
export function enforceCodePolicy(sandbox: Sandbox, code: string): void {
  const policy = policyOf(sandbox);
  if (!policy) return;
  const result = checkCode(sandbox.handler.name, code, policy);
  if (result.safe) return;
  const blocking = result.violations.filter((v) => v.severity !== "SAFE");
  const first = blocking[0] ?? result.violations[0];
  throw permissionDenied(
    `code violates the sandbox's security policy: ${first ? `${first.description || first.rule} (line ${first.line})` : "unsafe"}${result.violations.length > 1 ? ` and ${result.violations.length - 1} more` : ""}`,
    { reason: "POLICY_VIOLATION", violations: toErrorViolations(result.violations) },
  );
}

/** Refuses installing libraries the sandbox's policy restricts. */
export function enforceLibraryPolicy(sandbox: Sandbox, libraries: readonly string[]): void {
  const policy = policyOf(sandbox);
  if (!policy || libraries.length === 0) return;
  const result = checkLibraries(sandbox.handler.name, libraries, policy);
  if (result.allowed) return;
  throw new SandboxdError(
    ErrorCode.PermissionDenied,
    `installing ${result.refused.map((r) => r.library).join(", ")} is not allowed by the sandbox's security policy (restricted: ${result.refused.map((r) => r.module.name).join(", ")})`,
    { reason: "POLICY_VIOLATION", metadata: { libraries: result.refused.map((r) => r.library).join(",") } },
  );
}
