import { blankComments } from "./comments.js";
import { findRestrictedImports } from "./imports.js";
import { resolveCodeLanguage } from "./language.js";
import { MAX_NESTING } from "./lex-builder.js";
import { lexSource } from "./lexer.js";
import { compilePolicy, isBlocking, isCompiledPolicy, severityRank } from "./policy.js";
import type { CompiledPolicy, SecurityPolicy, Severity, Violation } from "./policy.js";
import { SourcePositions } from "./source-position.js";

/** The verdict on a piece of code. */
export interface CheckCodeResult {
  /** False iff some violation reaches the policy's threshold (never with threshold SAFE). */
  readonly safe: boolean;
  /** Every finding, blocking or not, by line and column. */
  readonly violations: readonly Violation[];
  /** True when there were more findings than `maxViolations`; `safe` still counts all. */
  readonly truncated: boolean;
}

export interface CheckCodeOptions {
  /**
   * At most this many violations are returned (blocking ones first, then by position),
   * so a pattern matching every line of a large input cannot produce an unbounded
   * response. Default DEFAULT_MAX_VIOLATIONS.
   */
  readonly maxViolations?: number;
}

export const DEFAULT_MAX_VIOLATIONS = 1000;

/**
 * The rule of the one violation not from the policy: code whose literals nest so deeply
 * (hundreds of `${`${...}`}` levels) that it cannot be analysed. Severity HIGH, so it
 * blocks under any threshold but SAFE.
 */
export const UNANALYZABLE_RULE = "analysis:too-deeply-nested";
const UNANALYZABLE_DESCRIPTION = `Literals nested more than ${MAX_NESTING} deep; comments and imports could not be analysed`;

interface Finding {
  readonly offset: number;
  readonly order: number; // rule order in the policy, to break ties stably
  readonly rule: string;
  readonly description: string;
  readonly severity: Severity;
}

/**
 * Check `code` in `language` against a policy: the logic behind CheckCode and behind
 * refusing a Run. Comments are blanked first (keeping every position); each pattern is
 * then searched in the whole text and every match reported, and each restricted module
 * is looked for in the code's import statements and calls (never in strings or comments),
 * reported as rule `import:<module>`.
 *
 * Unlike llm-sandbox, which stops at the first blocking match and reports one entry per
 * pattern without a position, this reports every match with its line and column; `safe`
 * follows llm-sandbox's rule (see isBlocking).
 *
 * Regexes run synchronously: a policy's own patterns may backtrack badly on adversarial
 * input, so callers facing untrusted input should bound its size or run this off the
 * event loop.
 *
 * @throws PolicyError for an unsupported language or an invalid (uncompiled) policy.
 */
export function checkCode(
  language: string,
  code: string,
  policy: SecurityPolicy | CompiledPolicy,
  options: CheckCodeOptions = {},
): CheckCodeResult {
  const resolved = resolveCodeLanguage(language);
  const compiled = isCompiledPolicy(policy) ? policy : compilePolicy(policy);
  const limit = Math.max(0, options.maxViolations ?? DEFAULT_MAX_VIOLATIONS);
  const source = lexSource(resolved, code);
  const scanned = blankComments(source);

  const findings: Finding[] = [];
  let blocked = false;
  let truncated = false;

  compiled.patterns.forEach((pattern, order) => {
    const regex = new RegExp(pattern.regex.source, `${pattern.regex.flags}g`);
    let count = 0;
    for (let match = regex.exec(scanned); match !== null; match = regex.exec(scanned)) {
      if (match[0].length === 0) regex.lastIndex = match.index + nextCodePointLength(scanned, match.index);
      blocked ||= isBlocking(pattern.severity, compiled.severityThreshold);
      // Past the limit one pattern's later matches can never be shown; stop looking.
      if (count++ === limit) {
        truncated = true;
        break;
      }
      const { rule, description, severity } = pattern;
      findings.push({ offset: match.index, order, rule, description, severity });
    }
  });

  if (source.tooDeeplyNested) {
    // Comments and imports are unknown: fail closed rather than pass unexamined code.
    blocked ||= isBlocking("HIGH", compiled.severityThreshold);
    findings.push({ offset: 0, order: -1, rule: UNANALYZABLE_RULE, description: UNANALYZABLE_DESCRIPTION, severity: "HIGH" });
  }

  const importOrder = compiled.patterns.length;
  for (const { module, site } of findRestrictedImports(resolved, source, compiled.restrictedModules)) {
    blocked ||= isBlocking(module.severity, compiled.severityThreshold);
    findings.push({
      offset: site.start,
      order: importOrder + compiled.restrictedModules.indexOf(module),
      rule: `import:${module.name}`,
      description: module.description,
      severity: module.severity,
    });
  }

  let kept = findings;
  if (findings.length > limit) {
    truncated = true;
    const byPriority = (a: Finding, b: Finding) =>
      Number(isBlocking(b.severity, compiled.severityThreshold)) - Number(isBlocking(a.severity, compiled.severityThreshold)) ||
      severityRank(b.severity) - severityRank(a.severity) ||
      a.offset - b.offset;
    kept = [...findings].sort(byPriority).slice(0, limit);
  }
  kept.sort((a, b) => a.offset - b.offset || a.order - b.order);

  const positions = new SourcePositions(code);
  const violations = kept.map((finding): Violation => {
    const { line, column } = positions.position(finding.offset);
    return {
      rule: finding.rule,
      description: finding.description,
      severity: finding.severity,
      line,
      column,
      snippet: positions.snippet(finding.offset),
    };
  });
  return { safe: !blocked, violations, truncated };
}

/** Step over a whole surrogate pair when moving past an empty match. */
function nextCodePointLength(text: string, index: number): number {
  const code = text.charCodeAt(index);
  return code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
}
