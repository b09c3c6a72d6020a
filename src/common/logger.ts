import { pino, destination, stdTimeFunctions, type Logger } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  level: string;
  /** Write to this file descriptor (default stdout). */
  destination?: number;
}

/** The daemon's one root logger: JSON lines; components take `child({ component })`. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    { level: options.level, base: { service: "sandboxd" }, timestamp: stdTimeFunctions.isoTime },
    destination({ dest: options.destination ?? 1, sync: false }),
  );
}

/** A logger that writes nothing, for unit tests of components. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
