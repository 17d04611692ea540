import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { TestClient } from '../helpers/client.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'

let server: RunningServer
before(async () => {
  server = await startServer({ WS_MAX_SIZE: '65536', MAX_SESSIONS: '3' })
})
after(async () => {
  await server.stop()
})

/** The session still answers: a malformed frame must not have harmed it. */
async function assertAlive(client: TestClient): Promise<void> {
  const pong = await client.request('ping')
  assert.equal(typeof pong.result.pong, 'number')
}

describe('JSON-RPC errors never harm the session', () => {
  const malformed: [string, string, number, string | number | null][] = [
    ['invalid JSON', '{"jsonrpc": "2.0", "method": ', -32700, null],
    ['a JSON array batch', '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', -32600, null],
    ['an empty array', '[]', -32600, null],
    ['a JSON string', '"execute"', -32600, null],
    ['null', 'null', -32600, null],
    ['a missing method', '{"jsonrpc":"2.0","id":7}', -32600, 7],
    ['a wrong jsonrpc version', '{"jsonrpc":"1.0","id":8,"method":"ping"}', -32600, 8],
    ['no jsonrpc member', '{"id":9,"method":"ping"}', -32600, 9],
    ['a non-string method', '{"jsonrpc":"2.0","id":10,"method":5}', -32600, 10],
    ['an object id', '{"jsonrpc":"2.0","id":{},"method":"ping"}', -32600, null],
    ['scalar params', '{"jsonrpc":"2.0","id":11,"method":"execute","params":"ls"}', -32600, 11],
    ['an unknown method', '{"jsonrpc":"2.0","id":12,"method":"launch_missiles"}', -32601, 12],
    ['a prototype method name', '{"jsonrpc":"2.0","id":13,"method":"constructor"}', -32601, 13],
    ['execute without command or argv', '{"jsonrpc":"2.0","id":14,"method":"execute","params":{}}', -32602, 14],
    ['execute with both command and argv', '{"jsonrpc":"2.0","id":15,"method":"execute","params":{"command":"ls","argv":["ls"]}}', -32602, 15],
    ['execute with a numeric command', '{"jsonrpc":"2.0","id":16,"method":"execute","params":{"command":42}}', -32602, 16],
    ['execute with a negative timeout', '{"jsonrpc":"2.0","id":17,"method":"execute","params":{"command":"ls","timeout":-1}}', -32602, 17],
    ['execute with a non-string env value', '{"jsonrpc":"2.0","id":18,"method":"execute","params":{"command":"ls","env":{"A":1}}}', -32602, 18],
    ['execute with an empty argv', '{"jsonrpc":"2.0","id":19,"method":"execute","params":{"argv":[]}}', -32602, 19],
    ['a control of an unknown type', '{"jsonrpc":"2.0","id":20,"method":"control","params":{"type":"EXPLODE"}}', -32602, 20],
    ['a control with no process', '{"jsonrpc":"2.0","id":21,"method":"control","params":{"type":"PAUSE"}}', -32002, 21],
    ['a control of an unknown execution', '{"jsonrpc":"2.0","id":22,"method":"control","params":{"type":"CANCEL","execution_id":"nope"}}', -32002, 22],
    ['input with no process', '{"jsonrpc":"2.0","id":23,"method":"input","params":{"data":"x"}}', -32002, 23],
  ]
  for (const [what, frame, code, id] of malformed) {
    test(`${what} gets error ${code}`, async () => {
      const client = await TestClient.open(server.wsUrl)
      client.sendRaw(frame)
      const reply = await client.waitFor((f) => f.error !== undefined)
      assert.equal(reply.error!.code, code, JSON.stringify(reply))
      assert.equal(reply.id, id)
      assert.equal(typeof reply.error!.message, 'string')
      await assertAlive(client)
      await client.close()
    })
  }

  test('a binary frame gets -32600 and the session goes on', async () => {
    const client = await TestClient.open(server.wsUrl)
    client.sendRaw(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping"}'))
    const reply = await client.waitFor((f) => f.error !== undefined)
    assert.equal(reply.error!.code, -32600)
    await assertAlive(client)
    await client.close()
  })

  test('a frame over WS_MAX_SIZE closes only that session, with 1009', async () => {
    const bystander = await TestClient.open(server.wsUrl)
    const client = await TestClient.open(server.wsUrl)
    client.sendRaw(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'execute', params: { command: 'x'.repeat(70_000) } }))
    const { code } = await client.closed
    assert.equal(code, 1009)
    await assertAlive(bystander)
    await bystander.close()
  })

  test('a notification (no id) is acted on without a reply, and a client pong is ignored', async () => {
    const client = await TestClient.open(server.wsUrl)
    client.sendRaw('{"jsonrpc":"2.0","method":"pong","params":{}}')
    client.sendRaw('{"jsonrpc":"2.0","method":"execute","params":{"command":"echo quiet"}}')
    const done = await client.waitFor((f) => f.method === 'process.completed')
    assert.equal(done.params.status, 'completed')
    assert.equal(client.frames.filter((f) => 'result' in f || 'error' in f).length, 0)
    await assertAlive(client)
    await client.close()
  })

  test('ping answers with the server time in epoch seconds', async () => {
    const client = await TestClient.open(server.wsUrl)
    const reply = await client.request('ping')
    assert.ok(Math.abs(reply.result.pong - Date.now() / 1000) < 5)
    await client.close()
  })
})

describe('one running execution per session', () => {
  test('a second execute while one runs gets -32602 "A process is already running"', async () => {
    const client = await TestClient.open(server.wsUrl)
    const first = await client.execute({ command: 'sleep 0.5; echo first' })
    const second = await client.request('execute', { command: 'echo second' })
    assert.equal(second.error?.code, -32602)
    assert.equal(second.error?.message, 'A process is already running')
    await client.completion(first.execution_id)
    const third = await client.run({ command: 'echo third' })
    assert.equal(third.stdout, 'third\n')
    assert.equal(client.frames.some((f) => f.method === 'process.output' && f.params.data.includes('second')), false)
    await client.close()
  })

  test('two executes sent back to back cannot both start', async () => {
    const client = await TestClient.open(server.wsUrl)
    client.sendRaw('{"jsonrpc":"2.0","id":"a","method":"execute","params":{"command":"sleep 0.3"}}')
    client.sendRaw('{"jsonrpc":"2.0","id":"b","method":"execute","params":{"command":"sleep 0.3"}}')
    const a = await client.waitFor((f) => f.id === 'a')
    const b = await client.waitFor((f) => f.id === 'b')
    assert.equal(a.result?.status, 'started')
    assert.equal(b.error?.code, -32602)
    await client.completion(a.result.execution_id)
    await client.close()
  })
})

describe('session limit', () => {
  test('beyond MAX_SESSIONS a client gets -32003 and close 1008, and a freed slot is reusable', async () => {
    const open = await Promise.all([1, 2, 3].map(() => TestClient.open(server.wsUrl)))
    const extra = await TestClient.connect(server.wsUrl)
    const refusal = await extra.waitFor(() => true)
    assert.equal(refusal.error?.code, -32003)
    assert.equal(refusal.error?.message, 'Session limit exceeded')
    assert.equal(refusal.id, null)
    assert.equal((await extra.closed).code, 1008)
    const health = await (await fetch(`${server.url}/health`)).json()
    assert.equal(health.active_sessions, 3)
    await open[0].close()
    // The server sees the close asynchronously; a new session is admitted once it has.
    let admitted: TestClient | undefined
    for (let i = 0; i < 50 && !admitted; i++) {
      const c = await TestClient.connect(server.wsUrl)
      const first = await c.waitFor(() => true)
      if (first.method === 'connected') admitted = c
      else await new Promise((r) => setTimeout(r, 20))
    }
    assert.ok(admitted, 'a session is admitted after one closed')
    await Promise.all([admitted.close(), open[1].close(), open[2].close()])
  })

  test('/ws/claude bridge connections count against MAX_SESSIONS too: with the slots taken by bridges, /ws/mcp is refused', async () => {
    const bridgeUrl = server.wsUrl.replace('/ws/mcp', '/ws/claude')
    const bridges = await Promise.all([1, 2, 3].map(() => TestClient.connect(bridgeUrl)))
    for (const bridge of bridges) assert.equal((await bridge.waitFor(() => true)).method, 'connected')
    const extra = await TestClient.connect(server.wsUrl)
    assert.equal((await extra.waitFor(() => true)).error?.code, -32003)
    assert.equal((await extra.closed).code, 1008)
    assert.equal((await (await fetch(`${server.url}/health`)).json()).active_sessions, 3)
    await Promise.all(bridges.map((bridge) => bridge.close()))
  })
})

describe('health', () => {
  test('/health reports the service and /healthz is ok', async () => {
    const health = await (await fetch(`${server.url}/health`)).json()
    assert.equal(health.status, 'healthy')
    assert.equal(health.service, 'cc-executor')
    assert.equal(health.runtime, 'node')
    assert.equal(health.max_sessions, 3)
    assert.equal(typeof health.uptime_seconds, 'number')
    assert.deepEqual(await (await fetch(`${server.url}/healthz`)).json(), { status: 'ok' })
    const missing = await fetch(`${server.url}/nope`)
    assert.equal(missing.status, 404)
    assert.equal((await missing.json()).error.code, -32601)
  })
})
