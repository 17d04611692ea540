/**
 * Starts the Workers gateway (adapters/cloudflare) in workerd, in front of a bench server:
 * bundled with esbuild and served by Miniflare, which runs the real workerd binary with the
 * settings of wrangler.toml. Clients connect to workerd's own socket, as they would to Cloudflare's
 * edge. `wrangler dev` (what `npm run start:workerd` and the tests use) puts its own Node proxy in
 * front of workerd for live reload; that proxy is a development tool, so the bench leaves it out.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { killOnExit } from '../../test/helpers/tracker.ts'
import { onCleanup } from './cleanup.ts'
import { processesWhere } from '../../test/helpers/proc.ts'
import { ROOT, startPortPrinter } from './server.ts'

export interface BenchGateway {
  port: number
  url: string
  wsUrl: string
  /** The workerd processes serving the gateway (children of this process), with their command names. */
  processes(): { pid: number; name: string }[]
  /** The last 64 KiB workerd printed. */
  output(): string
  /** Disposes of Miniflare; resolves once workerd is gone. */
  stop(): Promise<void>
}

/** Whether the workerd toolchain (miniflare, esbuild: devDependencies) is installed. */
export function workerdAvailable(): boolean {
  try {
    readFileSync(join(ROOT, 'node_modules', 'miniflare', 'package.json'))
    readFileSync(join(ROOT, 'node_modules', 'esbuild', 'package.json'))
    return true
  } catch {
    return false
  }
}

/** compatibility_date and compatibility_flags from wrangler.toml, so the bench runs the deployed settings. */
function compatibility(): { compatibilityDate: string; compatibilityFlags: string[] } {
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8')
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1]
  const flags = /^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1] ?? ''
  if (!date) throw new Error('wrangler.toml has no compatibility_date')
  return { compatibilityDate: date, compatibilityFlags: [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1]) }
}

const workerdChildren = () => processesWhere((stat) => stat.ppid === process.pid && stat.comm === 'workerd')

const LOG_LIMIT = 64 * 1024

/** A Worker bundled as `wrangler deploy` would: the gateway (adapters/cloudflare) or the forwarder. */
async function workerScript(entry: string): Promise<string> {
  const { build } = await import('esbuild')
  const bundle = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
  })
  return bundle.outputFiles[0].text
}

/**
 * The gateway in workerd; with `forwarder`, bench/lib/forwarder-worker.js instead: the least a
 * Worker can do to forward execute's output, which shows what the hop through workerd costs by itself.
 */
export async function startWorkerdGateway(executorUrl: string, { forwarder = false } = {}): Promise<BenchGateway> {
  let log = ''
  const { Miniflare } = await import('miniflare')
  const script = await workerScript(forwarder ? join(ROOT, 'bench', 'lib', 'forwarder-worker.js') : join(ROOT, 'adapters', 'cloudflare', 'index.ts'))
  const before = new Set(workerdChildren())
  const mf = new Miniflare({
    modules: true,
    script,
    ...compatibility(),
    bindings: { EXECUTOR_URL: executorUrl, LISTEN_HOST: '127.0.0.1' },
    // The gateway's pool state, as wrangler.toml declares it (the forwarder has none).
    ...(forwarder ? {} : { durableObjects: { POOL_STATE: 'PoolStateObject' } }),
    host: '127.0.0.1',
    port: 0,
    // workerd's own output (e.g. the report of a request cut off at dispose) is kept, not printed into the results.
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      const keep = (chunk: Buffer) => {
        log = (log + chunk.toString()).slice(-LOG_LIMIT)
      }
      stdout.on('data', keep)
      stderr.on('data', keep)
    },
  })
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      await mf.dispose()
      for (const untrack of untracks) untrack()
      unregister()
    })())
  const unregister = onCleanup(stop)
  const url = await mf.ready
  const pids = workerdChildren().filter((pid) => !before.has(pid))
  const untracks = pids.map((pid) => killOnExit(pid))
  const health = (await (await fetch(new URL('/health', url))).json()) as { runtime?: string }
  if (health.runtime !== 'workerd') {
    await stop()
    throw new Error(`the gateway's /health says ${JSON.stringify(health)}; workerd printed:\n${log}`)
  }
  return {
    port: Number(url.port),
    url: url.origin,
    wsUrl: `ws://127.0.0.1:${url.port}/ws/mcp`,
    processes: () => pids.map((pid) => ({ pid, name: 'workerd' })),
    output: () => log,
    stop,
  }
}

/**
 * bench/lib/forwarder-server.js in Deno or Bun (the binaries the gateways' own npm scripts run):
 * the least a gateway on that runtime can do, which shows what its hop costs by itself.
 */
export function startForwarder(runtime: 'deno' | 'bun', executorUrl: string): Promise<{ pid: number; wsUrl: string; stop(): Promise<void> }> {
  const script = join(ROOT, 'bench', 'lib', 'forwarder-server.js')
  const args = runtime === 'deno' ? ['run', '--allow-net', '--allow-env', script] : [script]
  const env = { ...process.env, EXECUTOR_URL: executorUrl, PORT: '0', DENO_NO_UPDATE_CHECK: '1' }
  return startPortPrinter(`the ${runtime} forwarder`, join(ROOT, 'node_modules', '.bin', runtime), args, env, '/ws/mcp')
}
