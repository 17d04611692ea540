/** Measure 5: execute {command:"true"} → process.completed, sequentially on one connection. */
import type { RpcClient } from '../../test/helpers/rpc-client.ts'

export async function trueRoundTrips(client: RpcClient, { runs = 200, warmup = 20 } = {}): Promise<{ samples: number[]; errors: string[] }> {
  const samples: number[] = []
  const errors: string[] = []
  for (let i = 0; i < warmup + runs; i++) {
    const start = process.hrtime.bigint()
    const completed = await client.start({ command: 'true' }).completed
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (completed.status !== 'completed') errors.push(`run ${i}: status ${completed.status}`)
    if (i >= warmup) samples.push(ms)
  }
  return { samples, errors: errors.slice(0, 5) }
}
