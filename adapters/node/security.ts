/**
 * @module adapters/node/security — the Node server's side of "safe to expose": tokens from env or a
 * file, the allow-list with real PATH resolution, the refusal to serve other hosts without a token.
 */
import { isLoopback } from '../../src/mcp/server.ts'
import { readFileSync } from 'node:fs'
import { AllowList } from '../../src/index.ts'
import { ConfigError, type Config } from './config.ts'
import { which } from './which.ts'

/** CC_EXECUTOR_AUTH_TOKEN (one, or several separated by commas) and CC_EXECUTOR_AUTH_TOKEN_FILE (one per line, # comments). */
export function loadTokens(config: Config): string[] {
  const tokens = (config.CC_EXECUTOR_AUTH_TOKEN ?? '').split(',')
  if (config.CC_EXECUTOR_AUTH_TOKEN_FILE) tokens.push(...settingLines('CC_EXECUTOR_AUTH_TOKEN_FILE', config.CC_EXECUTOR_AUTH_TOKEN_FILE))
  const cleaned = tokens.map((t) => t.trim()).filter(Boolean)
  if (cleaned.some((t) => t.length < 16)) throw new ConfigError('invalid CC_EXECUTOR_AUTH_TOKEN: every token needs at least 16 characters')
  return cleaned
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
