/** Runs the real `cc-executor` command (bin/cc-executor.js) as a child process. */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { sleep } from './proc.ts'
import { ROOT } from './server.ts'

export const BIN = join(ROOT, 'bin', 'cc-executor.js')

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: Buffer
  stderr: string
}

export interface CliProcess {
  child: ChildProcess
  /** What it printed so far. */
  stdout(): string
  stderr(): string
  result: Promise<CliResult>
}

/** The environment without our own client settings, so that only the test's flags count. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra }
  for (const key of ['CC_EXECUTOR_URL', 'CC_EXECUTOR_TOKEN', 'CC_EXECUTOR_TRANSPORT', 'CC_EXECUTOR_HEARTBEAT_INTERVAL']) if (!(key in extra)) delete env[key]
  return env
}

export function spawnCli(args: string[], { env = {}, cwd = ROOT, stdin = 'ignore' }: { env?: Record<string, string>; cwd?: string; stdin?: 'ignore' | 'pipe' } = {}): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: cleanEnv(env), stdio: [stdin, 'pipe', 'pipe'] })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout!.on('data', (chunk: Buffer) => out.push(chunk))
  child.stderr!.on('data', (chunk: Buffer) => err.push(chunk))
  const result = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }))
  })
  return { child, stdout: () => Buffer.concat(out).toString('utf8'), stderr: () => Buffer.concat(err).toString('utf8'), result }
}

/** Runs the CLI to its end; fails the test if it takes longer than `timeoutMs`. */
export async function runCli(args: string[], options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const cli = spawnCli(args, options)
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
  try {
    const result = await cli.result
    if (result.signal === 'SIGKILL') throw new Error(`cc-executor ${args.join(' ')} timed out; stderr: ${result.stderr}`)
    return result
  } finally {
    clearTimeout(timer)
  }
}

/** `prefix from\n` … `prefix to\n`: what the tests' counting commands print. */
export const lines = (from: number, to: number, prefix = 'line') => Array.from({ length: to - from + 1 }, (_, i) => `${prefix} ${from + i}\n`).join('')

/** The execution whose command contains `marker` (waiting for it to be listed). */
export async function recordOf<R extends { command: string }>(client: { list(): Promise<R[]> }, marker: string): Promise<R> {
  const deadline = Date.now() + 5000
  for (;;) {
    const record = (await client.list()).find((r) => r.command.includes(marker))
    if (record) return record
    if (Date.now() > deadline) throw new Error(`no execution with ${marker}`)
    await sleep(50)
  }
}
