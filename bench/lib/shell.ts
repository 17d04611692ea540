/** Local shell pipelines for baselines, each in its own process group so that it can be killed whole. */
import { spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { killOnExit } from '../../test/helpers/tracker.ts'

export interface ShellRun {
  ms: number
  /** Bytes read from the pipeline's stdout (0 when stdout is not read). */
  bytes: number
  code: number | null
}

/**
 * Runs `bash -c command`; with `readStdout` this process reads the pipe (counting bytes, like a
 * server would), otherwise stdout is discarded. Timed from spawn to exit.
 */
export function runShell(command: string, { readStdout = false } = {}): Promise<ShellRun> {
  const start = process.hrtime.bigint()
  const child = spawn('bash', ['-c', command], { detached: true, stdio: ['ignore', readStdout ? 'pipe' : 'ignore', 'inherit'] })
  const untrack = killOnExit(child.pid!, { group: true })
  let bytes = 0
  child.stdout?.on('data', (chunk: Buffer) => (bytes += chunk.length))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    // 'close' waits for stdout to end too, so every byte is counted.
    child.once('close', (code) => {
      untrack()
      resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, bytes, code })
    })
  })
}

/** The absolute path of a program on PATH, or undefined. */
export function which(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const path = join(dir, program)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {}
  }
  return undefined
}
