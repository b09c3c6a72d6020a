import { PolicyError } from "./policy-error.js";

/**
 * The languages the policy engine understands: the daemon's languages. Each has its own
 * comment, string and import syntax, so checking code always starts from its language.
 */
export const CODE_LANGUAGES = ["python", "javascript", "typescript", "java", "cpp", "go", "ruby", "r", "bash"] as const;
export type CodeLanguage = (typeof CODE_LANGUAGES)[number];

const ALIASES: Readonly<Record<string, CodeLanguage>> = {
  node: "javascript",
  nodejs: "javascript",
  js: "javascript",
  ts: "typescript",
  "c++": "cpp",
  golang: "go",
  sh: "bash",
};

/**
 * The canonical language for a name as a client may spell it (case-insensitive; `node`,
 * `js`, `ts`, `c++`, `golang` and `sh` are accepted as aliases).
 *
 * @throws PolicyError (field `language`) for a language the engine cannot check.
 */
export function resolveCodeLanguage(name: string): CodeLanguage {
  const key = name.trim().toLowerCase();
  const language = (CODE_LANGUAGES as readonly string[]).includes(key) ? (key as CodeLanguage) : ALIASES[key];
  if (language === undefined) {
    throw new PolicyError("language", `cannot check ${JSON.stringify(name)} code; supported: ${CODE_LANGUAGES.join(", ")}`);
  }
  return language;
}
