/**
 * Measure 13: a gateway over a pool of executors. Many concurrent sessions at once, each an HTTP
 * stream (`POST /v1/executions`, NDJSON) running `echo a; sleep 1; echo b` to its completion, with
 * where each one ran (the executor its id names); and the execute round trip through a pool of one
 * against a pool of three, alternating, for what placement costs.
 */
import { tagOf } from '../../src/gateway/config.ts'
import { PoolBook } from '../../src/gateway/pool-state.ts'
import type { RpcClient } from '../../test/helpers/rpc-client.ts'
import { trueRoundTrips } from './roundtrip.ts'
import { ascending, median, percentile } from '../lib/stats.ts'

export interface StreamsResult {
  sessions: number
  succeeded: number
  /** Milliseconds from the request to the completion line, per successful session. */
  durations: number[]
  /** Sessions per executor URL. */
  placed: Map<string, number>
  failures: Map<string, number>
  wallMs: number
}

/**
 * `sessions` streams at once, the i-th to `targets[i % targets.length]` (one gateway, or the
 * executors themselves for the floor); `placed` counts them by the executor their id names, or by
 * target when the id names none.
 */
export async function concurrentStreams(targets: string[], executorUrls: string[], sessions: number, timeoutMs = 30_000): Promise<StreamsResult> {
  const byTag = new Map(executorUrls.map((u) => [tagOf(u), u]))
  const placed = new Map<string, number>()
  const failures = new Map<string, number>()
  const durations: number[] = []
  const wallStart = performance.now()
  const one = async (_: unknown, i: number) => {
    const start = performance.now()
    const target = targets[i % targets.length]
    try {
      const response = await fetch(`${target}/v1/executions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ command: 'echo a; sleep 1; echo b' }),
        signal: AbortSignal.timeout(timeoutMs),
      })
      const text = await response.text()
      if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`)
      const events = text.trim().split('\n').map((line) => JSON.parse(line) as { method: string; params: { type?: string; data?: string; status?: string } })
      const stdout = events.filter((e) => e.method === 'process.output' && e.params.type === 'stdout').map((e) => e.params.data).join('')
      const last = events.at(-1)
      if (last?.method !== 'process.completed' || last.params.status !== 'completed') throw new Error(`ended ${JSON.stringify(last?.params.status)}`)
      if (stdout !== 'a\nb\n') throw new Error(`stdout ${JSON.stringify(stdout)}`)
      durations.push(performance.now() - start)
      const owner = byTag.get(response.headers.get('x-execution-id')?.split('.')[0] ?? '') ?? target
      placed.set(owner, (placed.get(owner) ?? 0) + 1)
    } catch (error) {
      const message = (error as Error).message
      failures.set(message, (failures.get(message) ?? 0) + 1)
    }
  }
  await Promise.all(Array.from({ length: sessions }, one))
  return { sessions, succeeded: durations.length, durations, placed, failures, wallMs: performance.now() - wallStart }
}

/**
 * `true` round trips (execute → process.completed, one connection) through each client in turn,
 * `rounds` times `runs` after a warm-up; the median of each client's per-round p50s.
 */
export async function alternatingRoundTrips(clients: RpcClient[], { rounds = 5, runs = 100 } = {}): Promise<{ p50: number[]; errors: string[] }> {
  const p50s: number[][] = clients.map(() => [])
  const errors: string[] = []
  for (const client of clients) errors.push(...(await trueRoundTrips(client, { runs: 20, warmup: 20 })).errors)
  for (let round = 0; round < rounds; round++) {
    // Each round in the other order than the last, so that drift over a round favours neither.
    const order = [...clients.entries()]
    if (round % 2 === 1) order.reverse()
    for (const [i, client] of order) {
      const { samples, errors: failed } = await trueRoundTrips(client, { runs, warmup: 0 })
      errors.push(...failed)
      p50s[i].push(percentile(ascending(samples), 50))
    }
  }
  return { p50: p50s.map((values) => median(values)), errors: errors.slice(0, 5) }
}

/** The placement decision alone, in process: microseconds per PoolBook.place over three executors (and its release). */
export function placementMicros(placements = 200_000): number {
  const book = new PoolBook()
  const members = ['a', 'b', 'c'].map((tag) => ({ tag, url: `http://${tag}` }))
  for (const m of members) book.report(m, { healthy: true, running: 0, max: null })
  const start = performance.now()
  for (let i = 0; i < placements; i++) {
    const placement = book.place(members, [])
    if ('tag' in placement) {
      book.settle(placement.tag, true)
      book.release(placement.tag)
    }
  }
  return ((performance.now() - start) * 1000) / placements
}
