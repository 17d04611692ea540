/**
 * @module adapters/bun — the gateway on Bun: forwards to a Node executor at `EXECUTOR_URL`
 * (token in `EXECUTOR_TOKEN`), listening on `PORT` (default 8787).
 */
import { upgradeWebSocket, websocket } from 'hono/bun'
import { createExecutorApp, RemoteExecutor } from '../../src/index.ts'

// The Bun global this file uses, declared here so that the project's type check needs no Bun types.
declare const Bun: {
  env: Record<string, string | undefined>
  serve(options: { port: number; hostname: string; fetch: (request: Request, server: unknown) => Response | Promise<Response>; websocket: unknown }): unknown
}

const app = createExecutorApp({
  executor: new RemoteExecutor({ url: Bun.env.EXECUTOR_URL ?? 'http://127.0.0.1:8003', token: Bun.env.EXECUTOR_TOKEN }),
  upgradeWebSocket,
  runtime: 'bun',
})

Bun.serve({ port: Number(Bun.env.PORT ?? 8787), hostname: Bun.env.HOST ?? '127.0.0.1', fetch: app.fetch, websocket })
