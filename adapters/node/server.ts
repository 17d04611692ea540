/**
 * @module adapters/node/server — the Node executor server: the portable app with a LocalExecutor,
 * served by @hono/node-server v2 and its built-in upgradeWebSocket on a ws server.
 */
import { serve, upgradeWebSocket, type ServerType } from '@hono/node-server'
import type { AddressInfo } from 'node:net'
import { pino, type Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { createExecutorApp, type ExecutorApp } from '../../src/index.ts'
import { nodeClaudeRuntime } from './claude.ts'
import type { Config } from './config.ts'
import { FileStore } from './file-store.ts'
import { LocalExecutor } from './local-executor.ts'
import { observability } from './observability.ts'
import { checkExposure, loadAllowList, loadTokens } from './security.ts'
import { nodeChannel } from './websocket.ts'

export interface NodeServer {
  app: ExecutorApp
  server: ServerType
  port: number
  logger: Logger
  /** Stops accepting, cancels every execution, waits for their process groups, closes sockets. */
  close(): Promise<void>
}

/** Starts the executor server and resolves once it listens. */
export async function startNodeServer(config: Config, logger: Logger = pino({ level: config.LOG_LEVEL })): Promise<NodeServer> {
  const tokens = loadTokens(config)
  const exposure = checkExposure(config, tokens)
  const allowList = loadAllowList(config)
  const executor = new LocalExecutor({
    shell: config.CC_EXECUTOR_SHELL,
    killGraceMs: config.KILL_GRACE_MS,
    queueBytes: Math.floor(config.MAX_BUFFER_SIZE / 8),
    maxChunk: config.MAX_CHUNK_SIZE,
    maxOutputBytes: config.MAX_OUTPUT_BYTES,
    maxPendingInput: config.MAX_BUFFER_SIZE,
    cpuSeconds: config.CHILD_CPU_SECONDS,
    memoryBytes: config.CHILD_MEMORY_MB === undefined ? undefined : config.CHILD_MEMORY_MB * 1024 * 1024,
    schedPolicy: config.CHILD_SCHED_POLICY,
  })
  const { observer, metrics } = observability(logger)
  let forget = (_id: string) => {} // the registry's, once the app exists
  const store = await FileStore.open(config.CC_EXECUTOR_DATA_DIR, {
    retentionHours: config.RETENTION_HOURS,
    maxRecords: config.MAX_RECORDS,
    maxBytes: config.MAX_DATA_MB * 1024 * 1024,
    onDeleted: (ids) => ids.forEach((id) => forget(id)),
    logger,
  })
  const highWater = Math.floor(config.MAX_BUFFER_SIZE / 4)
  const app = createExecutorApp({
    executor,
    upgradeWebSocket,
    channel: (ws) =>
      nodeChannel(ws, { highWater, lowWater: highWater / 4, pingIntervalMs: config.WEBSOCKET_HEARTBEAT_INTERVAL * 1000 }),
    runtime: 'node',
    logger,
    store,
    tokens,
    allowList,
    observer,
    claude: nodeClaudeRuntime(config.CLAUDE_BIN),
    bridgeHeartbeatInterval: config.BRIDGE_HEARTBEAT_INTERVAL,
    executionLimits: {
      maxExecutions: config.MAX_EXECUTIONS,
      maxExecutionsPerToken: config.MAX_EXECUTIONS_PER_TOKEN,
      startsPerMinute: config.EXECUTIONS_PER_MINUTE,
    },
    limits: {
      maxSessions: config.MAX_SESSIONS,
      maxStreams: config.MAX_STREAMS,
      maxFollowed: config.MAX_FOLLOWED,
      wsMaxSize: config.WS_MAX_SIZE,
      heartbeatInterval: config.WEBSOCKET_HEARTBEAT_INTERVAL,
      activityTimeout: config.ACTIVITY_TIMEOUT,
      detachGrace: config.DETACH_GRACE,
      maxBufferSize: config.MAX_BUFFER_SIZE,
    },
  })
  app.get('/metrics', async (c) => c.text(await metrics.metrics(), 200, { 'content-type': metrics.contentType }))
  forget = (id) => app.registry.forget(id)
  await app.registry.restore()
  const pruning = setInterval(() => void store.prune(), 3_600_000).unref()
  // maxPayload makes ws close an oversized frame with 1009 before it is buffered whole.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.WS_MAX_SIZE,
    // A browser offers `bearer` beside `bearer.<token>`; the answer must be one it offered, and never the token.
    handleProtocols: (protocols) => (protocols.has('bearer') ? 'bearer' : false),
  })
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST, websocket: { server: wss } }, () => resolve(s))
  })
  const port = (server.address() as AddressInfo).port
  logger.info({ host: config.HOST, port, shell: executor.shell, child_sched_policy: executor.schedPolicy, auth: exposure, tokens: tokens.length, allow_list: allowList !== undefined }, 'listening')
  if (exposure === 'insecure') {
    logger.warn({ host: config.HOST }, 'NO AUTHENTICATION: anyone who can reach this address can run any command (--insecure)')
  }

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      server.close()
      clearInterval(pruning)
      await app.shutdown()
      for (const client of wss.clients) client.close(1001, 'server shutting down')
      if ('closeAllConnections' in server) server.closeAllConnections()
    })())
  return { app, server, port, logger, close }
}
