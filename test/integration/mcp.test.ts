/**
 * /mcp with real MCP clients only: the SDK's own Client and StreamableHTTPClientTransport against
 * the real Node server, and the real Claude Code CLI as an MCP client (its model is the scripted
 * Messages API of test/helpers/messages-api.ts).
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { serve, upgradeWebSocket, type ServerType } from '@hono/node-server'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { WebSocketServer } from 'ws'
import { LocalExecutor } from '../../adapters/node/embed.ts'
import { createExecutorApp } from '../../src/index.ts'
import { RECORD_STATUSES } from '../../src/protocol/list-filter.ts'
import { CLAUDE_BIN, startClaudeServer, type ClaudeServer } from '../helpers/messages-api.ts'
import { eventually, processesRunning } from '../helpers/proc.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'
import { TestClient } from '../helpers/client.ts'

type ToolResult = { content: { type: string; text: string }[]; structuredContent?: any; isError?: boolean }

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'cc-executor-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } }))
  return client
}

const call = async (client: Client, name: string, args: Record<string, unknown>, options?: Parameters<Client['callTool']>[2]) =>
  (await client.callTool({ name, arguments: args }, undefined, options)) as ToolResult

const initialize = (version = '2025-06-18') => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
})
const postMcp = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })

describe('the MCP server at /mcp', () => {
  let server: RunningServer
  let client: Client
  before(async () => {
    server = await startServer({ KILL_GRACE_MS: '500' })
    client = await connect(server.url)
  })
  after(async () => {
    await client.close()
    await server.stop()
  })

  test('initialize names the server and its version; listTools has every tool with a JSON Schema input', async () => {
    assert.deepEqual(client.getServerVersion(), { name: 'cc-executor', version: (await (await fetch(`${server.url}/health`)).json()).version })
    const { tools } = await client.listTools()
    assert.deepEqual(tools.map((t) => t.name).sort(), ['claude', 'control', 'execute', 'input', 'list', 'output', 'start', 'status', 'verify'])
    const execute = tools.find((t) => t.name === 'execute')!
    assert.equal(execute.inputSchema.type, 'object')
    assert.ok('command' in execute.inputSchema.properties! && 'argv' in execute.inputSchema.properties!)
    assert.ok(tools.every((t) => (t.description ?? '').length > 20), 'every tool is described for a model')
    // Each input's properties and required members, as a client reads them from the JSON Schema.
    const inputs = Object.fromEntries(tools.map((t) => [t.name, { properties: Object.keys(t.inputSchema.properties ?? {}).sort(), required: [...(t.inputSchema.required ?? [])].sort() }]))
    const command = { properties: ['argv', 'command', 'cwd', 'env', 'idle_timeout', 'label', 'stdin', 'timeout'], required: [] }
    assert.deepEqual(inputs, {
      execute: command,
      start: command,
      status: { properties: ['execution_id'], required: ['execution_id'] },
      output: { properties: ['after_seq', 'execution_id', 'max_bytes'], required: ['execution_id'] },
      control: { properties: ['execution_id', 'type'], required: ['execution_id', 'type'] },
      input: { properties: ['data', 'eof', 'execution_id'], required: ['data', 'execution_id'] },
      list: { properties: ['label', 'status'], required: [] },
      verify: { properties: ['execution_id'], required: ['execution_id'] },
      claude: { properties: ['allowed_tools', 'cwd', 'label', 'max_turns', 'model', 'prompt', 'resume', 'timeout'], required: ['prompt'] },
    })
    const control = tools.find((t) => t.name === 'control')!.inputSchema.properties!.type as { enum?: string[] }
    assert.deepEqual(control.enum, ['CANCEL', 'PAUSE', 'RESUME', 'INTERRUPT', 'KILL'])
    const status = tools.find((t) => t.name === 'list')!.inputSchema.properties!.status as { enum?: string[] }
    assert.deepEqual(status.enum, [...RECORD_STATUSES])
  })

  test('list with label and status: only the matching executions; a bad status or label is a tool error', async () => {
    const [a, b] = ['a', 'b'].map((name) => `mcp-${name}-${randomUUID().slice(0, 8)}`)
    const ids: Record<string, string> = {}
    for (const [key, label, command] of [['aOk', a, 'true'], ['aFailed', a, 'exit 3'], ['bOk', b, 'true'], ['bFailed', b, 'exit 4']]) {
      ids[key] = (await call(client, 'execute', { command, label })).structuredContent.execution_id
    }
    const list = async (args: Record<string, unknown>) => {
      const result = await call(client, 'list', args)
      assert.equal(result.isError, undefined, result.content[0].text)
      return result.structuredContent.executions as { id: string; label: string | null; status: string }[]
    }
    assert.deepEqual((await list({ label: a })).map((r) => r.id), [ids.aOk, ids.aFailed])
    assert.deepEqual((await list({ label: b, status: 'failed' })).map((r) => r.id), [ids.bFailed])
    const failed = await list({ status: 'failed' })
    assert.ok(failed.every((r) => r.status === 'failed'))
    assert.deepEqual(failed.filter((r) => r.label === a || r.label === b).map((r) => r.id), [ids.aFailed, ids.bFailed])
    assert.deepEqual(await list({ label: a, status: 'running' }), [])
    // The text lists the same ones.
    const text = (await call(client, 'list', { label: a })).content[0].text.split('\n')
    assert.deepEqual(text.map((line) => line.split('  ')[0]), [ids.aOk, ids.aFailed])

    const badStatus = await call(client, 'list', { status: 'bogus' })
    assert.equal(badStatus.isError, true)
    assert.match(badStatus.content[0].text, /Input validation error: Invalid arguments for tool list: status must be one of running, paused, completed, failed, canceled, timeout, killed, interrupted at status/)
    const badLabel = await call(client, 'list', { label: 'no!' })
    assert.equal(badLabel.isError, true)
    assert.match(badLabel.content[0].text, /Invalid arguments for tool list: label must be 1-128 characters/)
  })

  test('execute returns the exit code, status and both streams\' tails, isError for a non-zero exit', async () => {
    const ok = await call(client, 'execute', { command: 'echo out; echo err >&2' })
    assert.equal(ok.isError, false)
    assert.equal(ok.structuredContent.exit_code, 0)
    assert.equal(ok.structuredContent.status, 'completed')
    assert.equal(ok.structuredContent.stdout, 'out\n')
    assert.equal(ok.structuredContent.stderr, 'err\n')
    assert.match(ok.content[0].text, /status: completed · exit_code: 0/)
    const failed = await call(client, 'execute', { argv: ['sh', '-c', 'exit 7'] })
    assert.equal(failed.isError, true)
    assert.equal(failed.structuredContent.exit_code, 7)
    // A long output: its last 64 KiB, and how much was cut.
    const big = await call(client, 'execute', { command: 'yes 0123456789 | head -c 200000' })
    assert.equal(big.structuredContent.stdout.length, 65_536)
    assert.equal(big.structuredContent.stdout_cut_chars, 200_000 - 65_536)
    assert.equal(big.structuredContent.stdout_bytes, 200_000)
    assert.match(big.content[0].text, /--- stdout \(last 65536 characters; 134464 cut before them\) ---/)
  })

  test('progress notifications: monotonic, at most every 250 ms, the message the latest line', async () => {
    const seen: { progress: number; message?: string; at: number }[] = []
    const result = await call(client, 'execute', { command: 'for i in $(seq 1 20); do echo tick $i; sleep 0.1; done' }, { onprogress: (p) => seen.push({ ...p, at: Date.now() }) })
    assert.equal(result.structuredContent.exit_code, 0)
    assert.ok(seen.length >= 4 && seen.length <= 12, `${seen.length} notifications for 2 s of output`)
    assert.deepEqual(seen.map((p) => p.progress), seen.map((_, i) => i + 1))
    for (let i = 1; i < seen.length; i += 1) assert.ok(seen[i].at - seen[i - 1].at >= 200, `gap ${seen[i].at - seen[i - 1].at} ms`)
    assert.ok(seen.every((p) => /^tick \d+$/.test(p.message ?? '')))
  })

  test('cancelling the call (the client\'s AbortSignal) cancels the execution: its group is gone, the record says canceled', async () => {
    const controller = new AbortController()
    const running = call(client, 'execute', { command: 'sleep 607' }, { signal: controller.signal })
    await eventually(() => processesRunning('sleep 607').length === 1, 10_000, 'sleep 607 runs')
    controller.abort()
    await assert.rejects(running)
    await eventually(() => processesRunning('sleep 607').length === 0, 10_000, 'sleep 607 is gone')
    const { structuredContent } = await call(client, 'list', {})
    const record = structuredContent.executions.find((r: { command: string }) => r.command === 'sleep 607')
    const status = await call(client, 'status', { execution_id: record.id })
    assert.equal(status.structuredContent.status, 'canceled')
  })

  test('start returns at once; output polls by seq until done; control and input reach the process', async () => {
    const started = await call(client, 'start', { command: 'read line; echo "got $line"; for i in 1 2 3; do echo step $i; sleep 0.2; done', stdin: 'pipe' })
    const id = started.structuredContent.execution_id
    assert.equal((await call(client, 'input', { execution_id: id, data: 'hello\n', eof: true })).structuredContent.written, 6)
    let text = ''
    let seq = 0
    for (let i = 0; i < 100; i += 1) {
      const out = await call(client, 'output', { execution_id: id, after_seq: seq })
      assert.ok(out.structuredContent.next_seq >= seq)
      seq = out.structuredContent.next_seq
      text += out.structuredContent.stdout
      if (out.structuredContent.done) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.equal(text, 'got hello\nstep 1\nstep 2\nstep 3\n')
    const again = await call(client, 'output', { execution_id: id, after_seq: seq })
    assert.equal(again.structuredContent.stdout, '')
    assert.equal(again.structuredContent.done, true)
    const paused = await call(client, 'start', { command: 'sleep 30' })
    const pid = paused.structuredContent.execution_id
    assert.equal((await call(client, 'control', { execution_id: pid, type: 'PAUSE' })).content[0].text, 'paused')
    assert.equal((await call(client, 'status', { execution_id: pid })).structuredContent.state, 'paused')
    assert.equal((await call(client, 'control', { execution_id: pid, type: 'CANCEL' })).content[0].text, 'canceled')
    const verify = await call(client, 'verify', { execution_id: id })
    assert.equal(verify.structuredContent.verified, true)
  })

  test('each execution is a resource: its record and its transcript, listed and readable', async () => {
    const { structuredContent } = await call(client, 'execute', { command: 'echo resource-me' })
    const id = structuredContent.execution_id
    const { resources } = await client.listResources()
    assert.ok(resources.some((r) => r.uri === `execution://${id}`))
    assert.ok(resources.some((r) => r.uri === `execution://${id}/transcript`))
    const record = await client.readResource({ uri: `execution://${id}` })
    assert.equal(JSON.parse(String((record.contents[0] as { text: string }).text)).exit_code, 0)
    const transcript = await client.readResource({ uri: `execution://${id}/transcript` })
    const events = String((transcript.contents[0] as { text: string }).text).split('\n').map((l) => JSON.parse(l))
    assert.equal(events[0].method, 'process.started')
    assert.equal(events.at(-1).method, 'process.completed')
    assert.equal(events.filter((e) => e.method === 'process.output').map((e) => e.params.data).join(''), 'resource-me\n')
    await assert.rejects(client.readResource({ uri: 'execution://no-such' }), /No execution no-such/)
    // A malformed percent-escape cannot be an id: it is unknown like any other, and named.
    await assert.rejects(client.readResource({ uri: 'execution://%E0%A4%A' }), (error: { code?: number; message: string }) => {
      assert.equal(error.code, -32002)
      assert.match(error.message, /No execution %E0%A4%A/)
      return true
    })
  })

  test('bad calls: wrong or missing arguments, an unknown tool, an unknown execution: tool errors, nothing spawned', async () => {
    const before = (await call(client, 'list', {})).structuredContent.executions.length
    const missing = await call(client, 'execute', {})
    assert.equal(missing.isError, true)
    assert.match(missing.content[0].text, /exactly one of command|command/)
    const wrongType = await call(client, 'execute', { command: 42 })
    assert.equal(wrongType.isError, true)
    assert.match(wrongType.content[0].text, /Input validation error: Invalid arguments for tool execute: .* at command/)
    const noId = await call(client, 'status', {})
    assert.equal(noId.isError, true)
    assert.match(noId.content[0].text, /Invalid arguments for tool status: .* at execution_id/)
    const unknown = await call(client, 'no_such_tool', {})
    assert.equal(unknown.isError, true)
    assert.match(unknown.content[0].text, /not found/)
    const noSuch = await call(client, 'control', { execution_id: 'nope', type: 'CANCEL' })
    assert.equal(noSuch.isError, true)
    assert.match(noSuch.content[0].text, /No execution nope \(code -32002\)/)
    assert.equal((await call(client, 'list', {})).structuredContent.executions.length, before)
  })

  test('the HTTP side: unknown session 404, no session 400, a wrong protocol version 400, a 10 MiB body 413, DELETE ends a session', async () => {
    const unknown = await postMcp(server.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': 'not-a-session' })
    assert.equal(unknown.status, 404)
    const noSession = await postMcp(server.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' })
    assert.equal(noSession.status, 400)
    const init = await postMcp(server.url, initialize())
    assert.equal(init.status, 200)
    const session = init.headers.get('mcp-session-id')!
    assert.match(session, /^[0-9a-f-]{36}$/)
    const wrongVersion = await postMcp(server.url, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': session, 'mcp-protocol-version': '1999-01-01' })
    assert.equal(wrongVersion.status, 400)
    const huge = await postMcp(server.url, JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'input', arguments: { execution_id: 'x', data: 'x'.repeat(10 * 1024 * 1024) } } }), { 'mcp-session-id': session })
    assert.equal(huge.status, 413)
    const deleted = await fetch(`${server.url}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': session } })
    assert.equal(deleted.status, 200)
    const gone = await postMcp(server.url, { jsonrpc: '2.0', id: 5, method: 'tools/list' }, { 'mcp-session-id': session })
    assert.equal(gone.status, 404)
    // The protocol versions before the SDK's latest initialize too.
    for (const version of ['2025-03-26', '2025-06-18']) assert.equal((await postMcp(server.url, initialize(version))).status, 200)
    // The server and the first client's session are unaffected.
    assert.equal((await call(client, 'execute', { command: 'echo still fine' })).structuredContent.stdout, 'still fine\n')
  })

  test('a dropped HTTP connection does not cancel a call: the execution runs to its end', async () => {
    const init = await postMcp(server.url, initialize())
    const session = init.headers.get('mcp-session-id')!
    await init.body?.cancel()
    const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' }
    await (await postMcp(server.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).body?.cancel()
    const controller = new AbortController()
    const pending = fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'execute', arguments: { command: 'sleep 1; echo survived-the-drop' } } }),
      signal: controller.signal,
    })
    await eventually(() => processesRunning('sleep 1').length > 0, 10_000, 'the call started its command')
    controller.abort()
    await pending.catch(() => {})
    let record: { status: string; stdout_bytes: number } | undefined
    for (let i = 0; i < 50 && record?.status !== 'completed'; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      const list = (await call(client, 'list', {})).structuredContent.executions
      record = list.find((r: { command: string }) => r.command === 'sleep 1; echo survived-the-drop')
    }
    assert.equal(record?.status, 'completed')
    assert.equal(record?.stdout_bytes, 'survived-the-drop\n'.length)
  })

  test('DNS-rebinding protection on loopback: a foreign Host or Origin is refused before any MCP processing', async () => {
    // fetch sets Host itself: a raw request carries the rebound name.
    const hostStatus = await new Promise<number>((resolve, reject) => {
      const body = JSON.stringify(initialize())
      const req = request(`${server.url}/mcp`, { method: 'POST', headers: { host: 'evil.example:8003', 'content-type': 'application/json', accept: 'application/json, text/event-stream' } }, (res) => {
        res.resume()
        resolve(res.statusCode!)
      })
      req.on('error', reject)
      req.end(body)
    })
    assert.equal(hostStatus, 403)
    const origin = await postMcp(server.url, initialize(), { origin: 'http://evil.example' })
    assert.equal(origin.status, 403)
    const local = await postMcp(server.url, initialize(), { origin: `http://localhost:${server.port}` })
    assert.equal(local.status, 200)
  })
})

describe('MCP auth and limits', () => {
  test('a token: 401 without credentials, 403 with a wrong one, before any MCP processing; Bearer and X-API-Key work', async () => {
    const token = 'mcp-test-token-0123456789abcdef'
    const server = await startServer({ CC_EXECUTOR_AUTH_TOKEN: token })
    try {
      assert.equal((await postMcp(server.url, initialize())).status, 401)
      assert.equal((await postMcp(server.url, initialize(), { authorization: 'Bearer wrong-token-0123456789' })).status, 403)
      const bearer = await connect(server.url, { authorization: `Bearer ${token}` })
      assert.equal((await call(bearer, 'execute', { command: 'echo authed' })).structuredContent.stdout, 'authed\n')
      await bearer.close()
      const apiKey = await connect(server.url, { 'x-api-key': token })
      assert.equal((await apiKey.listTools()).tools.length, 9)
      await apiKey.close()
    } finally {
      await server.stop()
    }
  })

  test('a session belongs to the token that opened it: another valid token on its Mcp-Session-Id is 403, nothing runs', async () => {
    const [mine, other] = ['mcp-token-one-0123456789abcdef', 'mcp-token-two-0123456789abcdef']
    const server = await startServer({ CC_EXECUTOR_AUTH_TOKEN: `${mine},${other}` })
    try {
      const owner = await connect(server.url, { authorization: `Bearer ${mine}` })
      const sessionId = (owner.transport as StreamableHTTPClientTransport).sessionId!
      // With a session id the SDK's client skips initialize and goes straight to the session.
      const intruder = new Client({ name: 'cc-executor-test', version: '1.0.0' })
      await intruder.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { sessionId, requestInit: { headers: { authorization: `Bearer ${other}` } } }))
      await assert.rejects(call(intruder, 'execute', { command: 'echo not-mine' }), (error: { code?: number; message: string }) => {
        assert.equal(error.code, 403)
        assert.match(error.message, /belongs to another token/)
        return true
      })
      const raw = await postMcp(server.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': sessionId, 'x-api-key': other })
      assert.equal(raw.status, 403)
      assert.equal((await raw.json()).error.code, -32004)
      const deleted = await fetch(`${server.url}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': sessionId, authorization: `Bearer ${other}` } })
      assert.equal(deleted.status, 403)
      // The owner's session is untouched, and nothing ran for the other token.
      const { executions } = (await call(owner, 'list', {})).structuredContent
      assert.ok(!executions.some((r: { command: string }) => r.command === 'echo not-mine'))
      await intruder.close()
      await owner.close()
    } finally {
      await server.stop()
    }
  })

  test('MAX_SESSIONS bounds MCP sessions: one more initialize gets 503, a DELETE makes room', async () => {
    const server = await startServer({ MAX_SESSIONS: '2' })
    try {
      const a = await connect(server.url)
      const b = await connect(server.url)
      const third = await postMcp(server.url, initialize())
      assert.equal(third.status, 503)
      assert.equal(third.headers.get('retry-after'), '1')
      assert.equal((await third.json()).error.code, -32003)
      await a.close()
      await (a.transport as StreamableHTTPClientTransport | undefined)?.terminateSession().catch(() => {})
      const sessionOfB = (b.transport as StreamableHTTPClientTransport).sessionId!
      await fetch(`${server.url}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': sessionOfB } })
      assert.equal((await postMcp(server.url, initialize())).status, 200)
      await b.close()
    } finally {
      await server.stop()
    }
  })
})

describe('idle MCP sessions', () => {
  test('a session with a call in flight is not idle: the call outlives idleMs and finishes; idle time counts from its end', async () => {
    const idleMs = 300
    const exec = createExecutorApp({ executor: new LocalExecutor(), upgradeWebSocket, runtime: 'node', mcp: { idleMs } })
    const http = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: exec.fetch, port: 0, hostname: '127.0.0.1', websocket: { server: new WebSocketServer({ noServer: true }) } }, () => resolve(s))
    })
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
    const clients: Client[] = []
    const open = async () => {
      const client = await connect(url)
      clients.push(client)
      return client
    }
    try {
      const busy = await open()
      const running = call(busy, 'execute', { command: 'sleep 1.5; echo outlived-idle' }, { timeout: 10_000 })
      await sleep(idleMs * 2)
      await open() // a new session sweeps the idle ones
      const result = await running
      assert.equal(result.structuredContent.status, 'completed', result.content[0].text)
      assert.equal(result.structuredContent.stdout, 'outlived-idle\n')
      await open()
      assert.equal((await busy.listTools()).tools.length, 9, 'the call\'s end counts as use')
      await sleep(idleMs * 2)
      await open()
      await assert.rejects(busy.listTools(), /Session not found/, 'idle with nothing in flight: swept')
    } finally {
      for (const client of clients) await client.close().catch(() => {})
      await exec.shutdown()
      http.close()
    }
  })
})

describe('Claude Code and /mcp', () => {
  let ctx: ClaudeServer
  let server: RunningServer
  before(async () => {
    ctx = await startClaudeServer({}, 0, ({ toolResults, prompt }) => {
      if (toolResults.length > 0) return { blocks: [{ type: 'text', text: `cc-executor said: ${toolResults.map((r) => r.content).join(' | ')}` }] }
      if (prompt.startsWith('mcp:')) return { blocks: [{ type: 'tool_use', name: 'mcp__cc__execute', input: { command: prompt.slice(4) } }] }
      return { blocks: [{ type: 'tool_use', name: 'Bash', input: { command: prompt } }] }
    })
    server = ctx.server
  })
  after(() => ctx.close())

  test('the claude tool runs a Claude Code task and returns its result, session and cost', async () => {
    const client = await connect(server.url)
    try {
      const progress: string[] = []
      const result = await call(client, 'claude', { prompt: 'echo claude-via-mcp' }, { onprogress: (p) => progress.push(p.message ?? '') })
      assert.equal(result.isError, false, JSON.stringify(result))
      assert.equal(result.structuredContent.result, 'cc-executor said: claude-via-mcp')
      assert.match(result.structuredContent.session_id, /^[0-9a-f-]{36}$/)
      assert.equal(result.structuredContent.num_turns, 2)
      assert.equal(typeof result.structuredContent.total_cost_usd, 'number')
      assert.ok(progress.some((m) => m === 'tool: Bash'), JSON.stringify(progress))
    } finally {
      await client.close()
    }
  })

  test('the real Claude Code CLI, given this server as an http MCP server, calls mcp__cc__execute: the command runs here', async () => {
    assert.ok(existsSync(CLAUDE_BIN))
    const ws = await TestClient.open(server.wsUrl)
    try {
      const mcp_config = { mcpServers: { cc: { type: 'http', url: `${server.url}/mcp` } } }
      const { result } = await ws.request('claude', { prompt: 'mcp:echo from-mcp-$((2+3))', mcp_config, allowed_tools: ['mcp__cc__execute'] })
      const completed = (await ws.completion(result.execution_id, 60_000)).params
      assert.equal(completed.status, 'completed', completed.reason)
      assert.match(completed.claude.result, /^cc-executor said: .*from-mcp-5/s)
      const records = (await ws.request('list', {})).result.executions
      const ran = records.find((r: { command: string; started_by: string }) => r.command === 'echo from-mcp-$((2+3))')
      assert.ok(ran, 'the command ran in this server')
      assert.equal(ran.started_by, 'mcp')
      assert.equal(ran.exit_code, 0)
    } finally {
      await ws.close()
    }
  })
})
