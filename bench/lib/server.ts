/**
 * The real Node server as the bench's own child process, measured from outside like any client
 * would: test/helpers/server.ts starts it; here it gets a fresh data directory (removed at stop, so
 * no measure depends on or piles up earlier runs' transcripts) and a place in the bench's cleanup.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { ROOT, startServer as launch } from '../../test/helpers/server.ts'
import { killOnExit } from '../../test/helpers/tracker.ts'
import { onCleanup } from './cleanup.ts'

export { ROOT }

const RELAY = fileURLToPath(new URL('./relay-server.mjs', import.meta.url))

export interface BenchServer {
  pid: number
  port: number
  wsUrl: string
  /** SIGTERM (the server cancels its executions and waits for their groups), SIGKILL if that hangs. */
  stop(): Promise<void>
  /** Set when the server exited without stop(): how it ended and its last log lines. */
  unexpectedExit(): string | undefined
}

/**
 * Transcripts the server keeps, at most (MAX_DATA_MB; it deletes the oldest past it). Measure 1
 * alone writes 14 transcripts of 130 MB, and the kernel throttles writers once enough of the page
 * cache is dirty (about 1 GB on a small VM): without a bound, the later runs of a measure would
 * time the disk's backlog from the earlier ones instead of the server.
 */
const DATA_MB = '256'

/** `nodeArgs` go before the entry point, e.g. ['--cpu-prof'] to profile the server. */
export async function startServer(env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<BenchServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-executor-bench-'))
  const settings = { CC_EXECUTOR_DATA_DIR: dataDir, MAX_DATA_MB: DATA_MB, ...env }
  const server = await launch(settings, [], { nodeArgs }).catch((error: unknown) => {
    rmSync(dataDir, { recursive: true, force: true })
    throw error
  })
  const { child } = server
  let stopRequested = false
  let ending: string | undefined
  child.once('exit', (code, signal) => (ending = signal ? `signal ${signal}` : `exit code ${code}`))

  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      stopRequested = true
      const timer = setTimeout(() => child.kill('SIGKILL'), 8000)
      await server.stop()
      clearTimeout(timer)
      rmSync(dataDir, { recursive: true, force: true })
      unregister()
    })())
  const unregister = onCleanup(stop)

  const unexpectedExit = () => {
    if (ending === undefined || stopRequested) return undefined
    const lastLines = [...server.logs.slice(-20).map((entry) => JSON.stringify(entry)), ...server.stderr]
    return `server pid ${child.pid} ended by ${ending} without the bench asking; last log lines:\n${lastLines.join('\n')}`
  }
  return { pid: child.pid!, port: server.port, wsUrl: server.wsUrl, stop, unexpectedExit }
}

/** bench/lib/relay-server.mjs, the baseline of measures 1 and 4; `stop` ends it (SIGTERM). */
export function startRelay(): Promise<{ pid: number; wsUrl: string; stop(): Promise<void> }> {
  return startPortPrinter('the relay', process.execPath, [RELAY], process.env, '')
}

/**
 * A bench baseline server that prints its port as its first line (the relay, the forwarders): its
 * WebSocket URL (`path` after the port), and `stop`, which ends it (SIGTERM); also at the bench's cleanup.
 */
export async function startPortPrinter(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  path: string,
): Promise<{ pid: number; wsUrl: string; stop(): Promise<void> }> {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] })
  const untrack = killOnExit(child.pid!)
  const exited = once(child, 'exit')
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
    untrack()
    unregister()
  }
  const unregister = onCleanup(stop)
  let timer: ReturnType<typeof setTimeout> | undefined
  const [line] = (await Promise.race([
    once(createInterface({ input: child.stdout! }), 'line'),
    exited.then(() => []),
    new Promise((resolve) => (timer = setTimeout(() => resolve([]), 20_000))),
  ]).finally(() => clearTimeout(timer))) as string[]
  if (line === undefined) {
    await stop()
    throw new Error(`${name} did not print its port within 20 s, or exited first`)
  }
  return { pid: child.pid!, wsUrl: `ws://127.0.0.1:${Number(line)}${path}`, stop }
}
