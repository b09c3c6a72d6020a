/**
 * Options for the load drivers: `--name value` flags first, then LOAD_<NAME> environment
 * variables, then defaults. Durations take ms/s/m/h suffixes.
 */
export function parseDurationMs(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(v);
  if (!m) throw new Error(`invalid duration ${JSON.stringify(v)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s").toLowerCase() as "ms" | "s" | "m" | "h"];
  return Math.round(Number(m[1]) * unit);
}

export class Options {
  private readonly flags = new Map<string, string>();

  constructor(argv: readonly string[] = process.argv.slice(2)) {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i] as string;
      if (!a.startsWith("--")) throw new Error(`unexpected argument ${JSON.stringify(a)}`);
      const eq = a.indexOf("=");
      if (eq > 0) this.flags.set(a.slice(2, eq), a.slice(eq + 1));
      else if (i + 1 < argv.length && !(argv[i + 1] as string).startsWith("--")) this.flags.set(a.slice(2), argv[++i] as string);
      else this.flags.set(a.slice(2), "true");
    }
  }

  private raw(name: string): string | undefined {
    return this.flags.get(name) ?? process.env[`LOAD_${name.toUpperCase().replace(/-/g, "_")}`];
  }

  int(name: string, fallback: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
    return n;
  }

  duration(name: string, fallbackMs: number): number {
    const v = this.raw(name);
    return v === undefined ? fallbackMs : parseDurationMs(v);
  }

  number(name: string, fallback: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${JSON.stringify(v)}`);
    return n;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  /** Extra daemon flags, e.g. --daemon-args "--pools.python 4". */
  list(name: string): string[] {
    const v = this.raw(name);
    return v ? v.split(/\s+/).filter(Boolean) : [];
  }
}
