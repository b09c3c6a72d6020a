import { invalidArgument } from "../common/errors.js";

/**
 * SandboxSpec.command_wrapper: an argv prefix every process the sandbox starts for its
 * user goes through (llm-sandbox's micromamba backend: `micromamba run -n <environment>`).
 * It is a program of the image and runs with the sandbox's own rights, so it is checked
 * only for shape: it is kept in the sandbox's config label, hence bounded.
 *
 * Wrapped: every step of a Run (install, compile, run), Exec (argv and shell), Install, the
 * language's sandbox setup, and interactive sessions' runners (the IPython kernel, the shell).
 * Not wrapped: what the daemon runs for itself - the agent, file transfers, artifact
 * collection, a session's process reaping (docs/micromamba.md).
 */
export const maxWrapperArgs = 16;
export const maxWrapperArgBytes = 1024;
const maxWrapperBytes = 4096;

function show(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}...` : s);
}

/** The wrapper as given, or INVALID_ARGUMENT (reason INVALID_COMMAND_WRAPPER) naming what is wrong. */
export function checkCommandWrapper(wrapper: readonly string[]): string[] {
  const fail = (why: string) => invalidArgument(`command_wrapper${why}`, { reason: "INVALID_COMMAND_WRAPPER" });
  if (wrapper.length > maxWrapperArgs) throw fail(` has at most ${maxWrapperArgs} elements, got ${wrapper.length}`);
  let total = 0;
  wrapper.forEach((arg, i) => {
    if (arg === "") throw fail(`[${i}] is empty`);
    if (arg.includes("\0")) throw fail(`[${i}] contains a NUL byte`);
    const size = Buffer.byteLength(arg, "utf8");
    if (size > maxWrapperArgBytes) throw fail(`[${i}] has ${size} bytes, at most ${maxWrapperArgBytes}: ${show(arg)}`);
    total += size;
  });
  if (total > maxWrapperBytes) throw fail(` has ${total} bytes in all, at most ${maxWrapperBytes}`);
  return [...wrapper];
}

/** The argv a user process of the sandbox is started with: the wrapper, then its own argv. */
export function wrapArgv(wrapper: readonly string[] | undefined, argv: readonly string[]): string[] {
  return wrapper && wrapper.length > 0 ? [...wrapper, ...argv] : [...argv];
}
