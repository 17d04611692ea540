/**
 * @module adapters/deno — the gateway on Deno: `deno serve`-style entry that forwards to a Node
 * executor at `EXECUTOR_URL` (token in `EXECUTOR_TOKEN`), listening on `PORT` (default 8787).
 */
import { upgradeWebSocket } from 'hono/deno'
import { createExecutorApp, RemoteExecutor } from '../../src/index.ts'

// The few Deno globals this file uses, declared here so that the project's type check needs no Deno types.
declare const Deno: {
  env: { get(name: string): string | undefined }
  serve(options: { port: number; hostname: string }, handler: (request: Request) => Response | Promise<Response>): unknown
}

const env = (name: string, fallback?: string) => Deno.env.get(name) ?? fallback

const app = createExecutorApp({
  executor: new RemoteExecutor({ url: env('EXECUTOR_URL', 'http://127.0.0.1:8003')!, token: env('EXECUTOR_TOKEN') }),
  upgradeWebSocket,
  runtime: 'deno',
})

Deno.serve({ port: Number(env('PORT', '8787')), hostname: env('HOST', '127.0.0.1')! }, app.fetch)
