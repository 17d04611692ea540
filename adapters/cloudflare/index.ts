/**
 * @module adapters/cloudflare — the gateway on Cloudflare Workers: the portable gateway over the
 * Node executors of `EXECUTOR_URLS` (or `EXECUTOR_URL`) from wrangler.toml, `EXECUTOR_TOKEN` and its
 * own clients' `CC_EXECUTOR_AUTH_TOKEN` from `wrangler secret put`; the pool's state in the
 * POOL_STATE Durable Object.
 */
import { upgradeWebSocket } from './websocket.ts'
import { durablePoolState, type DurableObjectNamespace } from './pool-state.ts'
import { clientTokens, createGateway, gatewayLimits, ErrorCode, allowedHostnamesFor, PoolConfigError, type ExecutorApp } from '../../src/index.ts'

export { PoolStateObject } from './pool-state.ts'

export interface Env {
  EXECUTOR_URL?: string
  EXECUTOR_URLS?: string
  EXECUTOR_TOKEN?: string
  /** The tokens the gateway's own clients send (`wrangler secret put CC_EXECUTOR_AUTH_TOKEN`): required once deployed. */
  CC_EXECUTOR_AUTH_TOKEN?: string
  CC_EXECUTOR_INSECURE?: string
  /** Where `wrangler dev` listens (npm run start:workerd sets it); unset when deployed. */
  LISTEN_HOST?: string
  POOL_STATE: DurableObjectNamespace
}

/** The part of the Workers ExecutionContext this file uses. */
interface Context {
  waitUntil(promise: Promise<unknown>): void
}

// One app per isolate, made at the first request: Workers allow no timers or randomness at module scope.
let app: ExecutorApp | undefined

export default {
  async fetch(request: Request, env: Env, ctx: Context): Promise<Response> {
    try {
      app ??= createGateway({
        executorUrls: env.EXECUTOR_URLS,
        executorUrl: env.EXECUTOR_URL,
        tokens: env.EXECUTOR_TOKEN,
        // Deployed (no LISTEN_HOST), a Worker is public: it serves only with a token of its own.
        clientTokens: clientTokens({ tokens: env.CC_EXECUTOR_AUTH_TOKEN, host: env.LISTEN_HOST, insecure: env.CC_EXECUTOR_INSECURE }),
        // One object per configuration: two gateways over different pools never share one.
        state: durablePoolState(env.POOL_STATE, `pool ${env.EXECUTOR_URLS || env.EXECUTOR_URL}`),
        // A request's I/O ends with it: each request waits for the health checks it starts, and a
        // running execution is held only while someone follows it.
        pool: { requestScoped: true },
        upgradeWebSocket,
        runtime: 'workerd',
        // On loopback (wrangler dev), pages elsewhere and rebound DNS names are refused; a deployed Worker has a public name.
        allowedHostnames: env.LISTEN_HOST ? allowedHostnamesFor(env.LISTEN_HOST) : undefined,
        // An isolate has 128 MB. 1,000 finished executions with 64 KiB of history each would hold half of
        // it, and 100 sessions whose clients stall would hold 3 MiB each with the default 8 MiB buffer
        // (a quarter for lag, an eighth for replay); 1 MiB keeps that under 40 MB without slowing
        // bulk output down.
        limits: { keepFinished: 100, maxBufferSize: 1024 * 1024, ...gatewayLimits((name) => (env as unknown as Record<string, string | undefined>)[name]) },
      })
    } catch (error) {
      if (!(error instanceof PoolConfigError)) throw error
      // A Worker has no startup to fail: every request says what is wrong, until the settings are fixed.
      return Response.json({ error: { code: ErrorCode.INTERNAL_ERROR, message: `The gateway is misconfigured: ${error.message}` } }, { status: 500 })
    }
    const response = await app.fetch(request, env, ctx as never)
    const streamed = /^(application\/x-ndjson|text\/event-stream)\b/.test(response.headers.get('content-type') ?? '')
    return streamed && response.body ? cancelOnDisconnect(app, request, response, ctx) : response
  },
}

/** How long a disconnected stream's request is kept alive for its execution to end (Workers cap waitUntil at 30 s). */
const WIND_DOWN_MS = 25_000

/**
 * Workers never cancel a streamed response body when its client goes away: the request's context is
 * torn down silently, so the body's cancel() never runs. For a /v1 stream that cancel is how the
 * execution learns its client left, and without it the execution went on upstream until the
 * RemoteExecutor's upstream grace ran out, and stayed "running" here for good.
 * With the `enable_request_signal` compatibility flag, `request.signal` fires on disconnect: the body
 * is then cancelled here, and the request kept alive (waitUntil) until the execution has ended, so
 * that the CANCEL reaches the executor. Without the flag nothing changes.
 */
function cancelOnDisconnect(app: ExecutorApp, request: Request, response: Response, ctx: Context): Response {
  const reader = response.body!.getReader()
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { value, done } = await reader.read()
        try {
          if (done) controller.close()
          else controller.enqueue(value)
        } catch {
          // Cancelled meanwhile.
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  )
  request.signal?.addEventListener(
    'abort',
    () => {
      const id =
        response.headers.get('x-execution-id') ?? /^\/v1\/executions\/([^/]+)\/events$/.exec(new URL(request.url).pathname)?.[1]
      const execution = id === undefined ? undefined : app.registry.get(decodeURIComponent(id))
      const ended = execution?.done ?? Promise.resolve()
      ctx.waitUntil(
        reader
          .cancel('client disconnected')
          .catch(() => {})
          .then(() => Promise.race([ended, new Promise((resolve) => setTimeout(resolve, WIND_DOWN_MS))])),
      )
    },
    { once: true },
  )
  return new Response(body, response)
}
