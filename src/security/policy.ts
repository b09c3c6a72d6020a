import { PolicyError } from "./policy-error.js";
import { RegexTranslationError, translatePythonRegex } from "./python-regex.js";

/**
 * How dangerous a finding is, lowest first. The order is llm-sandbox's
 * `SecurityIssueSeverity` (SAFE=0, LOW=1, MEDIUM=2, HIGH=3) so policies written for it
 * keep their meaning.
 */
export const SEVERITIES = ["SAFE", "LOW", "MEDIUM", "HIGH"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The rank of a severity in SEVERITIES (SAFE=0 ... HIGH=3), for comparisons. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** Type guard for severities arriving from outside (JSON, mapped proto enums). */
export function isSeverity(value: unknown): value is Severity {
  return typeof value === "string" && (SEVERITIES as readonly string[]).includes(value);
}

/**
 * Whether a finding of `severity` makes code unsafe under `threshold`. Mirrors llm-sandbox
 * (`threshold > SAFE and severity >= threshold`): a SAFE threshold blocks nothing, which
 * makes a policy report-only.
 */
export function isBlocking(severity: Severity, threshold: Severity): boolean {
  return severityRank(threshold) > 0 && severityRank(severity) >= severityRank(threshold);
}

/** A regular expression (Python `re` syntax, as in llm-sandbox) that marks dangerous code. */
export interface SecurityPattern {
  readonly pattern: string;
  readonly description: string;
  readonly severity: Severity;
}

/**
 * A module, package or header whose import is a finding. The name is matched per language
 * (`os` in Python, `child_process` in JavaScript, `sys/socket.h` in C++); submodules of it
 * count, names that merely share a prefix do not.
 */
export interface RestrictedModule {
  readonly name: string;
  readonly description: string;
  readonly severity: Severity;
}

/** A static code policy, field for field llm-sandbox's `SecurityPolicy`. */
export interface SecurityPolicy {
  /** Findings at or above this severity make code unsafe; SAFE blocks nothing. */
  readonly severityThreshold: Severity;
  readonly patterns: readonly SecurityPattern[];
  readonly restrictedModules: readonly RestrictedModule[];
}

/** One finding in checked code, positioned in the code as submitted. */
export interface Violation {
  /** The pattern as written in the policy, or `import:<module>` for a restricted module. */
  readonly rule: string;
  readonly description: string;
  readonly severity: Severity;
  /** 1-based line; `\n`, `\r\n` and a lone `\r` each end a line. */
  readonly line: number;
  /** 1-based column in Unicode code points. */
  readonly column: number;
  /** The source line of the finding (shortened around it when very long). */
  readonly snippet: string;
}

/** A policy pattern whose regular expression has been translated and compiled. */
export interface CompiledPattern {
  readonly rule: string;
  readonly description: string;
  readonly severity: Severity;
  /** Compiled once; clone it (`new RegExp(regex, ...)`) before stateful use. */
  readonly regex: RegExp;
}

/** A validated policy, ready to check code with; produced only by compilePolicy. */
export interface CompiledPolicy {
  readonly compiled: true;
  readonly severityThreshold: Severity;
  readonly patterns: readonly CompiledPattern[];
  readonly restrictedModules: readonly RestrictedModule[];
}

// Module, package and header names across languages: `os.path`, `@scope/pkg`, `node:fs`,
// `github.com/x/y`, `sys/socket.h`, `data.table`, `c++/v1/x`. No spaces, quotes or globs.
const MODULE_NAME = /^[\p{L}\p{N}_$@+~-]+(?:[./:][\p{L}\p{N}_$@+~-]+)*$/u;

/** Whether a value is a compiled policy rather than a raw one. */
export function isCompiledPolicy(policy: SecurityPolicy | CompiledPolicy): policy is CompiledPolicy {
  return "compiled" in policy && policy.compiled === true;
}

/**
 * Validate a policy and compile its patterns. Everything is checked up front, so a policy
 * that is accepted never fails (or silently skips a rule) while code is being checked,
 * unlike llm-sandbox, which logs and ignores a pattern that does not compile.
 *
 * @throws PolicyError naming the offending field (e.g. `patterns[1].pattern`) when a
 *   pattern is empty or invalid, a severity unknown, or a module name empty, malformed or
 *   repeated.
 */
export function compilePolicy(policy: SecurityPolicy): CompiledPolicy {
  if (!isSeverity(policy.severityThreshold)) {
    throw new PolicyError("severityThreshold", unknownSeverity(policy.severityThreshold));
  }
  const patterns = policy.patterns.map((pattern, index) => compilePattern(pattern, `patterns[${index}]`));

  const seen = new Map<string, number>();
  const restrictedModules = policy.restrictedModules.map((module, index): RestrictedModule => {
    const field = `restrictedModules[${index}]`;
    if (typeof module.name !== "string" || module.name === "") {
      throw new PolicyError(`${field}.name`, "a restricted module needs a name");
    }
    if (!MODULE_NAME.test(module.name)) {
      throw new PolicyError(`${field}.name`, `${JSON.stringify(module.name)} is not a module, package or header name`);
    }
    const earlier = seen.get(module.name);
    if (earlier !== undefined) {
      const message = `${JSON.stringify(module.name)} is already restricted by restrictedModules[${earlier}]`;
      throw new PolicyError(`${field}.name`, message);
    }
    seen.set(module.name, index);
    checkSeverityAndDescription(module, field);
    return Object.freeze({ name: module.name, description: module.description, severity: module.severity });
  });

  return Object.freeze({
    compiled: true,
    severityThreshold: policy.severityThreshold,
    patterns: Object.freeze(patterns),
    restrictedModules: Object.freeze(restrictedModules),
  });
}

function compilePattern(pattern: SecurityPattern, field: string): CompiledPattern {
  if (typeof pattern.pattern !== "string" || pattern.pattern === "") {
    throw new PolicyError(`${field}.pattern`, "a pattern must not be empty (it would match everywhere)");
  }
  checkSeverityAndDescription(pattern, field);
  let regex: RegExp;
  try {
    const translated = translatePythonRegex(pattern.pattern);
    regex = new RegExp(translated.source, translated.flags);
  } catch (err: unknown) {
    if (!(err instanceof RegexTranslationError)) throw err;
    const message = `invalid pattern ${JSON.stringify(pattern.pattern)}: ${err.message}`;
    throw new PolicyError(`${field}.pattern`, message, { cause: err });
  }
  return Object.freeze({ rule: pattern.pattern, description: pattern.description, severity: pattern.severity, regex });
}

function checkSeverityAndDescription(entry: { readonly description: unknown; readonly severity: unknown }, field: string): void {
  if (!isSeverity(entry.severity)) {
    throw new PolicyError(`${field}.severity`, unknownSeverity(entry.severity));
  }
  if (typeof entry.description !== "string") {
    throw new PolicyError(`${field}.description`, "the description must be a string");
  }
}

function unknownSeverity(value: unknown): string {
  return `unknown severity ${JSON.stringify(value)}; use one of ${SEVERITIES.join(", ")}`;
}
