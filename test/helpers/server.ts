/** Starts the real Node server (`adapters/node/main.ts`) as a child process on port 0. */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { forget, killOnExit } from './gateway.ts'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MAIN = fileURLToPath(new URL('../../adapters/node/main.ts', import.meta.url))

export interface RunningServer {
  port: number
  url: string
  wsUrl: string
  child: ChildProcess
  /** Where this server keeps transcripts and records (a fresh temporary directory unless given). */
  dataDir: string
  /** Every log line the server printed (parsed pino JSON). */
  logs: Record<string, unknown>[]
  /** Sends a signal and waits for the server to exit; resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Data directories this test process made; removed when it exits (a test may restart a server on one). */
const madeDirs: string[] = []
process.once('exit', () => {
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true })
})

export async function startServer(env: Record<string, string> = {}, args: string[] = []): Promise<RunningServer> {
  let dataDir = env.CC_EXECUTOR_DATA_DIR
  if (dataDir === undefined) madeDirs.push((dataDir = mkdtempSync(join(tmpdir(), 'cc-executor-data-'))))
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', CC_EXECUTOR_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  // A test file that times out is ended by a signal: its server must not outlive it.
  killOnExit(child.pid!)
  child.once('exit', () => forget(child.pid!))
  const logs: Record<string, unknown>[] = []
  const lines = createInterface({ input: child.stdout! })
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)))
    lines.on('line', (line) => {
      let entry: Record<string, unknown>
      try {
        entry = JSON.parse(line)
      } catch {
        return
      }
      logs.push(entry)
      if (entry.msg === 'listening') resolve(entry.port as number)
    })
  })
  const exited = once(child, 'exit') as Promise<[number | null]>
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws/mcp`,
    child,
    dataDir,
    logs,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill(signal)
      const [code] = await exited
      return code
    },
  }
}
