/**
 * Starts the real Node server (`node --import tsx adapters/node/main.ts`) on an ephemeral loopback
 * port, as its own child process, so the bench measures it from outside like any client would.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { onCleanup, trackPid } from './cleanup.ts'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MAIN = fileURLToPath(new URL('../../adapters/node/main.ts', import.meta.url))

export interface BenchServer {
  pid: number
  port: number
  wsUrl: string
  /** SIGTERM (the server cancels its executions and waits for their groups), SIGKILL if that hangs. */
  stop(): Promise<void>
  /** Set when the server exited without stop(): how it ended and its last log lines. */
  unexpectedExit(): string | undefined
}

/** `nodeArgs` go before the entry point, e.g. ['--cpu-prof'] to profile the server. */
export async function startServer(env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<BenchServer> {
  // A fresh data directory, removed at stop: the measures do not depend on (or pile up) earlier runs' transcripts.
  const dataDir = mkdtempSync(join(tmpdir(), 'cc-executor-bench-'))
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', MAIN], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', CC_EXECUTOR_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const untrack = trackPid(child.pid!)
  const exited = once(child, 'exit')
  let stopRequested = false
  let ending: string | undefined
  child.once('exit', (code, signal) => (ending = signal ? `signal ${signal}` : `exit code ${code}`))
  const logTail: string[] = []
  const stderr: string[] = []
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr.push(text)
    if (stderr.length > 50) stderr.shift()
  })

  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      stopRequested = true
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 8000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dataDir, { recursive: true, force: true })
      untrack()
      unregister()
    })())
  const unregister = onCleanup(stop)

  // The log lines must be read all the time: a full stdout pipe would block the server's logger.
  const lines = createInterface({ input: child.stdout! })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not log "listening" within 20 s')), 20_000)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`server exited (${code ?? signal}) before listening: ${stderr.join('').trim()}`))
    })
    lines.on('line', (line) => {
      logTail.push(line)
      if (logTail.length > 20) logTail.shift()
      let entry: { msg?: unknown; port?: unknown }
      try {
        entry = JSON.parse(line)
      } catch {
        return
      }
      if (entry.msg === 'listening' && typeof entry.port === 'number') {
        clearTimeout(timer)
        resolve(entry.port)
      }
    })
  }).catch(async (error: unknown) => {
    await stop()
    throw error
  })
  const unexpectedExit = () =>
    ending === undefined || stopRequested
      ? undefined
      : `server pid ${child.pid} ended by ${ending} without the bench asking; last log lines:\n${[...logTail, ...stderr].join('\n')}`
  return { pid: child.pid!, port, wsUrl: `ws://127.0.0.1:${port}/ws/mcp`, stop, unexpectedExit }
}
