/**
 * Labels and the list watch over HTTP and WebSocket against the real server: per-label tallies
 * from finished executions, kept across a restart (they come from the stored records), exported on
 * /metrics; `GET /v1/executions/watch` tells of starts, pauses and ends; `console: false` leaves
 * the page out.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createExecutorApp, type Executor } from '../../src/index.ts'
import { TestClient } from '../helpers/client.ts'
import { notificationReader, post } from '../helpers/http.ts'
import { startServer } from '../helpers/server.ts'

async function labels(url: string) {
  return ((await (await fetch(`${url}/v1/labels`)).json()) as { labels: Record<string, unknown>[] }).labels
}

test('label tallies count completed as successes and failed/timeout as failures, survive a restart, and reach /metrics', async () => {
  const server = await startServer()
  const run = (command: string, extra: Record<string, unknown> = {}) => post(`${server.url}/v1/executions`, { command, label: 'nightly', ...extra }).then((r) => r.text())
  await Promise.all([...Array(12)].map(() => run('true')))
  await run('exit 1')
  await run('sleep 5', { timeout: 0.2 })
  await post(`${server.url}/v1/executions`, { command: 'true' }).then((r) => r.text())
  const expected = [{ label: 'nightly', successes: 12, failures: 2, ratio: 6, graduated: false }]
  let now: unknown
  for (let i = 0; i < 100 && JSON.stringify((now = await labels(server.url))) !== JSON.stringify(expected); i++) await new Promise((r) => setTimeout(r, 50))
  assert.deepEqual(now, expected)
  const client = await TestClient.open(server.wsUrl)
  assert.deepEqual((await client.request('labels', {})).result, { labels: expected })
  client.close()
  await server.stop()

  const again = await startServer({ CC_EXECUTOR_DATA_DIR: server.dataDir })
  try {
    assert.deepEqual(await labels(again.url), expected, 'the same tallies after a restart, from the stored records')
    const metrics = await (await fetch(`${again.url}/metrics`)).text()
    assert.match(metrics, /cc_executor_label_executions_total\{label="nightly",outcome="success"\} 12/)
    assert.match(metrics, /cc_executor_label_executions_total\{label="nightly",outcome="failure"\} 2/)
    await Promise.all([...Array(12)].map(() => post(`${again.url}/v1/executions`, { command: 'true', label: 'nightly' }).then((r) => r.text())))
    for (let i = 0; i < 100 && (await labels(again.url))[0].successes !== 24; i++) await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(await labels(again.url), [{ label: 'nightly', successes: 24, failures: 2, ratio: 12, graduated: true }])
    assert.match(await (await fetch(`${again.url}/metrics`)).text(), /cc_executor_label_executions_total\{label="nightly",outcome="success"\} 24/)
  } finally {
    await again.stop()
  }
})

test('GET /v1/executions/watch lists the executions, then tells of each start, pause, resume and end', async () => {
  const server = await startServer()
  try {
    const first = await post(`${server.url}/v1/executions`, { command: 'true', label: 'before' })
    await first.text()
    const second = await post(`${server.url}/v1/executions`, { command: 'true', label: 'second' })
    await second.text()
    // limit=1: the newest record only, but the count and the labels of all of them.
    const response = await fetch(`${server.url}/v1/executions/watch?limit=1`)
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /application\/x-ndjson/)
    const reader = notificationReader(response)
    const next = reader.next
    const list = await next()
    assert.equal(list.method, 'executions.list')
    assert.deepEqual(list.params.executions.map((r: any) => r.label), ['second'])
    assert.equal(list.params.total, 2)
    assert.deepEqual(list.params.labels, ['before', 'second'])
    const started = await post(`${server.url}/v1/executions`, { command: 'sleep 30', detach: true, stdin: 'pipe' })
    const { execution_id: id } = (await started.json()) as { execution_id: string }
    const seen = async (status: string) => {
      let message = await next()
      // The first execution's end may be told after the watch began (its record is stored after its last line).
      while (message.params.execution?.id !== id) message = await next()
      assert.equal(message.method, 'execution.changed')
      assert.equal(message.params.execution.id, id)
      assert.equal(message.params.execution.status, status)
      assert.equal(message.params.total, 3)
      return message.params.execution
    }
    assert.equal((await seen('running')).stdin, 'pipe')
    await post(`${server.url}/v1/executions/${id}/control`, { type: 'PAUSE' })
    await seen('paused')
    await post(`${server.url}/v1/executions/${id}/control`, { type: 'RESUME' })
    await seen('running')
    await post(`${server.url}/v1/executions/${id}/control`, { type: 'CANCEL' })
    assert.equal((await seen('canceled')).state, 'exited')
    await reader.cancel()
  } finally {
    await server.stop()
  }
})

test('console: false leaves the page and its assets out; by default / serves it without a token', async () => {
  const executor: Executor = { start: () => Promise.reject(new Error('unused')) } as unknown as Executor
  const upgradeWebSocket = (() => () => new Response(null, { status: 426 })) as never
  const plain = createExecutorApp({ executor, upgradeWebSocket, console: false, tokens: ['a-token-of-sixteen-chars'] })
  assert.equal((await plain.request('/')).status, 401, 'no page: / is just another route behind the token')
  assert.equal((await plain.request('/console', { headers: { authorization: 'Bearer a-token-of-sixteen-chars' } })).status, 404)
  const full = createExecutorApp({ executor, upgradeWebSocket, tokens: ['a-token-of-sixteen-chars'] })
  const page = await full.request('/executions/abc')
  assert.equal(page.status, 200)
  assert.match(page.headers.get('content-type') ?? '', /text\/html/)
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/)
  assert.equal((await full.request('/v1/executions/abc')).status, 401, 'the API is not exempt')
  assert.equal((await full.request('/v1/labels')).status, 401)
  // Mounted under a prefix, the page names its assets under it.
  const { Hono } = await import('hono')
  const host = new Hono().route('/exec', full)
  const html = await (await host.request('/exec/console')).text()
  assert.match(html, /src="\/exec\/console\/assets\/console\.[0-9a-f]{12}\.js"/)
  const script = /src="(\/exec\/console\/assets\/[^"]+)"/.exec(html)![1]
  assert.equal((await host.request(script)).status, 200)
})
