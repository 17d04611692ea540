/**
 * Measure 6: many concurrent sessions, each on its own WebSocket, each running
 * `echo a; sleep 1; echo b` to completion. Duration per session: from connect to process.completed.
 * The phases (connected, execute result, completion) are recorded too, to see where time goes.
 */
import { RpcClient } from '../../test/helpers/rpc-client.ts'
import { runShell } from '../lib/shell.ts'

export interface SessionsResult {
  sessions: number
  succeeded: number
  /** Milliseconds from connect to process.completed, per successful session. */
  durations: number[]
  /** Milliseconds from the common start to the `connected` frame / to the execute result, per session that got there. */
  connectedAt: number[]
  startedAt: number[]
  /** Distinct failure messages with their counts. */
  failures: Map<string, number>
  wallMs: number
}

export async function concurrentSessions(url: string, sessions: number, timeoutMs = 30_000): Promise<SessionsResult> {
  const failures = new Map<string, number>()
  const durations: number[] = []
  const connectedAt: number[] = []
  const startedAt: number[] = []
  const clients: RpcClient[] = []
  const wallStart = process.hrtime.bigint()
  const sinceWallStart = () => Number(process.hrtime.bigint() - wallStart) / 1e6

  const one = async (): Promise<void> => {
    const start = process.hrtime.bigint()
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      const work = (async () => {
        const client = await RpcClient.open(url, { timeoutMs })
        clients.push(client)
        connectedAt.push(sinceWallStart())
        let stdout = ''
        const execution = client.start({ command: 'echo a; sleep 1; echo b' }, (frame) => {
          if (frame.method === 'process.output' && frame.params.type === 'stdout') stdout += frame.params.data as string
        })
        await execution.started
        startedAt.push(sinceWallStart())
        const completed = await execution.completed
        if (completed.status !== 'completed') throw new Error(`status ${completed.status}`)
        if (stdout !== 'a\nb\n') throw new Error(`stdout ${JSON.stringify(stdout)}`)
      })()
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not done within ${timeoutMs} ms`)), timeoutMs)
      })
      await Promise.race([work, timeout])
      durations.push(Number(process.hrtime.bigint() - start) / 1e6)
    } catch (error) {
      const message = (error as Error).message
      failures.set(message, (failures.get(message) ?? 0) + 1)
    } finally {
      clearTimeout(timer)
    }
  }

  // All sessions start together: each connect is issued in the same tick.
  await Promise.all(Array.from({ length: sessions }, one))
  const wallMs = sinceWallStart()
  await Promise.all(clients.map((c) => c.close()))
  return { sessions, succeeded: durations.length, durations, connectedAt, startedAt, failures, wallMs }
}

/**
 * The floor for the same load: this process spawns `sessions` copies of the command at once
 * (no server, no WebSocket) and records when each has exited, from the common start.
 */
export async function directSpawnFloor(sessions: number): Promise<{ durations: number[]; failures: number }> {
  const start = process.hrtime.bigint()
  const durations: number[] = []
  let failures = 0
  await Promise.all(
    Array.from({ length: sessions }, async () => {
      const run = await runShell('echo a; sleep 1; echo b', { readStdout: true }).catch(() => undefined)
      if (run?.code === 0 && run.bytes === 4) durations.push(Number(process.hrtime.bigint() - start) / 1e6)
      else failures += 1
    }),
  )
  return { durations, failures }
}
