/**
 * Starts the workerd gateway in front of a bench server the way a user does — `npm run
 * start:workerd` (wrangler dev --local) — on a free loopback port, in its own process group, and
 * stops the whole group (npm, wrangler, workerd, esbuild). The approach is test/helpers/gateway.ts's;
 * the process bookkeeping is the bench's own (cleanup.ts), so that the bench's exit handlers stay in charge.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, constants, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../../test/helpers/gateway.ts'
import { onCleanup, trackGroup } from './cleanup.ts'
import { groupMembers } from './procfs.ts'
import { ROOT } from './server.ts'

const STARTUP_TIMEOUT_MS = 60_000
const LOG_LIMIT = 64 * 1024

export interface BenchGateway {
  port: number
  url: string
  wsUrl: string
  /** The process group (npm is its leader). */
  pgid: number
  /** The live members of the process group with their command names (wrangler's node, workerd, esbuild, ...). */
  processes(): { pid: number; name: string }[]
  /** The last 64 KiB the gateway printed. */
  output(): string
  /** SIGTERM to the group, SIGKILL to what is left after 5 s; resolves once the group is gone. */
  stop(): Promise<void>
}

/** node_modules/.bin/wrangler, or undefined when it is missing (the gateway measure is then skipped). */
export function wranglerBinary(): string | undefined {
  const path = join(ROOT, 'node_modules', '.bin', 'wrangler')
  try {
    accessSync(path, constants.X_OK)
    return path
  } catch {
    return undefined
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // ESRCH: already gone.
  }
}

function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'latin1').trim()
  } catch {
    return undefined
  }
}

export async function startWorkerdGateway(executorUrl: string): Promise<BenchGateway> {
  let lastError: Error | undefined
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await launch(await freePort(), executorUrl)
    } catch (error) {
      lastError = error as Error
      // Only a port taken between freePort() and wrangler's bind is worth another try.
      if (!/port \d+ was taken/.test(lastError.message)) throw error
    }
  }
  throw lastError
}

async function launch(port: number, executorUrl: string): Promise<BenchGateway> {
  const child = spawn('npm', ['run', '--silent', 'start:workerd'], {
    cwd: ROOT,
    detached: true, // its own process group, so that stop() reaches workerd and esbuild too
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', EXECUTOR_URL: executorUrl, EXECUTOR_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (child.pid === undefined) {
    const [error] = (await once(child, 'error')) as [Error]
    throw new Error(`cannot run \`npm run start:workerd\`: ${error.message}`)
  }
  const pgid = child.pid
  const untrack = trackGroup(pgid)
  let log = ''
  // Read all the time: a full pipe would block wrangler's request log.
  const append = (chunk: Buffer) => {
    log += chunk.toString()
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT)
  }
  child.stdout!.on('data', append)
  child.stderr!.on('data', append)
  child.on('error', (error) => append(Buffer.from(`\n[spawn error] ${error.message}\n`)))
  const exited = () => child.exitCode !== null || child.signalCode !== null

  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      const gone = () => groupMembers(pgid).length === 0 && exited()
      killGroup(pgid, 'SIGTERM')
      const deadline = Date.now() + 5000
      while (!gone() && Date.now() < deadline) await sleep(25)
      if (!gone()) killGroup(pgid, 'SIGKILL')
      const last = Date.now() + 2000
      while (!gone() && Date.now() < last) await sleep(25)
      untrack()
      unregister()
      if (!gone()) throw new Error(`gateway process group ${pgid} still alive after SIGKILL: ${groupMembers(pgid).join(', ')}`)
    })())
  const unregister = onCleanup(stop)

  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  try {
    for (;;) {
      if (exited()) throw new Error(`it exited (${child.exitCode ?? child.signalCode}) before serving /health`)
      let health: { status?: string; runtime?: string } | undefined
      try {
        const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })
        health = (await response.json()) as { status?: string; runtime?: string }
      } catch {
        // Not listening yet.
      }
      if (health?.runtime === 'workerd') break
      if (health) throw new Error(`port ${port} was taken: /health says ${JSON.stringify(health)}`)
      if (/EADDRINUSE|address already in use/i.test(log)) throw new Error(`port ${port} was taken`)
      if (Date.now() > deadline) throw new Error(`no /health reporting runtime "workerd" within ${STARTUP_TIMEOUT_MS} ms`)
      await sleep(100)
    }
  } catch (error) {
    await stop()
    const message = (error as Error).message
    throw new Error(/was taken/.test(message) ? message : `npm run start:workerd did not become healthy: ${message}\n--- its output ---\n${log}`)
  }
  return {
    port,
    url,
    wsUrl: `ws://127.0.0.1:${port}/ws/mcp`,
    pgid,
    processes: () => groupMembers(pgid).map((pid) => ({ pid, name: comm(pid) ?? '?' })),
    output: () => log,
    stop,
  }
}
