import { blankComments } from "./comments.js";
import { findRestrictedImports } from "./imports.js";
import { resolveCodeLanguage } from "./language.js";
import { MAX_NESTING } from "./lex-builder.js";
import { lexSource } from "./lexer.js";
import type { LexedSource } from "./lex-builder.js";
import { findEncodingDeclaration } from "./python-encoding.js";
import { identityView, latin1View, nfkcView } from "./text-view.js";
import type { TextView } from "./text-view.js";
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

/**
 * The rule for Python code declaring a source encoding the checker does not decode
 * (`# coding: unicode_escape`, `utf-7`, `utf-16`, ...): Python would read other code than
 * the checker did, so the check is void. Severity HIGH, like UNANALYZABLE_RULE.
 */
export const UNREADABLE_ENCODING_RULE = "analysis:source-encoding";

/**
 * The rule for Python code holding a NUL character: current Pythons refuse it, but older
 * ones read a file only up to the NUL on its line, which can turn what the checker reads
 * as a string into code. Nothing real needs one, so it is refused. Severity HIGH.
 */
export const NUL_CHARACTER_RULE = "analysis:nul-character";

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
 * Python is read as Python reads it: a coding cookie it cannot decode is a violation of
 * its own (UNREADABLE_ENCODING_RULE), a Latin-1 one adds the file's Latin-1 reading, and
 * patterns also run on the NFKC form of the code (Python's form of every name). Findings
 * from several readings are reported once, at their position in `code`.
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
export function checkCode(language: string, code: string, policy: SecurityPolicy | CompiledPolicy, options: CheckCodeOptions = {}): CheckCodeResult {
  const resolved = resolveCodeLanguage(language);
  const compiled = isCompiledPolicy(policy) ? policy : compilePolicy(policy);
  const limit = Math.max(0, options.maxViolations ?? DEFAULT_MAX_VIOLATIONS);
  const findings: Finding[] = [];
  let blocked = false;
  let truncated = false;

  // What the interpreter may read: the code itself and, for Python under a Latin-1 coding
  // cookie, its UTF-8 bytes as Latin-1 (a file is read so; code passed as text is not).
  const readings: TextView[] = [identityView(code)];
  if (resolved === "python") {
    const declaration = findEncodingDeclaration(code);
    if (declaration?.encoding === "unreadable") {
      blocked ||= isBlocking("HIGH", compiled.severityThreshold);
      const description = `Source encoding declaration that the checker cannot read (${declaration.name}); Python would decode the code before running it`;
      findings.push({ offset: declaration.offset, order: -1, rule: UNREADABLE_ENCODING_RULE, description, severity: "HIGH" });
    } else if (declaration?.encoding === "latin-1") {
      const latin1 = latin1View(code);
      if (latin1 !== null) readings.push(latin1);
    }
    const nul = code.indexOf("\u0000");
    if (nul !== -1) {
      blocked ||= isBlocking("HIGH", compiled.severityThreshold);
      const description = "NUL character in Python source; some Python versions stop reading its line there";
      findings.push({ offset: nul, order: -1, rule: NUL_CHARACTER_RULE, description, severity: "HIGH" });
    }
  }

  const seen = new Set<string>();
  const add = (finding: Finding) => {
    const key = `${finding.order}\u0000${finding.offset}`;
    if (seen.has(key)) return;
    seen.add(key);
    findings.push(finding);
  };
  const counts = new Map<number, number>();
  let unanalyzable = false;
  for (const reading of readings) {
    const source = lexSource(resolved, reading.text);
    const scanned = blankComments(source);
    // Patterns also see Python code NFKC-normalised, as Python sees its names: `ｏｓ.system(`.
    const views: TextView[] = [identityView(scanned)];
    const normalized = resolved === "python" ? nfkcView(scanned) : null;
    if (normalized !== null) views.push(normalized);
    for (const view of views) {
      compiled.patterns.forEach((pattern, order) => {
        const regex = new RegExp(pattern.regex.source, `${pattern.regex.flags}g`);
        for (let match = regex.exec(view.text); match !== null; match = regex.exec(view.text)) {
          if (match[0].length === 0) regex.lastIndex = match.index + nextCodePointLength(view.text, match.index);
          blocked ||= isBlocking(pattern.severity, compiled.severityThreshold);
          const offset = reading.original(view.original(match.index));
          if (seen.has(`${order}\u0000${offset}`)) continue; // found in another view
          // Past the limit one pattern's later matches can never be shown; stop looking.
          const count = counts.get(order) ?? 0;
          counts.set(order, count + 1);
          if (count === limit) {
            truncated = true;
            break;
          }
          const { rule, description, severity } = pattern;
          add({ offset, order, rule, description, severity });
        }
      });
    }
    unanalyzable ||= source.tooDeeplyNested;
    addImports(source, reading);
  }

  function addImports(source: LexedSource, reading: TextView): void {
    const importOrder = compiled.patterns.length;
    for (const { module, site } of findRestrictedImports(resolved, source, compiled.restrictedModules)) {
      blocked ||= isBlocking(module.severity, compiled.severityThreshold);
      add({
        offset: reading.original(site.start),
        order: importOrder + compiled.restrictedModules.indexOf(module),
        rule: `import:${module.name}`,
        description: module.description,
        severity: module.severity,
      });
    }
  }

  if (unanalyzable) {
    // Comments and imports are unknown: fail closed rather than pass unexamined code.
    blocked ||= isBlocking("HIGH", compiled.severityThreshold);
    findings.push({ offset: 0, order: -1, rule: UNANALYZABLE_RULE, description: UNANALYZABLE_DESCRIPTION, severity: "HIGH" });
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
