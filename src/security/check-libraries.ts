import { importMatches } from "./imports.js";
import { resolveCodeLanguage } from "./language.js";
import type { CodeLanguage } from "./language.js";
import { compilePolicy, isBlocking, isCompiledPolicy } from "./policy.js";
import type { CompiledPolicy, RestrictedModule, SecurityPolicy } from "./policy.js";

export interface RefusedLibrary {
  /** The library as requested, e.g. `requests==2.31`. */
  readonly library: string;
  readonly module: RestrictedModule;
}

export interface LibraryCheckResult {
  readonly allowed: boolean;
  readonly refused: readonly RefusedLibrary[];
}

/**
 * Whether `libraries` (as passed to Run or Install) may be installed under a policy: a
 * library is refused when it is a restricted module whose import the policy would block.
 * llm-sandbox refuses every restricted module regardless of severity; here installing is
 * refused exactly when importing would be, so a LOW module under a MEDIUM threshold can be
 * both installed and imported.
 *
 * Matching is by name: the package name (version specifiers, extras, `@version` and
 * `:version` suffixes removed) is compared with the module name the way imports are, and
 * for Python with PEP 503 normalisation (`Py_Yaml` is `py-yaml`). It cannot know that a
 * distribution installs a differently named module (`beautifulsoup4` installs `bs4`,
 * `pyyaml` installs `yaml`) or pulls one in as a dependency; the import check on the
 * code is what catches those.
 *
 * @throws PolicyError for an unsupported language or an invalid (uncompiled) policy.
 */
export function checkLibraries(language: string, libraries: readonly string[], policy: SecurityPolicy | CompiledPolicy): LibraryCheckResult {
  const resolved = resolveCodeLanguage(language);
  const compiled = isCompiledPolicy(policy) ? policy : compilePolicy(policy);
  const blocking = compiled.restrictedModules.filter((module) => isBlocking(module.severity, compiled.severityThreshold));
  const refused: RefusedLibrary[] = [];
  for (const library of libraries) {
    const name = packageName(resolved, library);
    const module = blocking.find((candidate) => libraryIsModule(resolved, name, candidate.name));
    if (module !== undefined) refused.push({ library, module });
  }
  return { allowed: refused.length === 0, refused };
}

/** The bare package name of an install spec in `language`. */
function packageName(language: CodeLanguage, spec: string): string {
  const trimmed = spec.trim();
  switch (language) {
    case "python":
      return /^[A-Za-z0-9][A-Za-z0-9._-]*/.exec(trimmed)?.[0] ?? trimmed;
    case "javascript":
    case "typescript":
      return /^(?:@[^/@\s]+\/)?[^@\s]+/.exec(trimmed)?.[0] ?? trimmed; // @scope/name@1.2 -> @scope/name
    case "go":
      return trimmed.split("@")[0] ?? trimmed;
    case "ruby":
    case "java":
      return trimmed.split(":")[0] ?? trimmed; // gem:version; Maven group:artifact:version
    default:
      return trimmed;
  }
}

function normalizePythonName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

function libraryIsModule(language: CodeLanguage, name: string, module: string): boolean {
  if (language === "python") return normalizePythonName(name) === normalizePythonName(module);
  if (language === "bash" || language === "cpp") return name === module;
  return importMatches(language, name, module);
}
