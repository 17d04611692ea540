/**
 * @module gateway/config — a gateway's pool from its settings: `EXECUTOR_URLS` (comma-separated; else
 * `EXECUTOR_URL`, a pool of one) and `EXECUTOR_TOKEN` (one token for all, or one per executor in
 * the same order). A bad value is a PoolConfigError naming the setting.
 */
import * as v from 'valibot'
import type { ExecutorLimits } from '../app.ts'
import { readSetting, SHARED_SETTINGS } from '../settings.ts'
import { isLoopback } from '../security/host-check.ts'
import { settingTokens } from '../security/auth.ts'

export interface PoolMemberConfig {
  /** The executor's base URL, normalized (no trailing slash). */
  url: string
  /** Names it in the ids of the executions it runs: a hash of its URL, so every gateway agrees without asking. */
  tag: string
  token?: string
}

export class PoolConfigError extends Error {
  override name = 'PoolConfigError'
}

/** More is a configuration mistake, and each executor costs a health check per interval. */
export const MAX_POOL_SIZE = 64

/** FNV-1a over the URL, as 8 hex digits: stable across gateways and restarts while the URL is. */
export function tagOf(url: string): string {
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(url)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0
  return hash.toString(16).padStart(8, '0')
}

/** Parses the pool's settings; throws PoolConfigError with a one-line message. */
export function parsePool({ urls, url, tokens }: { urls?: string; url?: string; tokens?: string }): PoolMemberConfig[] {
  const setting = urls?.trim() ? 'EXECUTOR_URLS' : 'EXECUTOR_URL'
  const raw = (urls?.trim() || url?.trim() || '').split(',').map((s) => s.trim())
  if (raw.length === 1 && raw[0] === '') throw new PoolConfigError('EXECUTOR_URLS (or EXECUTOR_URL) is empty: name at least one executor')
  if (raw.length > MAX_POOL_SIZE) throw new PoolConfigError(`${setting} names ${raw.length} executors; at most ${MAX_POOL_SIZE}`)
  const members = raw.map((entry, i): PoolMemberConfig => {
    if (entry === '') throw new PoolConfigError(`${setting}: entry ${i + 1} is empty (two commas, or one at an end?)`)
    let parsed: URL
    try {
      parsed = new URL(entry)
    } catch {
      throw new PoolConfigError(`${setting}: entry ${i + 1} (${JSON.stringify(entry)}) is not a URL`)
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new PoolConfigError(`${setting}: entry ${i + 1} (${JSON.stringify(entry)}) is not http: or https:`)
    }
    if (parsed.username || parsed.password || parsed.search || parsed.hash) {
      throw new PoolConfigError(`${setting}: entry ${i + 1} must be a plain base URL (no credentials, query or fragment; the token goes in EXECUTOR_TOKEN)`)
    }
    const normalized = `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`
    return { url: normalized, tag: tagOf(normalized) }
  })
  for (let i = 0; i < members.length; i++) {
    const twin = members.findIndex((m, j) => j < i && (m.url === members[i].url || m.tag === members[i].tag))
    if (twin >= 0) throw new PoolConfigError(`${setting}: entries ${twin + 1} and ${i + 1} name the same executor (${members[i].url})`)
  }
  const list = tokens ? tokens.split(',').map((t) => t.trim()) : []
  if (list.length > 1 && list.length !== members.length) {
    throw new PoolConfigError(`EXECUTOR_TOKEN holds ${list.length} tokens for ${members.length} executors: give one for all, or one per executor in ${setting}'s order`)
  }
  if (list.some((t) => t === '')) throw new PoolConfigError('EXECUTOR_TOKEN: one of its comma-separated tokens is empty')
  return members.map((m, i) => (list.length === 0 ? m : { ...m, token: list.length === 1 ? list[0] : list[i] }))
}

/**
 * The tokens a gateway asks of its own clients: `CC_EXECUTOR_AUTH_TOKEN` (comma-separated, at
 * least 16 characters each, as on the Node server). A gateway without one forwards anybody's
 * commands with the executors' token, so it serves without one only on loopback (`host`; a deployed
 * Worker has none: undefined), or when `CC_EXECUTOR_INSECURE` is true. Throws PoolConfigError.
 */
export function clientTokens({ tokens, host, insecure }: { tokens?: string; host?: string; insecure?: string }): string[] {
  let list: string[]
  try {
    list = settingTokens((tokens ?? '').split(','))
  } catch (error) {
    throw new PoolConfigError(`CC_EXECUTOR_AUTH_TOKEN: ${(error as Error).message}`)
  }
  if (list.length > 0 || insecure === 'true' || insecure === '1') return list
  if (host !== undefined && isLoopback(host)) return list
  throw new PoolConfigError(
    `refusing to serve ${host === undefined ? 'a deployed Worker' : `HOST=${host}`} without a token of its own: set CC_EXECUTOR_AUTH_TOKEN (or CC_EXECUTOR_INSECURE=true for an open gateway)`,
  )
}

type GatewayLimits = Partial<Pick<ExecutorLimits, 'maxSessions' | 'maxStreams' | 'heartbeatInterval'>>

/** A setting's text read by its parser in SHARED_SETTINGS (as the Node server reads it); throws PoolConfigError naming a bad one. */
function shared<K extends keyof typeof SHARED_SETTINGS>(name: K, raw: string): v.InferOutput<(typeof SHARED_SETTINGS)[K]> {
  const read = readSetting(SHARED_SETTINGS[name], name, raw)
  if (!read.ok) throw new PoolConfigError(read.message)
  return read.value
}

/**
 * The app limits a gateway takes from its settings, as the Node server does: `MAX_SESSIONS`
 * (WebSocket and MCP sessions at once) and `MAX_STREAMS` (HTTP event streams at once), whole
 * numbers from 1; `WEBSOCKET_HEARTBEAT_INTERVAL`, seconds (from 0.01), between the gateway's
 * heartbeats, and those it expects of its executors' streams. Blank or unset: the app's defaults.
 * Throws PoolConfigError naming a bad one.
 */
export function gatewayLimits(get: (name: string) => string | undefined): GatewayLimits {
  const limits: GatewayLimits = {}
  for (const [name, key] of [['MAX_SESSIONS', 'maxSessions'], ['MAX_STREAMS', 'maxStreams'], ['WEBSOCKET_HEARTBEAT_INTERVAL', 'heartbeatInterval']] as const) {
    const raw = get(name)?.trim()
    if (raw) limits[key] = shared(name, raw)
  }
  return limits
}

/**
 * Where a Deno or Bun gateway listens: `HOST` (default 127.0.0.1) and `PORT` (default 8787; 0: any
 * free port), the port read as on the Node server (SHARED_SETTINGS.PORT). Throws PoolConfigError.
 */
export function gatewayListen(get: (name: string) => string | undefined): { host: string; port: number } {
  const port = shared('PORT', get('PORT') ?? '8787')
  const host = get('HOST') ?? '127.0.0.1'
  if (host.trim() === '' || host.trim() !== host) throw new PoolConfigError(`invalid HOST: expected an address or host name (got ${JSON.stringify(host)})`)
  return { host, port }
}

/** The one line a gateway prints when its runtime cannot listen where it was told (a port taken, a HOST not of this machine). */
export function listenFailure(runtime: string, { host, port }: { host: string; port: number }, error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).split('\n')[0]
  return `cc-executor gateway (${runtime}): cannot listen on ${host}:${port} (HOST, PORT): ${message}`
}
