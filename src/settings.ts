/**
 * @module settings — the parsers of the settings a host reads as text (its environment; the Node
 * server also its flags), in valibot: text in, a checked value out; and the one line that names a
 * bad one. The Node server's table (adapters/node/settings.ts) and the gateways' settings
 * (gateway/config.ts) are both built from these, so a setting both read takes the same values and
 * refuses the same ones in the same words.
 */
import * as v from 'valibot'

// Number() would read '' and ' ' as 0 (PORT=' ': any free port) and '0x10' as 16: only decimals are numbers here.
const WHOLE = /^-?\d+$/
const DECIMAL = /^-?(\d+(\.\d*)?|\.\d+)$/

/** A whole number from `min` to `max`, from a setting's text. */
export const wholeSetting = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  v.pipe(
    v.string(),
    v.regex(WHOLE, 'expected a whole number'),
    v.transform(Number),
    v.number('expected a number'),
    v.safeInteger('expected a whole number'),
    v.minValue(min, `expected at least ${min}`),
    v.maxValue(max, `expected at most ${max}`),
  )

/** A decimal number from `min` to `max`, from a setting's text. */
export const numberSetting = (min: number, max: number) =>
  v.pipe(v.string(), v.regex(DECIMAL, 'expected a number'), v.transform(Number), v.number('expected a number'), v.finite('expected a number'), v.minValue(min, `expected at least ${min}`), v.maxValue(max, `expected at most ${max}`))

/** Seconds from `min`, up to the largest delay a timer can hold. */
export const secondsSetting = (min: number) => numberSetting(min, 2_147_483)

/** The settings the Node server and the gateways both read, with their bounds; each host keeps its own defaults. */
export const SHARED_SETTINGS = {
  /** 0: any free port. */
  PORT: wholeSetting(0, 65_535),
  MAX_SESSIONS: wholeSetting(1),
  MAX_STREAMS: wholeSetting(1),
  WEBSOCKET_HEARTBEAT_INTERVAL: secondsSetting(0.01),
}

/** The line that names a bad setting, e.g. `invalid PORT (--port): expected at most 65535 (got "70000")`; `flag`: the setting's flag, where it has one. */
export function invalidSetting(name: string, problem: string, raw: string | undefined, flag?: string): string {
  return `invalid ${name}${flag ? ` (${flag})` : ''}: ${problem} (got ${JSON.stringify(raw)})`
}

/** One setting's text read by its parser: the value, or the line that names it (invalidSetting). */
export function readSetting<T>(schema: v.GenericSchema<string, T>, name: string, raw: string): { ok: true; value: T } | { ok: false; message: string } {
  const parsed = v.safeParse(schema, raw)
  return parsed.success ? { ok: true, value: parsed.output } : { ok: false, message: invalidSetting(name, parsed.issues[0].message, raw) }
}
