import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { loadavg } from "node:os";

/** A goal from issue 7: a ratio (or rate) and the bound it should meet. Reported, never asserted. */
export interface Goal {
  metric: string;
  description: string;
  op: "<=" | ">=";
  target: number;
  /** null when the measurement is pending or failed. */
  value: number | null;
  met: boolean | null;
}

/** A number worth a line in the summary that no goal was set for. */
export interface Reported {
  metric: string;
  description: string;
  value: number | null;
  unit: string;
}

export interface BenchResult {
  name: string;
  title: string;
  /** ok: everything measured; partial: some parts pending or failed; pending: nothing could run yet. */
  status: "ok" | "partial" | "pending" | "error";
  startedAt: string;
  durationMs: number;
  /** 1-minute load average before and after: other work on the machine shows up here. */
  loadAvg: { before: number; after: number };
  config: Record<string, unknown>;
  metrics: Record<string, unknown>;
  goals: Goal[];
  reported: Reported[];
  notes: string[];
  pending: string[];
  error?: string;
}

export function goal(metric: string, description: string, op: Goal["op"], target: number, value: number | null): Goal {
  const met = value === null || !Number.isFinite(value) ? null : op === "<=" ? value <= target : value >= target;
  return { metric, description, op, target, value: value !== null && Number.isFinite(value) ? value : null, met };
}

export function summaryLine(r: BenchResult): string {
  if (r.status === "error") return `${r.name}: ERROR ${r.error ?? ""}`;
  const parts = r.goals.map((g) => {
    const mark = g.met === null ? "pending" : g.met ? "met" : "NOT met";
    return `${g.metric} ${g.value ?? "-"} (goal ${g.op} ${g.target}, ${mark})`;
  });
  for (const m of r.reported) parts.push(`${m.metric} ${m.value ?? "-"} ${m.unit}`);
  const pend = r.pending.length ? ` [pending: ${r.pending.join("; ")}]` : "";
  return `${r.name}: ${parts.join(", ") || "no goals"}${pend} (${(r.durationMs / 1000).toFixed(1)} s)`;
}

export interface BenchContext {
  metrics: Record<string, unknown>;
  goals: Goal[];
  reported: Reported[];
  notes: string[];
  pending: string[];
  config: Record<string, unknown>;
}

/**
 * Runs a benchmark body and shapes its result. When the file is executed directly, prints
 * the JSON and a one-line summary, and writes the JSON to $BENCH_RESULT_FILE (run-all sets it).
 */
export async function runBenchmark(name: string, title: string, body: (ctx: BenchContext) => Promise<void>): Promise<BenchResult> {
  const startedAt = new Date();
  const t0 = performance.now();
  const loadBefore = loadavg()[0] ?? 0;
  const ctx: BenchContext = { metrics: {}, goals: [], reported: [], notes: [], pending: [], config: {} };
  let error: string | undefined;
  try {
    await body(ctx);
  } catch (err) {
    error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  }
  const measured = ctx.goals.some((g) => g.value !== null) || ctx.reported.some((m) => m.value !== null);
  const status: BenchResult["status"] = error ? "error" : ctx.pending.length === 0 ? "ok" : measured ? "partial" : "pending";
  const result: BenchResult = {
    name,
    title,
    status,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    loadAvg: { before: Number(loadBefore.toFixed(2)), after: Number((loadavg()[0] ?? 0).toFixed(2)) },
    config: ctx.config,
    metrics: ctx.metrics,
    goals: ctx.goals,
    reported: ctx.reported,
    notes: ctx.notes,
    pending: ctx.pending,
  };
  if (error) result.error = error;
  return result;
}

/** True when `moduleUrl` is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && resolve(entry) === fileURLToPath(moduleUrl);
}

/** Entry point of a benchmark file run alone. */
export async function mainOf(run: () => Promise<BenchResult>): Promise<void> {
  const result = await run();
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${summaryLine(result)}\n`);
  const file = process.env["BENCH_RESULT_FILE"];
  if (file) writeFileSync(file, JSON.stringify(result, null, 2));
  // Clients and timers may linger in grpc-js; the result is out, so leave.
  process.exit(result.status === "error" ? 1 : 0);
}
