import { SandboxdError, ErrorCode, invalidArgument, permissionDenied } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { SandboxdMetrics } from "../metrics/sandboxd-metrics.js";
import type { Sandbox } from "./sandbox.js";
import type { PolicySpec, SandboxConfig } from "./sandbox-config.js";
import {
  PolicyError,
  checkLibraries,
  compilePolicy,
  getPreset,
  isSeverity,
  type CheckCodeResult,
  type SecurityPolicy,
  type Violation,
} from "../security/index.js";
import { PolicyChecker } from "../security/policy-checker.js";

/** A client's policy as the engine's type. */
function fromSpec(spec: PolicySpec): SecurityPolicy {
  const sev = (s: string, field: string) => {
    const up = s.toUpperCase();
    if (!isSeverity(up)) throw invalidArgument(`${field}: unknown severity ${JSON.stringify(s)}`, { reason: "INVALID_POLICY" });
    return up;
  };
  return {
    severityThreshold: sev(spec.severityThreshold, "security_policy.severity_threshold"),
    patterns: spec.patterns.map((p, i) => ({
      pattern: p.pattern,
      description: p.description,
      severity: sev(p.severity, `security_policy.patterns[${i}].severity`),
    })),
    restrictedModules: spec.restrictedModules.map((m, i) => ({
      name: m.name,
      description: m.description,
      severity: sev(m.severity, `security_policy.restricted_modules[${i}].severity`),
    })),
  };
}

/**
 * A preset or an inline policy, validated (every regex compiled) before it is accepted;
 * INVALID_ARGUMENT names what is wrong.
 */
export function resolvePolicy(preset: string | undefined, inline: PolicySpec | undefined): SecurityPolicy | undefined {
  try {
    const policy = preset ? getPreset(preset) : inline ? fromSpec(inline) : undefined;
    if (policy) compilePolicy(policy);
    return policy;
  } catch (err) {
    if (err instanceof PolicyError) throw invalidArgument(`invalid security policy: ${err.message}`, { reason: "INVALID_POLICY", cause: err });
    throw err;
  }
}

/** What SandboxManager asks before anything of a new sandbox is created. */
export interface SandboxConfigValidator {
  /** Throws INVALID_ARGUMENT when the sandbox's configuration cannot be accepted. */
  validate(config: SandboxConfig): void;
  /** PERMISSION_DENIED when the config's security policy restricts one of `libraries` (a pool's). */
  enforceLibrariesOf(config: SandboxConfig, libraries: readonly string[]): void;
}

function refuseRestricted(language: string, libraries: readonly string[], policy: SecurityPolicy | undefined): void {
  if (!policy || libraries.length === 0) return;
  const result = checkLibraries(language, libraries, policy);
  if (result.allowed) return;
  throw new SandboxdError(
    ErrorCode.PermissionDenied,
    `installing ${result.refused.map((r) => r.library).join(", ")} is not allowed by the sandbox's security policy (restricted: ${result.refused.map((r) => r.module.name).join(", ")})`,
    { reason: "POLICY_VIOLATION", metadata: { libraries: result.refused.map((r) => r.library).join(",") } },
  );
}

function toErrorViolations(vs: readonly Violation[]) {
  return vs.map((v) => ({ rule: v.rule, description: v.description, severity: v.severity, line: v.line, column: v.column, snippet: v.snippet }));
}

/**
 * The daemon's use of the policy engine: CheckCode, and refusing code and installs a
 * sandbox's policy forbids, before anything runs. Checks run in a worker with a deadline.
 */
export class CodePolicies implements SandboxConfigValidator {
  private readonly checker: PolicyChecker;
  /** Each sandbox's compiled policy, resolved once (its config never changes). */
  private readonly resolved = new WeakMap<Sandbox, SecurityPolicy | undefined>();

  constructor(
    deadlineMs: number,
    logger: Logger,
    private readonly metrics: SandboxdMetrics,
    workers?: number,
  ) {
    this.checker = new PolicyChecker(deadlineMs, logger.child({ component: "policy" }), { workers });
  }

  /** Check for `tenant`: tenants take turns at the checker's workers. */
  check(language: string, code: string, policy: SecurityPolicy, tenant: string): Promise<CheckCodeResult> {
    return this.checker.check(language, code, policy, tenant);
  }

  /**
   * PERMISSION_DENIED with every violation in the status details when the code is unsafe.
   * `language` defaults to the sandbox's (a shell session's commands are bash).
   */
  async enforceCode(sandbox: Sandbox, code: string, language = sandbox.handler.name): Promise<void> {
    const policy = this.policyOf(sandbox);
    if (!policy) return;
    const result = await this.checker.check(language, code, policy, sandbox.tenant);
    if (result.safe) return;
    this.metrics.policyRefusals.inc({ language });
    const first = result.violations[0];
    throw permissionDenied(
      `code violates the sandbox's security policy: ${first ? `${first.description || first.rule} (line ${first.line})` : "unsafe"}${result.violations.length > 1 ? ` and ${result.violations.length - 1} more` : ""}`,
      { reason: "POLICY_VIOLATION", violations: toErrorViolations(result.violations) },
    );
  }

  /** Refuses installing libraries the sandbox's policy restricts. */
  enforceLibraries(sandbox: Sandbox, libraries: readonly string[]): void {
    refuseRestricted(sandbox.handler.name, libraries, this.policyOf(sandbox));
  }

  /** Like enforceLibraries, for a config without a sandbox yet (a pool's members). */
  enforceLibrariesOf(config: SandboxConfig, libraries: readonly string[]): void {
    refuseRestricted(config.language, libraries, resolvePolicy(config.securityPreset, config.securityPolicy));
  }

  /** Validates a sandbox's policy at creation (nothing is created with a broken policy). */
  validate(config: SandboxConfig): void {
    resolvePolicy(config.securityPreset, config.securityPolicy);
  }

  policyOf(sandbox: Sandbox): SecurityPolicy | undefined {
    if (!this.resolved.has(sandbox)) this.resolved.set(sandbox, resolvePolicy(sandbox.config.securityPreset, sandbox.config.securityPolicy));
    return this.resolved.get(sandbox);
  }

  close(): Promise<void> {
    return this.checker.close();
  }
}
