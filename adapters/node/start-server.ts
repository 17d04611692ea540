/**
 * @module adapters/node/start-server — startNodeServer(settings): the Node executor server: the portable app with a LocalExecutor,
 * served by @hono/node-server v2 and its built-in upgradeWebSocket on a ws server.
 */
import { serve, upgradeWebSocket, type ServerType } from '@hono/node-server'
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { AddressInfo } from 'node:net'
import { pino, type Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { allowedHostnamesFor, createExecutorApp, type ExecutorApp } from '../../src/index.ts'
import { nodeClaudeRuntime } from './claude.ts'
import { checkExposure, ConfigError, loadAllowList, loadTokens, type Config } from './settings.ts'
import { FileStore } from './file-store.ts'
import { LocalExecutor } from './local-executor.ts'
import { observability } from './observability.ts'
import { nodeChannel } from './websocket.ts'

/**
 * How long a stopping server lets responses under way finish (a transcript download) once its
 * executions have ended, within the shutdown's margin (SHUTDOWN_MARGIN_MS in server-process.ts).
 */
export const DRAIN_MS = 3000
/** How long WebSocket peers get to answer the server's close (1001) before their sockets are cut. */
const WS_CLOSE_MS = 500
const DRAIN_POLL_MS = 20

export interface NodeServer {
  app: ExecutorApp
  server: ServerType
  port: number
  logger: Logger
  /** Stops accepting, cancels every execution, waits for their process groups, closes sockets. */
  close(): Promise<void>
}

/**
 * Makes a directory and its missing parents, one level at a time: Node's `recursive: true` loops
 * forever where mkdir answers ENOENT for a parent that exists (under /proc).
 */
function makeDirectory(dir: string): void {
  const missing: string[] = []
  for (let at = resolve(dir); !existsSync(at); at = dirname(at)) missing.unshift(at)
  for (const path of missing) mkdirSync(path)
}

/** Makes the data directory if missing; one this process cannot read and write is a bad setting. */
function checkDataDir(dir: string): void {
  try {
    makeDirectory(dir)
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK)
  } catch (error) {
    throw new ConfigError(`invalid CC_EXECUTOR_DATA_DIR (--cc-executor-data-dir): cannot use ${dir} (${(error as Error).message})`)
  }
}

/** A listen failure that a setting causes, as the one line naming that setting; undefined for any other. */
function listenError(error: NodeJS.ErrnoException, { PORT, HOST }: Config): ConfigError | undefined {
  switch (error.code) {
    case 'EADDRINUSE':
      return new ConfigError(`port ${PORT} on ${HOST} is already in use: stop what listens there, or choose another port with PORT (--port)`)
    case 'EACCES':
      return new ConfigError(`not allowed to listen on port ${PORT} on ${HOST}: choose another port with PORT (--port)`)
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError(`cannot listen on ${HOST} (${error.code}): set HOST (--host) to an address of this machine`)
  }
  return undefined
}

/**
 * Starts the executor server and resolves once it listens. A data directory it cannot use or an
 * address it cannot listen on rejects with a ConfigError naming the setting.
 */
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
  const { observer, metrics, seedLabels } = observability(logger)
  checkDataDir(config.CC_EXECUTOR_DATA_DIR)
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
    // On loopback, a web page elsewhere must not reach the server, directly or through a rebound DNS name.
    allowedHostnames: allowedHostnamesFor(config.HOST),
    bridgeHeartbeatInterval: config.BRIDGE_HEARTBEAT_INTERVAL,
    executionLimits: {
      maxExecutions: config.MAX_EXECUTIONS ?? Infinity,
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
  seedLabels(app.registry.labels())
  const pruning = setInterval(() => void store.prune(), 3_600_000).unref()
  // maxPayload makes ws close an oversized frame with 1009 before it is buffered whole.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.WS_MAX_SIZE,
    // A browser offers `bearer` beside `bearer.<token>`; the answer must be one it offered, and never the token.
    handleProtocols: (protocols) => (protocols.has('bearer') ? 'bearer' : false),
  })
  let server: ServerType
  try {
    server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST, websocket: { server: wss } }, () => {
        s.off('error', reject)
        resolve(s)
      })
      s.once('error', reject)
    })
  } catch (error) {
    clearInterval(pruning)
    wss.close()
    await app.shutdown()
    throw listenError(error as NodeJS.ErrnoException, config) ?? error
  }
  // Responses under way (not WebSocket upgrades): what a stopping server waits for (see close).
  let responding = 0
  server.on('request', (_request, response: { once(event: 'close', listener: () => void): unknown }) => {
    responding += 1
    response.once('close', () => (responding -= 1))
  })
  const port = (server.address() as AddressInfo).port
  const url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`
  logger.info({ host: config.HOST, port, url, shell: executor.shell, child_sched_policy: executor.schedPolicy, auth: exposure, tokens: tokens.length, allow_list: allowList !== undefined }, 'listening')
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
      if (!('closeAllConnections' in server)) return
      // Responses under way (a transcript download) finish, for DRAIN_MS at most, and each keep-alive
      // connection is closed once it is idle; WebSocket peers get WS_CLOSE_MS to answer the 1001.
      // Then whatever is still open is cut: connections that sent no request, peers that did not answer.
      const started = Date.now()
      const waiting = () => (responding > 0 && Date.now() - started < DRAIN_MS) || (wss.clients.size > 0 && Date.now() - started < WS_CLOSE_MS)
      while (waiting()) {
        server.closeIdleConnections()
        await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS))
      }
      server.closeAllConnections()
      for (const client of wss.clients) client.terminate()
    })())
  return { app, server, port, logger, close }
}
