/**
 * @module adapters/deno — the gateway on Deno: forwards to the Node executors of `EXECUTOR_URLS`
 * (or the one at `EXECUTOR_URL`; tokens in `EXECUTOR_TOKEN`), listening on `PORT` (default 8787; 0
 * picks a free one, printed); its own clients' tokens in `CC_EXECUTOR_AUTH_TOKEN`. Deno's own settings carry the app's limits (see docs/protocol.md, "Gateways").
 * SIGTERM or SIGINT stops it gracefully, leaving the executions running (gatewayStopper).
 */
import type { Context } from 'hono'
import { upgradeWebSocket } from 'hono/deno'
import type { UpgradeWebSocket, WSEvents } from 'hono/ws'
import { clientTokens, createGateway, gatewayLimits, gatewayListen, gatewayStopper, listenFailure, DEFAULT_LIMITS, allowedHostnamesFor, PoolConfigError } from '../../src/index.ts'

// The few Deno globals this file uses, declared here so that the project's type check needs no Deno types.
declare const Deno: {
  env: { get(name: string): string | undefined }
  exit(code: number): never
  addSignalListener(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void
  serve(
    options: { port: number; hostname: string; onListen(address: { hostname: string; port: number }): void },
    handler: (request: Request) => Response | Promise<Response>,
  ): { shutdown(): Promise<void> }
}

const env = (name: string, fallback?: string) => Deno.env.get(name) ?? fallback

let heartbeatInterval = DEFAULT_LIMITS.heartbeatInterval

// Deno pings a socket every idleTimeout seconds (whole seconds) and closes it when the pong does not
// come back in time (its default is 30 s); the Node server pings every heartbeat interval, so Deno does the same.
const withIdleTimeout = ((createEvents: (c: Context) => WSEvents | Promise<WSEvents>, options?: object) =>
  upgradeWebSocket(createEvents, { idleTimeout: Math.ceil(heartbeatInterval), ...options })) as UpgradeWebSocket<any>

let app: ReturnType<typeof createGateway>
let listen: { host: string; port: number }
try {
  listen = gatewayListen(env)
  const limits = gatewayLimits(env)
  heartbeatInterval = limits.heartbeatInterval ?? heartbeatInterval
  app = createGateway({
    executorUrls: env('EXECUTOR_URLS'),
    executorUrl: env('EXECUTOR_URL') || 'http://127.0.0.1:8003',
    allowedHostnames: allowedHostnamesFor(listen.host),
    tokens: env('EXECUTOR_TOKEN'),
    clientTokens: clientTokens({ tokens: env('CC_EXECUTOR_AUTH_TOKEN'), host: listen.host, insecure: env('CC_EXECUTOR_INSECURE') }),
    upgradeWebSocket: withIdleTimeout,
    runtime: 'deno',
    limits,
  })
} catch (error) {
  if (!(error instanceof PoolConfigError)) throw error
  console.error(`cc-executor gateway (deno): ${error.message}`)
  Deno.exit(2)
}

let server: { shutdown(): Promise<void> }
try {
  server = Deno.serve(
    {
      port: listen.port,
      hostname: listen.host,
      onListen: ({ hostname, port }) => console.log(`cc-executor gateway (deno) listening on http://${hostname}:${port}/`),
    },
    app.fetch,
  )
} catch (error) {
  console.error(listenFailure('deno', listen, error))
  Deno.exit(2)
}

// Deno's shutdown() stops accepting, closes the WebSockets with 1001 and waits for the HTTP responses, which the app ends.
const stop = gatewayStopper({ runtime: 'deno', app, stopServer: () => server.shutdown(), exit: (code) => Deno.exit(code) })
Deno.addSignalListener('SIGTERM', () => stop('SIGTERM'))
Deno.addSignalListener('SIGINT', () => stop('SIGINT'))
