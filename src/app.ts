/**
 * @module app — createExecutorApp(): the whole protocol as one Hono app, independent of runtime.
 * The host injects the executor and its runtime's upgradeWebSocket; it mounts the app as it is
 * or under a prefix with `app.route('/exec', createExecutorApp(...))`.
 */
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import type { UpgradeWebSocket, WSContext } from 'hono/ws'
import { ExecutionRegistry, RETRY_AFTER, type ClaudeRuntime, type ExecutionLimits, type ExecutionStore } from './executions/registry.ts'
import type { Observer } from './observer.ts'
import type { AllowList } from './security/allow-list.ts'
import { requireToken, tokenEntries, type AuthVariables, type TokenEntry } from './security/auth.ts'
import { v1Routes } from './http/v1.ts'
import type { Executor } from './executor/executor.ts'
import { silentLogger, type Logger } from './logger.ts'
import { ErrorCode, httpStatusOf, RpcError, toRpcError } from './protocol/errors.ts'
import * as rpc from './protocol/jsonrpc.ts'
import { V1_PREFIX } from './protocol/routes.ts'
import { VERSION } from './version.ts'
import { Session, type SocketChannel } from './ws/session.ts'
import { webChannel } from './ws/web-channel.ts'
import { BridgeSession } from './claude/bridge.ts'
import { mcpRoutes } from './mcp/server.ts'
import { Shutdown } from './http/event-stream.ts'
import { hostCheck } from './security/host-check.ts'
import { consoleRoutes } from './console/serve.ts'

export interface ExecutorLimits {
  /** Concurrent WebSocket sessions (MAX_SESSIONS). */
  maxSessions: number
  /** Concurrent HTTP streams: `POST /v1/executions` without detach, `GET …/events`, `GET …/transcript` (MAX_STREAMS). */
  maxStreams: number
  /**
   * Executions one WebSocket session may follow at once (MAX_FOLLOWED). They all share its socket,
   * and each one stalled on a slow client holds up to a message and a transcript chunk (~130 KB).
   */
  maxFollowed: number
  /** Largest accepted frame in bytes (WS_MAX_SIZE); larger frames close the socket with 1009. */
  wsMaxSize: number
  /** Seconds between heartbeat notifications (WEBSOCKET_HEARTBEAT_INTERVAL). */
  heartbeatInterval: number
  /** Seconds of silence before process.status (ACTIVITY_TIMEOUT). */
  activityTimeout: number
  /** Default seconds an execution outlives its last subscriber (DETACH_GRACE). */
  detachGrace: number
  /** Output held per execution before the child is blocked (MAX_BUFFER_SIZE). */
  maxBufferSize: number
  /**
   * Finished executions kept in memory, each with up to 64 KiB of its latest events for a late
   * replay. Older ones are forgotten, or, with a store, kept as records replayed from disk.
   */
  keepFinished: number
}

export const DEFAULT_LIMITS: ExecutorLimits = {
  maxSessions: 100,
  maxStreams: 1000,
  maxFollowed: 256,
  wsMaxSize: 10 * 1024 * 1024,
  heartbeatInterval: 20,
  activityTimeout: 30,
  detachGrace: 0,
  maxBufferSize: 8 * 1024 * 1024,
  keepFinished: 1000,
}

export interface ExecutorAppOptions {
  executor: Executor
  /** The runtime's WebSocket helper (hono/cloudflare-workers, hono/deno, hono/bun, @hono/node-server). */
  upgradeWebSocket: UpgradeWebSocket<any>
  /**
   * Wraps a runtime socket into a flow-controlled channel. The default (ws/web-channel) waits on the
   * runtime's buffered amount where the runtime reports one; the Node server passes its own.
   */
  channel?: (ws: WSContext<any>) => SocketChannel
  /** Reported by /health: "node", "workerd", "deno", "bun". */
  runtime?: string
  limits?: Partial<ExecutorLimits>
  logger?: Logger
  /** Transcripts and records beyond memory (the Node server's FileStore). Call `registry.restore()` before serving. */
  store?: ExecutionStore
  /** Bearer tokens; none: the app is open (say so loudly when it is reachable from other hosts). */
  tokens?: readonly string[]
  /** When set, only these programs run, and never through a shell. */
  allowList?: AllowList
  /** Concurrency and rate limits on executions. */
  executionLimits?: Partial<ExecutionLimits>
  /** Hooks for the host's audit log and metrics. */
  observer?: Observer
  /** How this host runs Claude Code (the Node server's: CLAUDE_BIN); without it `claude` is refused unless the executor runs Claude tasks itself. */
  claude?: ClaudeRuntime
  /**
   * `/mcp`, the MCP server, is on by default (a gateway serves it too, over its executors); `false` leaves it out.
   * `idleMs`: how long a session nobody uses is kept (an hour by default).
   */
  mcp?: false | { idleMs?: number }
  /**
   * The only host names Host and Origin may carry, on every route (security/host-check: DNS-rebinding
   * and cross-site protection). A server listening on loopback passes allowedHostnamesFor(its host);
   * undefined: not checked.
   */
  allowedHostnames?: readonly string[]
  /** Seconds between statusUpdate RUNNING on the seed-000 bridge at /ws/claude (BRIDGE_HEARTBEAT_INTERVAL, 30). */
  bridgeHeartbeatInterval?: number
  /** The web console at `/`, `/console` and `/executions/<id>` (default true); false leaves it out, e.g. when embedding. */
  console?: boolean
}

/** The app plus what its host needs to run it: graceful shutdown and live counts. */
export type ExecutorApp = Hono<{ Variables: AuthVariables }> & {
  readonly registry: ExecutionRegistry
  /**
   * Refuses new sessions and executions; cancels every execution and waits for their process
   * groups, or, over a remote executor (a gateway's), leaves them running where they run and stops
   * following them (ExecutionRegistry.shutdown); then ends the HTTP event streams after their last
   * whole line and closes the WebSocket sessions with 1001. The host stops its server as soon as
   * this is called (no execution is cancelled for its sockets closing), and exits once both are done.
   */
  shutdown(): Promise<void>
}

const retryAfterOf = (err: RpcError): number => {
  const seconds = (err.data as { retry_after?: unknown } | undefined)?.retry_after
  return typeof seconds === 'number' && seconds > 0 ? Math.ceil(seconds) : RETRY_AFTER
}

/** The MCP SDK's own default: a tool call's arguments are small; bulk stdin goes through input in pieces. */
const MCP_MAX_BODY = 4 * 1024 * 1024


/**
 * Builds the cc-executor router: `/ws/mcp` (alias `/ws`), the `/v1` HTTP API, `/health`, `/healthz`,
 * and the web console at `/` (leave it out with `console: false`).
 *
 * @example
 * const exec = createExecutorApp({ executor, upgradeWebSocket })
 * const app = new Hono().route('/exec', exec) // serves /exec/ws/mcp
 */
export function createExecutorApp(options: ExecutorAppOptions): ExecutorApp {
  const limits = { ...DEFAULT_LIMITS, ...options.limits }
  // A socket's share of the buffer, as the Node server's channel has it.
  const defaultChannel = (ws: WSContext<any>) => webChannel(ws, { highWater: limits.maxBufferSize / 4, lowWater: limits.maxBufferSize / 8 })
  const { executor, upgradeWebSocket, channel = defaultChannel, runtime = 'unknown', logger = silentLogger, observer = {} } = options
  const registry = new ExecutionRegistry({
    executor,
    activityTimeout: limits.activityTimeout,
    detachGrace: limits.detachGrace,
    bufferBytes: limits.maxBufferSize,
    keepFinished: limits.keepFinished,
    store: options.store,
    allowList: options.allowList,
    limits: options.executionLimits,
    observer,
    claude: options.claude,
  })
  // Each session with its socket, which shutdown closes with 1001 (Bun, for one, leaves them open when its server stops).
  const sessions = new Map<Session, WSContext<any>>()
  const bridges = new Map<BridgeSession, WSContext<any>>()
  /** Begun by shutdown: the HTTP event streams still open end after their last whole line. */
  const ending = new Shutdown()
  // MAX_SESSIONS counts the WebSocket sessions of both dialects, /ws/mcp and /ws/claude.
  const sessionCount = () => sessions.size + bridges.size
  const startedAt = Date.now()
  let closing = false

  const app = new Hono<{ Variables: AuthVariables }>()
  if (options.allowedHostnames) app.use('*', hostCheck(options.allowedHostnames))

  // Before the token check: the page and its assets carry no data, and the page asks for the token.
  if (options.console !== false) app.route('/', consoleRoutes())
  // Liveness for probes that hold no token (the image's HEALTHCHECK, a load balancer): it says nothing else.
  app.get('/healthz', (c) => c.json({ status: 'ok' }))

  // Tokens are digested once (an async Web Crypto call), before the first request is judged.
  let entries: Promise<readonly TokenEntry[]> | undefined
  app.use('*', async (c, next) => {
    entries ??= tokenEntries(options.tokens ?? [])
    return requireToken({ entries: await entries, onFailure: (reason, path) => observer.authFailed?.({ reason, path }) })(c, next)
  })

  const websocket = upgradeWebSocket(function executorSocket(c) {
    const tokenId: string | null = c.get('tokenId') ?? null
    let session: Session | undefined
    let openedAt = 0
    return {
      onOpen(_event, ws) {
        if (closing) {
          ws.close(1001, 'server shutting down')
          return
        }
        if (sessionCount() >= limits.maxSessions) {
          ws.send(rpc.error(null, new RpcError(ErrorCode.SESSION_LIMIT, 'Session limit exceeded')))
          ws.close(1008, 'Session limit exceeded')
          return
        }
        session = new Session(channel(ws), {
          registry,
          version: VERSION,
          heartbeatInterval: limits.heartbeatInterval,
          maxFollowed: limits.maxFollowed,
          logger,
          tokenId,
          observer,
        })
        openedAt = Date.now()
        observer.sessionOpened?.({ session_id: session.id, token_id: tokenId })
        sessions.set(session, ws)
        logger.info({ session_id: session.id, sessions: sessions.size }, 'session opened')
        session.open()
      },
      onMessage(event, ws) {
        if (!session) return
        const data = event.data
        if (typeof data !== 'string') {
          ws.send(rpc.error(null, new RpcError(ErrorCode.INVALID_REQUEST, 'Invalid Request: binary frames are not supported, send JSON text')))
          return
        }
        // Runtimes without a transport-level limit still get one (the Node server's ws enforces it exactly).
        if (data.length > limits.wsMaxSize) {
          ws.close(1009, 'Message too big')
          return
        }
        void session.handleText(data)
      },
      onClose() {
        if (!session) return
        sessions.delete(session)
        session.close()
        observer.sessionClosed?.({ session_id: session.id, token_id: tokenId, seconds: (Date.now() - openedAt) / 1000 })
        logger.info({ session_id: session.id, sessions: sessions.size }, 'session closed')
      },
    }
  })
  app.get('/ws/mcp', websocket)
  app.get('/ws', websocket)

  app.get(
    '/ws/claude',
    upgradeWebSocket(function claudeBridgeSocket(c) {
      let bridge: BridgeSession | undefined
      return {
        onOpen(_event, ws) {
          if (closing || sessionCount() >= limits.maxSessions) {
            ws.send(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: closing ? 'Server shutting down' : 'Session limit exceeded' }, id: null }))
            ws.close(closing ? 1001 : 1008, closing ? 'server shutting down' : 'Session limit exceeded')
            return
          }
          bridge = new BridgeSession(channel(ws), { registry, heartbeatInterval: options.bridgeHeartbeatInterval ?? 30, tokenId: c.get('tokenId') ?? null, logger })
          bridges.set(bridge, ws)
          bridge.open()
        },
        onMessage(event, ws) {
          if (!bridge) return
          if (typeof event.data !== 'string' || event.data.length > limits.wsMaxSize) {
            ws.close(1009, 'Message too big or not text')
            return
          }
          void bridge.handleText(event.data)
        },
        onClose() {
          if (!bridge) return
          bridges.delete(bridge)
          bridge.close()
        },
      }
    }),
  )

  app.use(
    `${V1_PREFIX}/*`,
    bodyLimit({
      maxSize: limits.wsMaxSize,
      onError: (c) => c.json({ error: { code: ErrorCode.INVALID_REQUEST, message: `Request body larger than ${limits.wsMaxSize} bytes` } }, 413),
    }),
  )
  app.route(V1_PREFIX, v1Routes({ registry, store: options.store, heartbeatInterval: limits.heartbeatInterval, observer, maxStreams: limits.maxStreams, ending }))

  let mcp: ReturnType<typeof mcpRoutes> | undefined
  if (options.mcp !== false) {
    // Served here over whatever executor, never forwarded: a session is then the token's that opened
    // it among this app's own tokens, which an upstream (seeing only this app's token) could not tell.
    mcp = mcpRoutes({ registry, version: VERSION, logger, maxSessions: limits.maxSessions, maxBodyBytes: MCP_MAX_BODY, idleMs: options.mcp?.idleMs })
    app.route('/mcp', mcp)
  }

  app.get('/health', (c) =>
    c.json({
      status: 'healthy',
      service: 'cc-executor',
      version: VERSION,
      runtime,
      active_sessions: sessionCount(),
      max_sessions: limits.maxSessions,
      running_executions: registry.running,
      // null: no limit (JSON has no Infinity).
      max_executions: Number.isFinite(registry.capacity) ? registry.capacity : null,
      uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
    }),
  )

  app.notFound((c) => c.json({ error: { code: ErrorCode.METHOD_NOT_FOUND, message: `No route ${c.req.method} ${c.req.path}` } }, 404))
  app.onError((error, c) => {
    const err = toRpcError(error)
    if (err.code === ErrorCode.INTERNAL_ERROR) logger.error({ err: error, path: c.req.path }, 'request failed')
    // -32003 means full (sessions, streams, executions): the client may come back shortly.
    if (err.code === ErrorCode.SESSION_LIMIT) c.header('retry-after', String(retryAfterOf(err)))
    return c.json({ error: err.toJSON() }, httpStatusOf[err.code])
  })

  return Object.assign(app, {
    registry,
    async shutdown() {
      closing = true
      mcp?.closeAll()
      await registry.shutdown()
      ending.begin()
      for (const [session, ws] of [...sessions, ...bridges]) {
        // Left first: nothing more is sent on a closing socket.
        session.close()
        ws.close(1001, 'server shutting down')
      }
    },
  })
}
