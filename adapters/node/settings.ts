/**
 * @module adapters/node/settings — the Node server's settings, all in one place: the table of
 * environment variables, overridden by the matching CLI flags (`MAX_SESSIONS` ↔ `--max-sessions`),
 * validated by valibot with the parsers it shares with the gateways (src/settings.ts); and what
 * some of them name: the tokens (from env or a file), the allow-list (with real PATH resolution),
 * and the refusal to serve other hosts without a token. A bad value stops startup with one line
 * naming the setting.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import * as v from 'valibot'
import { AllowList, invalidSetting, isLoopback, numberSetting as number, secondsSetting as seconds, settingTokens, SHARED_SETTINGS, wholeSetting as int } from '../../src/index.ts'
import { which } from './spawn/which.ts'

const text = v.pipe(v.string(), v.minLength(1))
const oneOf = <const T extends string[]>(...options: T) => v.picklist(options, `expected ${options.join(', ')}`)

/**
 * Every setting, by its environment variable name: a new setting is one more line here. A default
 * is written as the environment would give it (text), and read like any value given.
 */
export const ConfigSchema = v.object({
  PORT: v.optional(SHARED_SETTINGS.PORT, '8003'),
  HOST: v.optional(text, '127.0.0.1'),
  MAX_SESSIONS: v.optional(SHARED_SETTINGS.MAX_SESSIONS, '100'),
  MAX_STREAMS: v.optional(SHARED_SETTINGS.MAX_STREAMS, '1000'),
  MAX_FOLLOWED: v.optional(int(1), '256'),
  WS_MAX_SIZE: v.optional(int(1024), String(10 * 1024 * 1024)),
  WEBSOCKET_HEARTBEAT_INTERVAL: v.optional(SHARED_SETTINGS.WEBSOCKET_HEARTBEAT_INTERVAL, '20'),
  ACTIVITY_TIMEOUT: v.optional(seconds(0.01), '30'),
  DETACH_GRACE: v.optional(seconds(0), '0'),
  KILL_GRACE_MS: v.optional(int(0, 600_000), '2000'),
  MAX_BUFFER_SIZE: v.optional(int(65_536), String(8 * 1024 * 1024)),
  MAX_CHUNK_SIZE: v.optional(int(1024), '65536'),
  CC_EXECUTOR_SHELL: v.optional(text, 'bash'),
  CC_EXECUTOR_DATA_DIR: v.optional(text, './data'),
  RETENTION_HOURS: v.optional(v.pipe(number(0, Number.MAX_VALUE), v.gtValue(0, 'expected more than 0')), '168'),
  MAX_RECORDS: v.optional(int(1), '10000'),
  MAX_DATA_MB: v.optional(int(1), '10240'),
  CC_EXECUTOR_AUTH_TOKEN: v.optional(v.string()),
  CC_EXECUTOR_AUTH_TOKEN_FILE: v.optional(text),
  CC_EXECUTOR_INSECURE: v.optional(v.pipe(oneOf('true', 'false', '1', '0'), v.transform((value) => value === 'true' || value === '1')), 'false'),
  ALLOWED_COMMANDS: v.optional(v.string()),
  ALLOWED_COMMANDS_FILE: v.optional(text),
  // Unset: no limit of its own (MAX_EXECUTIONS_PER_TOKEN still applies). A pool places by it (/health).
  MAX_EXECUTIONS: v.optional(int(1)),
  MAX_EXECUTIONS_PER_TOKEN: v.optional(int(1), '1024'),
  EXECUTIONS_PER_MINUTE: v.optional(int(1), '6000'),
  MAX_OUTPUT_BYTES: v.optional(int(1024), String(1024 ** 3)),
  CHILD_CPU_SECONDS: v.optional(int(1)),
  CHILD_MEMORY_MB: v.optional(int(16)),
  CHILD_SCHED_POLICY: v.optional(oneOf('batch', 'normal'), 'batch'),
  CLAUDE_BIN: v.optional(text, 'claude'),
  BRIDGE_HEARTBEAT_INTERVAL: v.optional(seconds(0.01), '30'),
  LOG_LEVEL: v.optional(oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), 'info'),
})

export type Config = v.InferOutput<typeof ConfigSchema>
export type ConfigKey = keyof Config

/** `MAX_SESSIONS` → `max-sessions`. */
export const flagOf = (key: string): string => key.toLowerCase().replaceAll('_', '-')

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Reads the settings from env and argv; throws ConfigError with a one-line message. */
export function loadConfig(env: Record<string, string | undefined> = process.env, argv: string[] = process.argv.slice(2)): Config {
  const keys = Object.keys(ConfigSchema.entries) as ConfigKey[]
  let flags: Record<string, string | boolean | undefined>
  try {
    flags = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(keys.map((k) => [flagOf(k), { type: 'string' as const }])),
        // `--insecure` is the short form of CC_EXECUTOR_INSECURE=true.
        insecure: { type: 'boolean' as const },
      },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (error) {
    throw new ConfigError((error as Error).message.split('\n')[0])
  }
  if (flags.insecure === true) flags[flagOf('CC_EXECUTOR_INSECURE')] = 'true'
  const input: Record<string, string | undefined> = {}
  for (const key of keys) {
    const value = flags[flagOf(key)] ?? env[key]
    if (value !== undefined && value !== '') input[key] = String(value)
  }
  const parsed = v.safeParse(ConfigSchema, input)
  if (parsed.success) return parsed.output
  const issue = parsed.issues[0]
  const key = String(issue.path?.[0]?.key)
  throw new ConfigError(invalidSetting(key, issue.message, input[key], `--${flagOf(key)}`))
}

/** CC_EXECUTOR_AUTH_TOKEN (one, or several separated by commas) and CC_EXECUTOR_AUTH_TOKEN_FILE (one per line, # comments). */
export function loadTokens(config: Config): string[] {
  const pieces = (config.CC_EXECUTOR_AUTH_TOKEN ?? '').split(',')
  if (config.CC_EXECUTOR_AUTH_TOKEN_FILE) pieces.push(...settingLines('CC_EXECUTOR_AUTH_TOKEN_FILE', config.CC_EXECUTOR_AUTH_TOKEN_FILE))
  try {
    return settingTokens(pieces)
  } catch (error) {
    throw new ConfigError(`invalid CC_EXECUTOR_AUTH_TOKEN: ${(error as Error).message}`)
  }
}

/** The lines of a settings file, trimmed, without blank lines and # comments; unreadable: a ConfigError naming the setting. */
function settingLines(key: string, path: string): string[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError(`invalid ${key}: ${(error as Error).message}`)
  }
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
}

export { isLoopback }

/** Refuses an open server reachable from other hosts, unless --insecure says so. */
export function checkExposure(config: Config, tokens: readonly string[]): 'closed' | 'loopback' | 'insecure' {
  if (tokens.length > 0) return 'closed'
  if (isLoopback(config.HOST)) return 'loopback'
  if (config.CC_EXECUTOR_INSECURE) return 'insecure'
  throw new ConfigError(
    `refusing to serve HOST=${config.HOST} without a token: set CC_EXECUTOR_AUTH_TOKEN (or pass --insecure to run an open executor)`,
  )
}

/**
 * ALLOWED_COMMANDS (program names separated by commas) and ALLOWED_COMMANDS_FILE: lines of
 * `program` or `program <regex over the arguments joined by spaces>`, # comments.
 */
export function loadAllowList(config: Config): AllowList | undefined {
  const programs = new Set((config.ALLOWED_COMMANDS ?? '').split(',').map((p) => p.trim()).filter(Boolean))
  const patterns: Record<string, RegExp[]> = {}
  if (config.ALLOWED_COMMANDS_FILE) {
    for (const trimmed of settingLines('ALLOWED_COMMANDS_FILE', config.ALLOWED_COMMANDS_FILE)) {
      const space = trimmed.search(/\s/)
      const program = space === -1 ? trimmed : trimmed.slice(0, space)
      programs.add(program)
      if (space === -1) continue
      try {
        ;(patterns[program] ??= []).push(new RegExp(`^(?:${trimmed.slice(space).trim()})$`))
      } catch (error) {
        throw new ConfigError(`invalid ALLOWED_COMMANDS_FILE pattern for ${program}: ${(error as Error).message}`)
      }
    }
  }
  if (programs.size === 0) return undefined
  return new AllowList({ programs: [...programs], patterns, resolve: which })
}
