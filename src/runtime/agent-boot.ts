import { readFileSync } from "node:fs";

const agentSource = readFileSync(new URL("../agent/sandboxd_agent.py", import.meta.url));

// Reads exactly one length-prefixed program from stdin and runs it; stdin then carries frames.
export const agentLoader = [
  "import os",
  "def r(n):",
  "    b = b''",
  "    while len(b) < n:",
  "        c = os.read(0, n - len(b))",
  "        if not c: raise SystemExit(3)",
  "        b += c",
  "    return b",
  "exec(compile(r(int.from_bytes(r(4), 'big')), 'sandboxd-agent', 'exec'), {'__name__': 'sandboxd_agent'})",
].join("\n");

/** What the loader reads first: the agent's source, length-prefixed. */
export function agentBoot(): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(agentSource.length, 0);
  return Buffer.concat([header, agentSource]);
}
