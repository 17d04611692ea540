/**
 * @module adapters/node/config — the Node server's settings: environment variables, overridden by
 * the matching CLI flags (`MAX_SESSIONS` ↔ `--max-sessions`), validated by zod. A bad value stops
 * startup with one line naming the setting.
 */
import { parseArgs } from 'node:util'
import { z } from 'zod'

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max)
const seconds = (min: number) => z.coerce.number().finite().min(min).max(2_147_483)

/** Every setting, by its environment variable name, with its default. */
export const ConfigSchema = z.object({
  PORT: int(0, 65_535).default(8003),
  HOST: z.string().min(1).default('127.0.0.1'),
  MAX_SESSIONS: int(1).default(100),
  MAX_STREAMS: int(1).default(1000),
  MAX_FOLLOWED: int(1).default(256),
  WS_MAX_SIZE: int(1024).default(10 * 1024 * 1024),
  WEBSOCKET_HEARTBEAT_INTERVAL: seconds(0.01).default(20),
  ACTIVITY_TIMEOUT: seconds(0.01).default(30),
  DETACH_GRACE: seconds(0).default(0),
  KILL_GRACE_MS: int(0, 600_000).default(2000),
  MAX_BUFFER_SIZE: int(65_536).default(8 * 1024 * 1024),
  MAX_CHUNK_SIZE: int(1024).default(65_536),
  CC_EXECUTOR_SHELL: z.string().min(1).default('bash'),
  CC_EXECUTOR_DATA_DIR: z.string().min(1).default('./data'),
  RETENTION_HOURS: z.coerce.number().finite().positive().default(168),
  MAX_RECORDS: int(1).default(10_000),
  MAX_DATA_MB: int(1).default(10_240),
  CC_EXECUTOR_AUTH_TOKEN: z.string().optional(),
  CC_EXECUTOR_AUTH_TOKEN_FILE: z.string().min(1).optional(),
  CC_EXECUTOR_INSECURE: z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1').default(false),
  ALLOWED_COMMANDS: z.string().optional(),
  ALLOWED_COMMANDS_FILE: z.string().min(1).optional(),
  // Unset: no limit of its own (MAX_EXECUTIONS_PER_TOKEN still applies). A pool places by it (/health).
  MAX_EXECUTIONS: int(1).optional(),
  MAX_EXECUTIONS_PER_TOKEN: int(1).default(1024),
  EXECUTIONS_PER_MINUTE: int(1).default(6000),
  MAX_OUTPUT_BYTES: int(1024).default(1024 ** 3),
  CHILD_CPU_SECONDS: int(1).optional(),
  CHILD_MEMORY_MB: int(16).optional(),
  CHILD_SCHED_POLICY: z.enum(['batch', 'normal']).default('batch'),
  CLAUDE_BIN: z.string().min(1).default('claude'),
  BRIDGE_HEARTBEAT_INTERVAL: seconds(0.01).default(30),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
})

export type Config = z.infer<typeof ConfigSchema>
export type ConfigKey = keyof Config

/** `MAX_SESSIONS` → `max-sessions`. */
export const flagOf = (key: string): string => key.toLowerCase().replaceAll('_', '-')

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Reads the settings from env and argv; throws ConfigError with a one-line message. */
export function loadConfig(env: Record<string, string | undefined> = process.env, argv: string[] = process.argv.slice(2)): Config {
  const keys = Object.keys(ConfigSchema.shape) as ConfigKey[]
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
  const parsed = ConfigSchema.safeParse(input)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  const key = String(issue.path[0])
  throw new ConfigError(`invalid ${key} (--${flagOf(key)}): ${issue.message} (got ${JSON.stringify(input[key])})`)
}
