/**
 * Starts a gateway (workerd via `wrangler dev`, Deno, Bun) the way a user does — `npm run
 * start:<runtime>` — on a free port, in its own process group, and stops the whole group.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, constants } from 'node:fs'
import { join } from 'node:path'
import { freePort } from './net.ts'
import { groupMembers, sleep } from './proc.ts'
import { killOnExit } from './tracker.ts'
import { ROOT } from './server.ts'

export type GatewayRuntime = 'workerd' | 'deno' | 'bun'

/** The binary each `start:<runtime>` script runs, and the devDependency that provides it. */
const BINARIES: Record<GatewayRuntime, { bin: string; pkg: string }> = {
  workerd: { bin: 'wrangler', pkg: 'wrangler' },
  deno: { bin: 'deno', pkg: 'deno' },
  bun: { bin: 'bun', pkg: 'bun' },
}

const STARTUP_TIMEOUT_MS = 60_000
const LOG_LIMIT = 64 * 1024

export interface RunningGateway {
  runtime: GatewayRuntime
  port: number
  url: string
  wsUrl: string
  /** The process group; its leader is the process started: npm, or the runtime itself for an `entry`. */
  pgid: number
  /** How the process started ended (code, or the signal that killed it), once it has. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** The last 64 KiB the gateway printed (stdout and stderr). */
  output(): string
  /** SIGTERM to the whole group, SIGKILL to whatever is left after a grace; resolves once the group is gone. */
  stop(): Promise<void>
}

/** Throws a clear error when the runtime's binary is not installed (a missing runtime is a failure, not a skip). */
export function requireBinary(runtime: GatewayRuntime): void {
  const { bin, pkg } = BINARIES[runtime]
  const path = join(ROOT, 'node_modules', '.bin', bin)
  try {
    accessSync(path, constants.X_OK)
  } catch {
    throw new Error(`the ${runtime} gateway needs ${path}, which is missing or not executable: run \`npm install\` (devDependency "${pkg}")`)
  }
}

export interface GatewayOptions {
  executorUrl?: string
  /** EXECUTOR_URLS: a pool (comma-separated); set, it replaces executorUrl. */
  executorUrls?: string
  /** EXECUTOR_TOKEN: one token, or one per executor of the pool (comma-separated). */
  token?: string
  /** CC_EXECUTOR_AUTH_TOKEN: the token the gateway asks of its own clients. */
  clientToken?: string
  /** More settings for the gateway's environment. */
  env?: Record<string, string>
  /** A file to run instead of `npm run start:<runtime>` (Deno and Bun only), with the same flags as that script. */
  entry?: string
  /** The port to listen on (one attempt), instead of a free one. */
  port?: number
}

/** What `npm run start:<runtime>` runs, for an entry of a test's own. */
const ENTRY_COMMAND: Partial<Record<GatewayRuntime, (entry: string) => [string, string[]]>> = {
  deno: (entry) => [join(ROOT, 'node_modules', '.bin', 'deno'), ['run', '--cached-only', '--no-remote', '--allow-net', '--allow-env', '--allow-read', entry]],
  bun: (entry) => [join(ROOT, 'node_modules', '.bin', 'bun'), ['run', '--no-install', entry]],
}

export async function startGateway(runtime: GatewayRuntime, { executorUrl = '', executorUrls = '', token = '', clientToken = '', env = {}, entry, port: fixed }: GatewayOptions): Promise<RunningGateway> {
  requireBinary(runtime)
  let lastError: Error | undefined
  for (let attempt = 0; attempt < (fixed === undefined ? 3 : 1); attempt++) {
    // The gateway binds the port itself; a port taken meanwhile is retried.
    const port = fixed ?? (await freePort())
    try {
      return await launch(runtime, port, { ...env, EXECUTOR_URL: executorUrl, EXECUTOR_URLS: executorUrls, EXECUTOR_TOKEN: token, CC_EXECUTOR_AUTH_TOKEN: clientToken }, entry)
    } catch (error) {
      lastError = error as Error
      // Only a port taken between freePort() and the gateway's bind is worth another try.
      if (!(error instanceof PortInUse)) throw error
    }
  }
  throw lastError
}

class PortInUse extends Error {}

/** The gateway's own environment: its settings ride there, never on a command line. */
export function gatewayEnv(port: number, settings: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...settings }
}

async function launch(runtime: GatewayRuntime, port: number, settings: Record<string, string>, entry?: string): Promise<RunningGateway> {
  const entryCommand = ENTRY_COMMAND[runtime]
  if (entry !== undefined && !entryCommand) throw new Error(`an entry of its own runs on Deno or Bun, not ${runtime}`)
  const [command, args] = entry === undefined ? ['npm', ['run', '--silent', `start:${runtime}`]] : entryCommand!(entry)
  const what = entry === undefined ? `npm run start:${runtime}` : `${runtime} ${entry}`
  const child = spawn(command, args, {
    cwd: ROOT,
    detached: true, // its own process group, so that stop() reaches wrangler's workerd and esbuild too
    env: entry === undefined ? gatewayEnv(port, settings) : { ...gatewayEnv(port, settings), DENO_NO_UPDATE_CHECK: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (child.pid === undefined) {
    const [error] = (await once(child, 'error')) as [Error]
    throw new Error(`cannot run \`${what}\`: ${error.message}`)
  }
  const pgid = child.pid
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }))
  // The gateway's whole group dies with this process, however it ends.
  const untrack = killOnExit(pgid, { group: true })

  let log = ''
  const append = (chunk: Buffer) => {
    log += chunk.toString()
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT)
  }
  child.stdout!.on('data', append)
  child.stderr!.on('data', append)
  child.on('error', (error) => append(Buffer.from(`\n[spawn error] ${error.message}\n`)))

  const gateway: RunningGateway = {
    runtime,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws/mcp`,
    pgid,
    exit,
    output: () => log,
    async stop() {
      await stopGroup(child, pgid)
      untrack()
    },
  }

  try {
    await waitForHealth(gateway, child, settings.CC_EXECUTOR_AUTH_TOKEN)
  } catch (error) {
    await gateway.stop()
    if (error instanceof PortInUse || /EADDRINUSE|address already in use|port \d+ in use|AddrInUse/i.test(log)) throw new PortInUse(`port ${port} was taken`)
    throw new Error(`the ${runtime} gateway (${what}) did not become healthy: ${(error as Error).message}\n--- its output ---\n${log}`)
  }
  return gateway
}

async function waitForHealth(gateway: RunningGateway, child: ChildProcess, tokens?: string): Promise<void> {
  // CC_EXECUTOR_AUTH_TOKEN may list several tokens: any one of them lets the check in.
  const token = tokens?.split(',')[0]
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`it exited (${child.exitCode ?? child.signalCode}) before serving /health`)
    try {
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}
      const response = await fetch(`${gateway.url}/health`, { headers, signal: AbortSignal.timeout(2000) })
      const health = (await response.json()) as { status?: string; runtime?: string }
      if (health.status === 'healthy' && health.runtime === gateway.runtime) return
      // Someone else's server took the port between freePort() and the gateway's bind.
      throw new PortInUse(`port ${gateway.port} answers /health with ${JSON.stringify(health)}, not runtime ${gateway.runtime}`)
    } catch (error) {
      if (error instanceof PortInUse) throw error
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`no healthy /health within ${STARTUP_TIMEOUT_MS} ms`)
    await sleep(100)
  }
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // Already gone.
  }
}

async function stopGroup(child: ChildProcess, pgid: number): Promise<void> {
  const gone = () => groupMembers(pgid).length === 0 && (child.exitCode !== null || child.signalCode !== null)
  if (gone()) return
  killGroup(pgid, 'SIGTERM')
  for (const [signal, waitMs] of [['SIGKILL', 5000], [undefined, 2000]] as const) {
    const deadline = Date.now() + waitMs
    while (!gone() && Date.now() < deadline) await sleep(25)
    if (gone()) return
    if (signal) killGroup(pgid, signal)
  }
  throw new Error(`process group ${pgid} is still alive after SIGKILL: ${groupMembers(pgid).join(', ')}`)
}
