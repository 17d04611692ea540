/**
 * @module adapters/bun — the gateway on Bun: forwards to the Node executors of `EXECUTOR_URLS` (or
 * the one at `EXECUTOR_URL`; tokens in `EXECUTOR_TOKEN`), listening on `PORT` (default 8787; 0 picks a free one, printed);
 * its own clients' tokens in `CC_EXECUTOR_AUTH_TOKEN`.
 * Bun's own server settings carry the app's limits (see docs/protocol.md, "Gateways").
 * SIGTERM or SIGINT stops it gracefully, leaving the executions running (gatewayStopper).
 */
import { upgradeWebSocket, websocket } from 'hono/bun'
import { clientTokens, createGateway, gatewayLimits, gatewayListen, gatewayStopper, listenFailure, DEFAULT_LIMITS, allowedHostnamesFor, PoolConfigError } from '../../src/index.ts'

// The Bun globals this file uses, declared here so that the project's type check needs no Bun types.
declare const process: { exit(code: number): never; on(signal: 'SIGTERM' | 'SIGINT', listener: () => void): void }
declare const Bun: {
  env: Record<string, string | undefined>
  serve(options: {
    port: number
    hostname: string
    idleTimeout: number
    fetch: (request: Request, server: unknown) => Response | Promise<Response>
    websocket: object
  }): BunServer
}
type BunServer = { url: URL; stop(closeActiveConnections?: boolean): Promise<void> }

const { wsMaxSize } = DEFAULT_LIMITS
let heartbeatInterval = DEFAULT_LIMITS.heartbeatInterval

let app: ReturnType<typeof createGateway>
let listen: { host: string; port: number }
try {
  listen = gatewayListen((name) => Bun.env[name])
  const limits = gatewayLimits((name) => Bun.env[name])
  heartbeatInterval = limits.heartbeatInterval ?? heartbeatInterval
  app = createGateway({
    executorUrls: Bun.env.EXECUTOR_URLS,
    executorUrl: Bun.env.EXECUTOR_URL || 'http://127.0.0.1:8003',
    allowedHostnames: allowedHostnamesFor(listen.host),
    tokens: Bun.env.EXECUTOR_TOKEN,
    clientTokens: clientTokens({ tokens: Bun.env.CC_EXECUTOR_AUTH_TOKEN, host: listen.host, insecure: Bun.env.CC_EXECUTOR_INSECURE }),
    upgradeWebSocket,
    runtime: 'bun',
    limits,
  })
} catch (error) {
  if (!(error instanceof PoolConfigError)) throw error
  console.error(`cc-executor gateway (bun): ${error.message}`)
  process.exit(2)
}

let server: BunServer
try {
  server = Bun.serve({
    port: listen.port,
    hostname: listen.host,
    // Seconds a connection may send nothing (Bun's default, 10, cut quiet event streams, whose only
    // line is a heartbeat every heartbeatInterval). Whole seconds; 255 is Bun's maximum.
    idleTimeout: Math.min(255, Math.ceil(3 * heartbeatInterval)),
    // maxRequestBodySize stays Bun's (128 MiB): the app answers a body over wsMaxSize with its JSON 413,
    // where Bun's own limit answers a bare 413 and closes the connection mid-upload (the client sees EPIPE).
    fetch: app.fetch,
    websocket: {
      ...websocket,
      // A frame over the limit closes the socket with 1009 before Bun has buffered it (the app checks only after).
      maxPayloadLength: wsMaxSize,
      // Bun pings an idle socket and closes it when nothing (not even a pong) came back for this long.
      idleTimeout: Math.min(960, Math.ceil(2 * heartbeatInterval)),
    },
  })
} catch (error) {
  console.error(listenFailure('bun', listen, error))
  process.exit(2)
}
console.log(`cc-executor gateway (bun) listening on ${server.url.href}`)

// Bun's stop() stops accepting and waits for the connections, which the app ends (its WebSockets with 1001).
const stop = gatewayStopper({ runtime: 'bun', app, stopServer: () => server.stop(), exit: (code) => process.exit(code) })
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
