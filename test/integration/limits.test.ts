import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { TestClient } from '../helpers/client.ts'
import { eventuallyAsync } from '../helpers/scenarios.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'

const A = 'token-a-0123456789abcdef'
const B = 'token-b-0123456789abcdef'
const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

let server: RunningServer
before(async () => {
  server = await startServer({
    CC_EXECUTOR_AUTH_TOKEN: `${A},${B}`,
    MAX_EXECUTIONS: '3',
    MAX_EXECUTIONS_PER_TOKEN: '2',
    EXECUTIONS_PER_MINUTE: '10',
    MAX_OUTPUT_BYTES: '100000',
    CHILD_CPU_SECONDS: '1',
    CHILD_MEMORY_MB: '256',
  })
})
after(async () => {
  await server.stop()
})

describe('limits', () => {
  test('per-token concurrency: -32005 / 429; at capacity (MAX_EXECUTIONS): -32003 / 503 with Retry-After, and /health says so; others are unaffected', async () => {
    const a1 = await TestClient.open(server.wsUrl, auth(A))
    const a2 = await TestClient.open(server.wsUrl, auth(A))
    const a3 = await TestClient.open(server.wsUrl, auth(A))
    const b1 = await TestClient.open(server.wsUrl, auth(B))
    const b2 = await TestClient.open(server.wsUrl, auth(B))
    const r1 = await a1.execute({ command: 'sleep 5' })
    const r2 = await a2.execute({ command: 'sleep 5' })
    const third = await a3.request('execute', { command: 'sleep 5' })
    assert.equal(third.error?.code, -32005)
    assert.match(third.error!.message, /for this token/)
    const rb = await b1.execute({ command: 'sleep 5' })
    const full = await b2.request('execute', { command: 'sleep 5' })
    assert.equal(full.error?.code, -32003)
    assert.match(full.error!.message, /capacity/)
    const http = await fetch(`${server.url}/v1/executions`, { method: 'POST', ...auth(B), body: JSON.stringify({ command: 'true' }) })
    assert.equal(http.status, 503)
    assert.equal(http.headers.get('retry-after'), '1')
    assert.equal((await http.json()).error.code, -32003)
    const health = await (await fetch(`${server.url}/health`, auth(A))).json()
    assert.equal(health.running_executions, 3)
    assert.equal(health.max_executions, 3)
    const pong = await a3.request('ping')
    assert.equal(typeof pong.result.pong, 'number', 'the refused session is still served')
    for (const [client, r] of [[a1, r1], [a2, r2], [b1, rb]] as const) {
      await client.request('control', { type: 'CANCEL' })
      await client.completion(r.execution_id)
    }
    const idle = () => eventuallyAsync(async () => (await (await fetch(`${server.url}/health`, auth(A))).json()).running_executions === 0, 10_000, 'nothing running')
    await idle()
    // Started together, two per token: the per-token limit lets all four through, capacity only three.
    const together = await Promise.all(
      [A, A, B, B].map(async (token) => (await fetch(`${server.url}/v1/executions`, { method: 'POST', ...auth(token), body: JSON.stringify({ command: 'sleep 5', detach: true }) })).json()),
    )
    const ids = together.filter((r) => r.status === 'started').map((r) => r.execution_id as string)
    assert.equal(ids.length, 3, JSON.stringify(together))
    assert.equal(together.find((r) => r.error)?.error.code, -32003)
    for (const id of ids) await fetch(`${server.url}/v1/executions/${id}/control`, { method: 'POST', ...auth(A), body: JSON.stringify({ type: 'CANCEL' }) })
    await idle()
    await Promise.all([a1, a2, a3, b1, b2].map((c) => c.close()))
  })

  test('output beyond MAX_OUTPUT_BYTES ends the execution with status "killed" and a reason', async () => {
    const client = await TestClient.open(server.wsUrl, auth(A))
    const r = await client.run({ command: 'yes' })
    assert.equal(r.completed.status, 'killed')
    assert.match(r.completed.reason, /output limit/)
    assert.ok(r.completed.stdout_bytes > 100_000 && r.completed.stdout_bytes < 10_000_000)
    await client.close()
  })

  test('a CPU limit (prlimit) stops a busy child', async () => {
    const client = await TestClient.open(server.wsUrl, auth(A))
    const r = await client.run({ command: 'while :; do :; done' }, 15_000)
    assert.equal(r.completed.status, 'killed')
    assert.ok(['SIGXCPU', 'SIGKILL'].includes(r.completed.signal), r.completed.signal)
    assert.ok(r.completed.execution_time < 5)
    await client.close()
  })

  test('a memory limit (prlimit --as) makes a large allocation fail', async () => {
    const client = await TestClient.open(server.wsUrl, auth(A))
    const big = await client.run({ argv: ['python3', '-c', 'x = bytearray(512 * 1024 * 1024); print("allocated")'] })
    assert.equal(big.completed.status, 'failed')
    assert.match(big.stderr, /MemoryError/)
    assert.equal(big.stdout, '')
    const small = await client.run({ argv: ['python3', '-c', 'x = bytearray(16 * 1024 * 1024); print("allocated")'] })
    assert.equal(small.stdout, 'allocated\n')
    await client.close()
  })

  test('EXECUTIONS_PER_MINUTE per token: the next start gets -32005 / 429', async () => {
    const client = await TestClient.open(server.wsUrl, auth(B))
    let refused: { code: number; message: string } | undefined
    for (let i = 0; i < 10 && !refused; i++) {
      const response = await client.request('execute', { command: 'true' })
      if (response.error) refused = response.error
      else await client.completion(response.result.execution_id)
    }
    assert.equal(refused?.code, -32005)
    assert.match(refused!.message, /per minute/)
    const other = await TestClient.open(server.wsUrl, auth(A))
    const ok = await other.request('execute', { command: 'true' })
    assert.equal(ok.result?.status, 'started', 'another token is not limited by this one')
    await other.completion(ok.result.execution_id)
    await Promise.all([client.close(), other.close()])
  })
})
