/**
 * @module adapters/cloudflare — the gateway on Cloudflare Workers: the portable app with a
 * RemoteExecutor that forwards to a Node executor (`EXECUTOR_URL`, `EXECUTOR_TOKEN` from wrangler.toml
 * and `wrangler secret put`).
 */
import { upgradeWebSocket } from './websocket.ts'
import { createExecutorApp, RemoteExecutor, type ExecutorApp } from '../../src/index.ts'

export interface Env {
  EXECUTOR_URL: string
  EXECUTOR_TOKEN?: string
}

// One app per isolate, made at the first request: Workers allow no timers or randomness at module scope.
let app: ExecutorApp | undefined

export default {
  fetch(request: Request, env: Env, ctx: unknown): Response | Promise<Response> {
    app ??= createExecutorApp({
      executor: new RemoteExecutor({ url: env.EXECUTOR_URL, token: env.EXECUTOR_TOKEN }),
      upgradeWebSocket,
      runtime: 'workerd',
    })
    return app.fetch(request, env, ctx as never)
  },
}
