/**
 * The static code policy engine: pure logic behind CheckCode and behind refusing a Run or
 * an Install whose code or libraries a sandbox's policy forbids. No I/O.
 */
export { PolicyError } from "./policy-error.js";
export { SEVERITIES, compilePolicy, isBlocking, isCompiledPolicy, isSeverity, severityRank } from "./policy.js";
export type { CompiledPattern, CompiledPolicy, RestrictedModule, SecurityPattern, SecurityPolicy, Severity, Violation } from "./policy.js";
export { PRESET_NAMES, getPreset, isPresetName } from "./presets.js";
export type { PresetName } from "./presets.js";
export { CODE_LANGUAGES, resolveCodeLanguage } from "./language.js";
export type { CodeLanguage } from "./language.js";
export { stripComments } from "./comments.js";
export { DEFAULT_MAX_VIOLATIONS, UNANALYZABLE_RULE, UNREADABLE_ENCODING_RULE, NUL_CHARACTER_RULE, checkCode } from "./check-code.js";
export type { CheckCodeOptions, CheckCodeResult } from "./check-code.js";
export { checkLibraries } from "./check-libraries.js";
export type { LibraryCheckResult, RefusedLibrary } from "./check-libraries.js";
