import { PolicyError } from "./policy-error.js";
import { severityRank } from "./policy.js";
import type { RestrictedModule, SecurityPattern, SecurityPolicy, Severity } from "./policy.js";

/**
 * Named policies, so a client can say `security_preset: "production"` instead of shipping
 * a policy. Contents (patterns, descriptions, severities, modules, thresholds) are
 * llm-sandbox's seven presets from `examples/security_policy_presets.py`
 * (`get_security_policy(name)`), kept value for value so code judged by llm-sandbox is
 * judged the same here. Like llm-sandbox's, they are written for Python; for other
 * languages the restricted module names are matched with that language's import forms.
 *
 * Note: llm-sandbox also ships `llm_sandbox/security_presets.py` (`get_security_preset`),
 * with only four presets of the same names but different contents (e.g. its `production`
 * has threshold MEDIUM). We follow the seven-preset set, the only one with all names.
 *
 * One deliberate addition: wherever a preset restricts a module, it also restricts the
 * modules that give the same power under another name (`posix` for `os`, `_socket` for
 * `socket`, ...; see EQUIVALENTS), at the same severity. llm-sandbox's lists miss them, so
 * `import posix; posix.system(...)` passed its `os` rule.
 */
export const PRESET_NAMES = ["development", "production", "educational", "data_science", "web_scraping", "minimal", "strict"] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

function pattern(source: string, description: string, severity: Severity): SecurityPattern {
  return Object.freeze({ pattern: source, description, severity });
}

function restricted(name: string, description: string, severity: Severity): RestrictedModule {
  return Object.freeze({ name, description, severity });
}

/**
 * Modules that reach what a restricted module does under another name: the C modules the
 * public ones are built on, and modules that run commands or other modules themselves.
 */
const EQUIVALENTS: Readonly<Record<string, readonly (readonly [string, string])[]>> = {
  os: [
    ["posix", "POSIX system calls (what os is built on)"],
    ["nt", "Windows system calls (what os is built on on Windows)"],
    ["runpy", "Runs modules by name (reaches os and subprocess without importing them)"],
  ],
  subprocess: [
    ["_posixsubprocess", "Process spawning (what subprocess is built on)"],
    ["pty", "Pseudo-terminals; pty.spawn runs a command"],
    ["runpy", "Runs modules by name (reaches os and subprocess without importing them)"],
  ],
  socket: [["_socket", "Raw network sockets (what socket is built on)"]],
  ctypes: [["_ctypes", "Foreign function library (what ctypes is built on)"]],
  multiprocessing: [["_multiprocessing", "Process-based parallelism (what multiprocessing is built on)"]],
  pickle: [["_pickle", "Python object serialization (what pickle is built on)"]],
};

/** `modules` and, after them, their equivalents, each once at its strongest severity. */
function withEquivalents(modules: RestrictedModule[]): RestrictedModule[] {
  const added = new Map<string, RestrictedModule>();
  const listed = new Set(modules.map((m) => m.name));
  for (const module of modules) {
    for (const [name, description] of EQUIVALENTS[module.name] ?? []) {
      if (listed.has(name)) continue;
      const earlier = added.get(name);
      if (earlier === undefined || severityRank(module.severity) > severityRank(earlier.severity)) {
        added.set(name, restricted(name, description, module.severity));
      }
    }
  }
  return [...modules, ...added.values()];
}

function policy(severityThreshold: Severity, patterns: SecurityPattern[], restrictedModules: RestrictedModule[]): SecurityPolicy {
  return Object.freeze({
    severityThreshold,
    patterns: Object.freeze(patterns),
    restrictedModules: Object.freeze(withEquivalents(restrictedModules)),
  });
}

const r = String.raw;

// What each restricted module is, as the presets describe it (one preset may say it otherwise).
const MODULE_DESCRIPTIONS = {
  os: "Operating system interface",
  subprocess: "Subprocess management",
  ctypes: "Foreign function library",
  socket: "Network socket operations",
  multiprocessing: "Process-based parallelism",
  urllib: "URL handling library",
  requests: "HTTP requests library",
  sys: "System-specific parameters",
  threading: "Thread-based parallelism",
  pickle: "Python object serialization",
  marshal: "Internal Python object serialization",
  shelve: "Python object persistence",
} as const;
type ModuleName = keyof typeof MODULE_DESCRIPTIONS;

/** The modules named in `severities`, in that order, each with its description. */
function modules(severities: Readonly<Partial<Record<ModuleName, Severity>>>): RestrictedModule[] {
  return (Object.entries(severities) as [ModuleName, Severity][]).map(([name, severity]) => restricted(name, MODULE_DESCRIPTIONS[name], severity));
}

// The patterns several presets share.
const SYSTEM_COMMAND = pattern(r`\bos\.system\s*\(`, "System command execution", "HIGH");
const SUBPROCESS = pattern(r`\bsubprocess\.(run|call|Popen)\s*\(`, "Subprocess execution", "HIGH");
const FILE_DELETION = pattern(r`\bos\.(remove|unlink|rmdir)\s*\(`, "File deletion operations", "HIGH");
const FILE_WRITE = pattern(r`\bopen\s*\([^)]*['\"]w['\"][^)]*\)`, "File write operations", "LOW");

const PRESETS: Readonly<Record<PresetName, SecurityPolicy>> = Object.freeze({
  // Permissive: blocks only what damages the machine outright.
  development: policy(
    "HIGH",
    [
      pattern(r`\bos\.system\s*\(`, "Direct system command execution", "HIGH"),
      pattern(r`\brm\s+-rf\s+/`, "Dangerous recursive file deletion", "HIGH"),
      pattern(r`\bformat\s+[A-Za-z]:[/\\]`, "Disk formatting commands", "HIGH"),
    ],
    [restricted("ctypes", "Direct system call access", "HIGH")],
  ),
  production: policy(
    "LOW",
    [
      SYSTEM_COMMAND,
      pattern(r`\bsubprocess\.(run|call|Popen|check_output)\s*\(`, "Subprocess execution", "HIGH"),
      pattern(r`\beval\s*\(`, "Dynamic code evaluation", "MEDIUM"),
      pattern(r`\bexec\s*\(`, "Dynamic code execution", "MEDIUM"),
      pattern(r`\bopen\s*\([^)]*['\"][wa]['\"][^)]*\)`, "File write operations", "MEDIUM"),
      FILE_DELETION,
      pattern(r`\bos\.environ`, "Environment variable access", "LOW"),
      pattern(r`\bsocket\.socket\s*\(`, "Raw socket creation", "MEDIUM"),
    ],
    modules({ os: "HIGH", subprocess: "HIGH", ctypes: "HIGH", socket: "MEDIUM", multiprocessing: "MEDIUM" }),
  ),
  educational: policy(
    "MEDIUM",
    [
      SYSTEM_COMMAND,
      SUBPROCESS,
      FILE_DELETION,
      pattern(r`\bshutil\.rmtree\s*\(`, "Directory tree deletion", "HIGH"),
      pattern(r`\bsocket\.socket\s*\([^)]*SOCK_RAW`, "Raw socket creation", "MEDIUM"),
      pattern(r`\beval\s*\(`, "Dynamic code evaluation (educational warning)", "LOW"),
    ],
    modules({ os: "HIGH", subprocess: "HIGH", ctypes: "MEDIUM", socket: "LOW" }),
  ),
  data_science: policy(
    "MEDIUM",
    [
      SYSTEM_COMMAND,
      SUBPROCESS,
      FILE_WRITE,
      FILE_DELETION,
      pattern(r`\bsocket\.socket\s*\(`, "Raw socket creation", "MEDIUM"),
      pattern(r`\bpickle\.loads?\s*\(`, "Pickle deserialization (potential security risk)", "LOW"),
    ],
    modules({ os: "HIGH", subprocess: "HIGH", ctypes: "MEDIUM", urllib: "LOW", requests: "LOW" }),
  ),
  web_scraping: policy(
    "MEDIUM",
    [
      SYSTEM_COMMAND,
      SUBPROCESS,
      FILE_DELETION,
      FILE_WRITE,
      pattern(r`\btime\.sleep\s*\(\s*[0-9]*\.?[0-9]+\s*\)`, "Sleep operations (potential rate limiting bypass)", "LOW"),
    ],
    modules({ os: "HIGH", subprocess: "HIGH", ctypes: "HIGH", urllib: "LOW", requests: "LOW", socket: "MEDIUM" }),
  ),
  // The bare minimum: only destructive shell commands and ctypes.
  minimal: policy(
    "HIGH",
    [
      pattern(r`\bos\.system\s*\([^)]*(?:rm|del|format)[^)]*\)`, "Dangerous file deletion commands", "HIGH"),
      pattern(r`\bsubprocess\.(run|call)\s*\([^)]*(?:rm|del|format)[^)]*\)`, "Dangerous subprocess commands", "HIGH"),
    ],
    [restricted("ctypes", "Direct system call access", "HIGH")],
  ),
  // For untrusted code: nearly everything that reaches outside the interpreter is refused.
  strict: policy(
    "LOW",
    [
      pattern(r`\bos\.\w+\s*\(`, "Any os module function call", "HIGH"),
      pattern(r`\bsubprocess\.[\w]+\s*\(`, "Any subprocess module function call", "HIGH"),
      pattern(r`\b(eval|exec|compile)\s*\(`, "Dynamic code execution functions", "HIGH"),
      pattern(r`\bopen\s*\(`, "File operations", "MEDIUM"),
      pattern(r`\b__import__\s*\(`, "Dynamic imports", "MEDIUM"),
      pattern(r`\b(getattr|setattr|delattr)\s*\(`, "Dynamic attribute access", "LOW"),
      pattern(r`\bsocket\.[\w]+\s*\(`, "Socket operations", "MEDIUM"),
    ],
    modules({
      os: "HIGH",
      sys: "HIGH",
      subprocess: "HIGH",
      ctypes: "HIGH",
      socket: "MEDIUM",
      urllib: "MEDIUM",
      requests: "MEDIUM",
      multiprocessing: "MEDIUM",
      threading: "LOW",
      pickle: "LOW",
      marshal: "LOW",
      shelve: "LOW",
    }),
  ),
});

/** Whether `name` is a preset name as spelled in PRESET_NAMES. */
export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

/**
 * The preset policy called `name` (case-insensitive; `data-science` is accepted for
 * `data_science`). Presets are frozen and shared.
 *
 * @throws PolicyError (field `preset`) for an unknown name, listing the known ones.
 */
export function getPreset(name: string): SecurityPolicy {
  const normalized = name.trim().toLowerCase().replaceAll("-", "_");
  if (!isPresetName(normalized)) {
    throw new PolicyError("preset", `unknown security preset ${JSON.stringify(name)}; known presets: ${PRESET_NAMES.join(", ")}`);
  }
  return PRESETS[normalized];
}
