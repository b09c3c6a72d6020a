import { collect, type Collected } from "../../test/helpers/events.js";
import type { SandboxClient } from "./client.js";

export { collect, type Collected };

/** A positive integer from the environment, or the default. */
export function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}

/** Creates a python sandbox and waits until a run in it works (its agent is up). */
export async function readySandbox(client: SandboxClient, spec: Record<string, unknown> = {}): Promise<{ id: string; containerId: string; fromPool: boolean }> {
  const { sandbox } = await client.createSandbox({ spec: { language: "python", ...spec } });
  if (!sandbox) throw new Error("CreateSandbox returned no sandbox");
  const r = await collect(client.exec({ sandboxId: sandbox.id, argv: ["true"] }));
  if (r.exit.exitCode !== 0) throw new Error(`warm-up exec failed: ${r.stderr}`);
  return { id: sandbox.id, containerId: sandbox.containerId, fromPool: sandbox.fromPool };
}

export function expectOutput(what: string, got: string, want: string): void {
  if (got !== want) throw new Error(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got.slice(0, 200))}`);
}
