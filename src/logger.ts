/** @module logger — the logging shape the core writes to (pino's); hosts inject their own logger. */

type LogFn = (fields: Record<string, unknown>, message?: string) => void

export interface Logger {
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
}

const ignore: LogFn = () => {}

/** The default for embedders who pass no logger: the router stays quiet inside their app. */
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore }
