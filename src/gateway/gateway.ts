/**
 * @module gateway — createGateway(): the app of every gateway (Workers, Deno, Bun) over a pool of
 * Node executors. An entry reads its runtime's settings, passes them here and serves the result.
 */
import type { UpgradeWebSocket, WSContext } from 'hono/ws'
import { createExecutorApp, DEFAULT_LIMITS, type ExecutorApp, type ExecutorAppOptions, type ExecutorLimits } from '../app.ts'
import type { DroppedControl } from '../executor/remote-executor.ts'
import type { Logger } from '../logger.ts'
import type { SocketChannel } from '../ws/session.ts'
import { parsePool } from './config.ts'
import { ExecutorPool, type PoolOptions } from './pool.ts'
import type { MemberState, PoolState } from './pool-state.ts'

export interface GatewayOptions {
  /** EXECUTOR_URLS: the executors, comma-separated. */
  executorUrls?: string
  /** EXECUTOR_URL: one executor (a pool of one), when executorUrls is unset. */
  executorUrl?: string
  /** EXECUTOR_TOKEN: one token for every executor, or one per executor, comma-separated in the same order. */
  tokens?: string
  /** The bearer tokens the gateway's own clients must send (see clientTokens()); none: open. */
  clientTokens?: readonly string[]
  upgradeWebSocket: UpgradeWebSocket<any>
  /** Reported by /health: "workerd", "deno", "bun". */
  runtime: string
  limits?: Partial<ExecutorLimits>
  channel?: (ws: WSContext<any>) => SocketChannel
  logger?: Logger
  /** Host/Origin protection (see allowedHostnamesFor: a gateway on loopback wants it). */
  allowedHostnames?: ExecutorAppOptions['allowedHostnames']
  /** Where the pool's health, load and counters live (default: this process's memory). */
  state?: PoolState
  /** Health-check and timeout settings of the pool. */
  pool?: Omit<PoolOptions, 'members' | 'state'>
}

/** A gateway's default: its failures on the console (the runtime's log), nothing else. */
const warnings: Logger = {
  debug: () => {},
  info: () => {},
  warn: (fields, message) => console.warn(message ?? '', fields),
  error: ({ err, ...fields }, message) => console.error(message ?? '', fields, err),
}

export type Gateway = ExecutorApp & { readonly pool: ExecutorPool }

/**
 * The gateway's app. Throws PoolConfigError (its message names the setting) for a bad EXECUTOR_URLS
 * or EXECUTOR_TOKEN.
 *
 * @example
 * const app = createGateway({ executorUrls: env.EXECUTOR_URLS, tokens: env.EXECUTOR_TOKEN, upgradeWebSocket, runtime: 'deno' })
 */
export function createGateway(options: GatewayOptions): Gateway {
  const members = parsePool({ urls: options.executorUrls, url: options.executorUrl, tokens: options.tokens })
  // The executors beat as often as the gateway does (one WEBSOCKET_HEARTBEAT_INTERVAL for both): a stream silent for 3 intervals is dead.
  const heartbeatInterval = options.limits?.heartbeatInterval ?? DEFAULT_LIMITS.heartbeatInterval
  const logger = options.logger ?? warnings
  // A client was answered "pending" for it: the operator hears when it is given up (docs/protocol.md, control).
  const dropCause = { 'retries exhausted': (d: DroppedControl) => `${d.retries} retries failed`, closed: () => 'the gateway stopped', 'closed while sending': () => 'the gateway stopped while sending it' }
  const onControlDropped = (dropped: DroppedControl) =>
    logger.warn({ ...dropped }, `a ${dropped.type} kept for an unreachable executor was dropped (${dropCause[dropped.why](dropped)}); the execution may still be running there`)
  const pool = new ExecutorPool({ ...options.pool, members, state: options.state, remote: { heartbeatInterval, onControlDropped, ...options.pool?.remote } })
  const app = createExecutorApp({
    executor: pool,
    tokens: options.clientTokens,
    upgradeWebSocket: options.upgradeWebSocket,
    runtime: options.runtime,
    limits: options.limits,
    channel: options.channel,
    logger,
    allowedHostnames: options.allowedHostnames,
  })
  // After the app's token check, like the Node server's /metrics.
  app.get('/metrics', async (c) => c.text(metricsText(await pool.members()), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }))
  return Object.assign(app, { pool })
}

const label = (url: string) => `{executor="${url.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"}`

/** The pool per executor, in Prometheus' text format. */
export function metricsText(members: readonly MemberState[]): string {
  const series: [name: string, type: 'counter' | 'gauge', help: string, value: (m: MemberState) => number][] = [
    ['cc_gateway_placements_total', 'counter', 'Executions placed on the executor', (m) => m.placements],
    ['cc_gateway_failures_total', 'counter', 'Requests to the executor that failed (unreachable, timed out, or not a sensible answer)', (m) => m.failures],
    ['cc_gateway_unavailable_total', 'counter', 'Times the executor was found unavailable after being available', (m) => m.unavailable],
    ['cc_gateway_executor_up', 'gauge', '1 while the executor is healthy', (m) => (m.healthy ? 1 : 0)],
    ['cc_gateway_executor_running', 'gauge', 'Executions running on the executor, as the pool counts them', (m) => m.running],
    ['cc_gateway_executor_capacity', 'gauge', 'The executor\'s MAX_EXECUTIONS (+Inf: no limit)', (m) => m.max ?? Infinity],
  ]
  const lines: string[] = []
  for (const [name, type, help, value] of series) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const m of members) {
      const v = value(m)
      lines.push(`${name}${label(m.url)} ${v === Infinity ? '+Inf' : v}`)
    }
  }
  return `${lines.join('\n')}\n`
}
