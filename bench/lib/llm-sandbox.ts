import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../../test/helpers/daemon.js";

export const venvDir = join(repoRoot, ".cache", "bench-venv");
const python = join(venvDir, "bin", "python");
const script = join(repoRoot, "bench", "python", "llm_sandbox_bench.py");

/** The requirement installed into the benchmark's own virtualenv (from PyPI, once). */
export const llmSandboxRequirement = process.env["BENCH_LLM_SANDBOX_REQUIREMENT"] ?? "llm-sandbox[docker]";

/**
 * Makes sure .cache/bench-venv has llm-sandbox with its Docker extra. Returns its version
 * info, or throws with pip's output when it cannot be installed (no PyPI).
 */
export function ensureLlmSandbox(): Record<string, string> {
  const ok = () => {
    try {
      execFileSync(python, ["-c", "import llm_sandbox, docker"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  if (!existsSync(python) || !ok()) {
    mkdirSync(join(repoRoot, ".cache"), { recursive: true });
    if (!existsSync(python)) execFileSync("python3", ["-m", "venv", venvDir], { stdio: "inherit" });
    execFileSync(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", llmSandboxRequirement], { stdio: "inherit" });
  }
  return JSON.parse(execFileSync(python, [script, "version"], { encoding: "utf8" }).trim().split("\n").pop() as string) as Record<string, string>;
}

/** Runs the llm-sandbox side of a comparison and returns its JSON. */
export function runLlmSandbox<T>(
  mode: "ephemeral" | "interactive",
  args: { image: string; iterations: number; warmup: number },
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      python,
      [script, mode, "--image", args.image, "--iterations", String(args.iterations), "--warmup", String(args.warmup)],
      { encoding: "utf8", timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`llm-sandbox ${mode} failed: ${err.message}\n${stderr.slice(-2000)}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout.trim().split("\n").pop() as string) as T);
        } catch (e) {
          reject(new Error(`llm-sandbox ${mode} printed no JSON: ${(e as Error).message}\n${stdout.slice(-2000)}`));
        }
      },
    );
  });
}
