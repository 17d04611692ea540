import { serve, upgradeWebSocket, type ServerType } from '@hono/node-server'
import { Hono } from 'hono'
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { WebSocketServer } from 'ws'
import { LocalExecutor } from '../../adapters/node/embed.ts'
import { createExecutorApp } from '../../src/index.ts'
import { TestClient } from '../helpers/client.ts'

test('the router mounted under /exec in a host Hono app serves its protocol beside the host routes', async () => {
  const exec = createExecutorApp({ executor: new LocalExecutor(), upgradeWebSocket, runtime: 'node' })
  const app = new Hono()
  app.get('/', (c) => c.text('host app'))
  app.route('/exec', exec)
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', websocket: { server: new WebSocketServer({ noServer: true }) } }, () => resolve(s))
  })
  const { port } = server.address() as AddressInfo
  try {
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'host app')
    const health = await (await fetch(`http://127.0.0.1:${port}/exec/health`)).json()
    assert.equal(health.service, 'cc-executor')
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 404, 'nothing leaks outside the mount point')
    const client = await TestClient.open(`ws://127.0.0.1:${port}/exec/ws/mcp`)
    const r = await client.run({ command: 'echo embedded' })
    assert.equal(r.stdout, 'embedded\n')
    assert.equal(r.completed.status, 'completed')
    await client.close()
  } finally {
    await exec.shutdown()
    server.close()
  }
})

test('limits.keepFinished: an app without a store forgets its oldest finished executions beyond it (the Worker gateway keeps 100)', async () => {
  const exec = createExecutorApp({ executor: new LocalExecutor(), upgradeWebSocket, runtime: 'node', limits: { keepFinished: 2 } })
  const status = async (id: string) => (await exec.request(`/v1/executions/${id}`)).status
  try {
    for (const id of ['first', 'second', 'third']) {
      const response = await exec.request('/v1/executions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ command: `echo ${id}`, execution_id: id }),
      })
      assert.match(await response.text(), /"process\.completed"/)
    }
    for (let tries = 0; tries < 100 && (await status('first')) !== 404; tries++) await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual([await status('first'), await status('second'), await status('third')], [404, 200, 200])
    const replay = await (await exec.request('/v1/executions/second/events')).text()
    assert.match(replay, /"data":"second\\n"/, 'a kept one still replays its events')
  } finally {
    await exec.shutdown()
  }
})
