/**
 * Claude tasks with the real Claude Code CLI (pinned devDependency) against a scripted Anthropic
 * Messages API on loopback: real tool calls run by Claude Code's Bash tool, real stream-json, real
 * session transcripts. Each test gets its own HOME / CLAUDE_CONFIG_DIR.
 */
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import WebSocket from 'ws'
import { ExecutorClient, type WebSocketConstructor } from '../../src/client/index.ts'
import { verifyTranscript } from '../../src/index.ts'
import { TestClient, type Frame } from '../helpers/client.ts'
import { readNdjson, post } from '../helpers/http.ts'
import { CLAUDE_BIN, runThenReport, startClaudeServer, type ClaudeServer } from '../helpers/messages-api.ts'
import { eventually, processesRunning, processState } from '../helpers/proc.ts'
import { startServer } from '../helpers/server.ts'

const TASK_TIMEOUT = 60_000

async function runClaude(client: TestClient, params: Record<string, unknown>) {
  const reply = await client.request('claude', params)
  if (reply.error) throw new Error(`claude failed: ${JSON.stringify(reply.error)}`)
  const id: string = reply.result.execution_id
  const completed = await client.completion(id, TASK_TIMEOUT)
  const events = client.events(id)
  const claude = events.filter((e) => e.method === 'claude.event').map((e) => e.params)
  return { id, reply: reply.result, completed: completed.params, events, claude }
}

describe('Claude tasks with the real Claude Code CLI', () => {
  let ctx: ClaudeServer
  before(async () => {
    ctx = await startClaudeServer({ ACTIVITY_TIMEOUT: '1' }, 2)
  })
  after(async () => {
    await ctx.close()
  })

  test('a tool call then text: claude.events follow their output, and the completion carries the summary', async () => {
    ctx.setScript(runThenReport)
    const client = await TestClient.open(ctx.server.wsUrl)
    const { id, completed, events, claude } = await runClaude(client, { prompt: 'echo tool-said-$((6*7))', label: 'smoke' })
    assert.deepEqual(claude.map((e) => e.kind), ['init', 'text', 'tool_use', 'tool_result', 'text', 'result'])
    const [init, first, toolUse, toolResult, last, result] = claude
    assert.match(init.session_id, /^[0-9a-f-]{36}$/)
    assert.ok(init.tools.includes('Bash'))
    assert.equal(first.text, 'I will run it.')
    assert.equal(toolUse.name, 'Bash')
    assert.equal(toolUse.input.command, 'echo tool-said-$((6*7))')
    assert.equal(toolResult.tool_use_id, toolUse.id)
    assert.equal(toolResult.content, 'tool-said-42', 'the tool really ran')
    assert.equal(toolResult.is_error, false)
    assert.equal(last.text, 'The command printed: tool-said-42')
    assert.equal(result.result, 'The command printed: tool-said-42')
    // Each claude.event comes right after the output that carried its line.
    for (const event of events.filter((e) => e.method === 'claude.event')) {
      const before = events[event.params.seq - 2]
      assert.ok(before.method === 'process.output' || before.method === 'claude.event', `seq ${event.params.seq} follows output`)
    }
    assert.equal(completed.status, 'completed')
    assert.equal(completed.exit_code, 0)
    assert.equal(completed.claude.session_id, init.session_id)
    assert.equal(completed.claude.is_error, false)
    assert.equal(completed.claude.num_turns, 2)
    assert.equal(typeof completed.claude.total_cost_usd, 'number')
    assert.equal(typeof completed.claude.duration_ms, 'number')
    assert.equal(completed.claude.result, 'The command printed: tool-said-42')
    assert.equal(completed.claude.terminal_reason, 'completed')
    // The raw output is still exactly what Claude Code printed: the hashes verify, seq has no gap.
    const verified = await verifyTranscript(events as never)
    assert.equal(verified.ok, true, verified.reason)
    const record = (await client.request('status', { execution_id: id })).result
    assert.equal(record.kind, 'claude')
    assert.equal(record.label, 'smoke')
    assert.equal(record.claude.session_id, init.session_id)
    await client.close()
  })

  test('a 429 is retried by Claude Code and reported as a retry event; the task then completes', async () => {
    ctx.setScript((r) => (r.n === ctx.api.requests.find((q) => q.prompt === 'echo after-429')?.n ? { status: 429, errorType: 'rate_limit_error', message: 'slow down', retryAfter: 0 } : runThenReport(r)))
    const client = await TestClient.open(ctx.server.wsUrl)
    const { completed, claude } = await runClaude(client, { prompt: 'echo after-429' })
    const retry = claude.find((e) => e.kind === 'retry')
    assert.ok(retry, `a retry event: ${JSON.stringify(claude.map((e) => e.kind))}`)
    assert.equal(retry.error_status, 429)
    assert.equal(retry.attempt, 1)
    assert.equal(typeof retry.retry_delay_ms, 'number')
    assert.equal(completed.status, 'completed')
    await client.close()
  })

  test('a model silent for 3 s keeps producing process.status with the inactive time and what Claude is doing', async () => {
    ctx.setScript((r) => (r.toolResults.length > 0 ? { blocks: [{ type: 'text', text: 'done' }], delayMs: 3000 } : runThenReport(r)))
    const client = await TestClient.open(ctx.server.wsUrl)
    const { id, completed } = await runClaude(client, { prompt: 'echo then-think' })
    const statuses = client.frames.filter((f) => f.method === 'process.status' && f.params.execution_id === id)
    assert.ok(statuses.length >= 2, `statuses while the model was silent: ${statuses.length}`)
    assert.ok(statuses.every((s) => s.params.inactive_seconds >= 1))
    assert.match(statuses.at(-1)!.params.message, /no output for \ds; Claude is thinking/)
    assert.equal(completed.status, 'completed')
    await client.close()
  })

  test('cancel during a long Bash tool call ends the task and the tool\'s processes, in their own session too', async () => {
    ctx.setScript(runThenReport)
    const client = await TestClient.open(ctx.server.wsUrl)
    // A duration of this run's own: a sleep some earlier, failed run left behind is not taken for this one.
    const sleep = `sleep ${600 + Math.floor(Math.random() * 10_000)}`
    const reply = await client.request('claude', { prompt: `${sleep}; echo never` })
    const id = reply.result.execution_id
    const toolUse = await client.waitFor((f) => f.method === 'claude.event' && f.params.execution_id === id && f.params.kind === 'tool_use', TASK_TIMEOUT)
    await eventually(() => processesRunning(sleep).length === 1, 10_000, 'the tool\'s sleep runs')
    const [sleeper] = processesRunning(sleep)
    // A status from before the call (a slow start of Claude Code) says nothing of the tool: the first one after it.
    const after = client.frames.indexOf(toolUse)
    const status = await client.waitFor((f) => f.method === 'process.status' && f.params.execution_id === id && client.frames.indexOf(f) > after, 10_000)
    assert.match(status.params.message, /tool in use: Bash/)
    assert.equal((await client.request('control', { type: 'CANCEL' })).result.status, 'canceled')
    const completed = (await client.completion(id, TASK_TIMEOUT)).params
    assert.equal(completed.status, 'canceled')
    assert.match(completed.claude.session_id, /^[0-9a-f-]{36}$/, 'the session id from init is kept')
    assert.equal(completed.claude.is_error, true)
    // Gone, or a zombie its init has yet to reap: it runs no more.
    assert.ok([undefined, 'Z'].includes(processState(sleeper)), 'the tool\'s sleep (in a session of its own) is gone when the completion comes')
    await client.close()
  })

  test('continue resumes the session of an earlier execution, resume a session id; both keep the session id', async () => {
    ctx.setScript(runThenReport)
    const client = await TestClient.open(ctx.server.wsUrl)
    const first = await runClaude(client, { prompt: 'echo first' })
    const session = first.completed.claude.session_id
    const second = await runClaude(client, { prompt: 'echo second', continue: first.id })
    assert.equal(second.completed.status, 'completed')
    assert.equal(second.claude[0].session_id, session)
    assert.equal(second.completed.claude.session_id, session)
    assert.ok(ctx.api.requests.at(-1)!.toolResults.length > 0)
    const response = await post(`${ctx.server.url}/v1/claude`, { prompt: 'echo third', resume: session })
    assert.equal(response.status, 200)
    const events = await readNdjson(response)
    const completion = events.at(-1)!
    assert.equal(completion.method, 'process.completed')
    assert.equal(completion.params.status, 'completed')
    assert.equal(completion.params.claude.session_id, session)
    assert.ok(events.some((e) => e.method === 'claude.event' && e.params.kind === 'tool_result' && e.params.content === 'third'))
    await client.close()
  })

  test('continue of a task started with a cwd runs in that cwd and resumes its session there', async () => {
    ctx.setScript(runThenReport)
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'cc-claude-cwd-')))
    const client = await TestClient.open(ctx.server.wsUrl)
    try {
      const first = await runClaude(client, { prompt: 'echo in-a-cwd', cwd: dir })
      assert.equal(first.completed.status, 'completed', first.completed.reason)
      assert.equal((await client.request('status', { execution_id: first.id })).result.cwd, dir)
      const second = await runClaude(client, { prompt: 'pwd', continue: first.id })
      assert.equal(second.completed.status, 'completed', second.completed.reason)
      assert.equal(second.completed.claude.session_id, first.completed.claude.session_id)
      assert.equal(second.claude.find((e) => e.kind === 'tool_result').content, dir)
    } finally {
      await client.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('verify: true for a finished task, false naming the check once Claude\'s transcript is removed', async () => {
    ctx.setScript(runThenReport)
    const response = await post(`${ctx.server.url}/v1/claude`, { prompt: 'echo verify-me', detach: true })
    assert.equal(response.status, 202)
    const { execution_id } = await response.json()
    let record: Record<string, any> = {}
    for (let i = 0; i < 300 && record.state !== 'exited'; i += 1) {
      record = await (await fetch(`${ctx.server.url}/v1/executions/${execution_id}`)).json()
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(record.status, 'completed')
    const good = await (await fetch(`${ctx.server.url}/v1/executions/${execution_id}/verify`)).json()
    assert.equal(good.verified, true, JSON.stringify(good))
    assert.deepEqual(good.checks.map((c: { name: string }) => c.name), ['completed', 'transcript', 'transcript_sha256', 'claude_transcript', 'tool_results', 'result'])
    assert.ok(record.claude_transcript.startsWith(ctx.home.configDir))
    rmSync(record.claude_transcript)
    const client = await TestClient.open(ctx.server.wsUrl)
    const bad = (await client.request('verify', { execution_id })).result
    assert.equal(bad.verified, false)
    const failed = bad.checks.find((c: { ok: boolean }) => !c.ok)
    assert.equal(failed.name, 'claude_transcript')
    assert.match(failed.detail, /missing/)
    await client.close()
  })

  test('verify finds Claude\'s transcript of a task whose cwd is a symlink, or a path of over 200 characters', async () => {
    ctx.setScript(runThenReport)
    const base = realpathSync(mkdtempSync(join(tmpdir(), 'cc-claude-paths-')))
    const target = join(base, 'target')
    mkdirSync(target)
    const link = join(base, 'link')
    symlinkSync(target, link)
    // Claude Code cuts a slug of more than 200 characters and adds a hash of the path.
    const long = join(base, 'd'.repeat(120), 'e'.repeat(120))
    mkdirSync(long, { recursive: true })
    const client = await TestClient.open(ctx.server.wsUrl)
    try {
      for (const cwd of [link, long]) {
        const { id, completed } = await runClaude(client, { prompt: 'pwd', cwd })
        assert.equal(completed.status, 'completed', completed.reason)
        const record = (await client.request('status', { execution_id: id })).result
        assert.ok(existsSync(record.claude_transcript), `the recorded path is Claude Code's: ${record.claude_transcript}`)
        const verified = (await client.request('verify', { execution_id: id })).result
        assert.equal(verified.verified, true, JSON.stringify(verified))
      }
    } finally {
      await client.close()
      rmSync(base, { recursive: true, force: true })
    }
  })

  for (const transport of ['ws', 'http'] as const) {
    test(`the typed client runs a Claude task and verifies it (${transport})`, async () => {
      ctx.setScript(runThenReport)
      const client = new ExecutorClient({ url: ctx.server.url, transport, WebSocket: WebSocket as unknown as WebSocketConstructor })
      try {
        const run = await client.claude({ prompt: `echo typed-${transport}`, max_turns: 4 })
        const kinds: string[] = []
        for await (const event of run) if (event.method === 'claude.event') kinds.push(String(event.params.kind))
        const completed = await run.completed
        assert.deepEqual(kinds, ['init', 'text', 'tool_use', 'tool_result', 'text', 'result'])
        assert.equal(completed.status, 'completed')
        assert.equal(completed.claude?.result, `The command printed: typed-${transport}`)
        const verified = await client.verify(run.id)
        assert.equal(verified.verified, true, JSON.stringify(verified))
      } finally {
        await client.close()
      }
    })
  }

  test('bad input gets a clear JSON-RPC error, nothing is spawned, and the session goes on', async () => {
    const client = await TestClient.open(ctx.server.wsUrl)
    const before = (await client.request('list', {})).result.executions.length
    const cases: [unknown, RegExp][] = [
      [{}, /prompt/],
      [{ prompt: 42 }, /prompt must be a string/],
      [{ prompt: '' }, /prompt must not be empty/],
      [{ prompt: 'hi', max_turns: 'many' }, /max_turns/],
      [{ prompt: 'hi', allowed_tools: 'Bash' }, /allowed_tools/],
      [{ prompt: 'hi', resume: 'abc; rm -rf /' }, /resume must be a Claude session id/],
      [{ prompt: 'hi', resume: 'a', continue: 'b' }, /not both/],
      [{ prompt: 'hi', maxTurns: 3 }, /maxTurns/],
      [{ prompt: 'hi', continue: 'no-such-execution' }, /No execution/],
      // Each becomes one argument of Claude Code, which Linux takes up to 131,071 bytes (UTF-8).
      [{ prompt: 'x'.repeat(131_072) }, /prompt must be at most 131071 bytes in UTF-8/],
      [{ prompt: '€'.repeat(50_000) }, /prompt must be at most 131071 bytes/],
      [{ prompt: 'hi', append_system_prompt: '€'.repeat(50_000) }, /append_system_prompt must be at most 131071 bytes/],
      [{ prompt: 'hi', mcp_config: { mcpServers: { x: { command: '€'.repeat(50_000) } } } }, /mcp_config must be at most 131071 bytes as JSON/],
      [{ prompt: 'hi', mcp_config: [1] }, /mcp_config must be an object/],
    ]
    for (const [params, message] of cases) {
      const reply = await client.request('claude', params)
      assert.ok(reply.error, `an error for ${JSON.stringify(params)}`)
      assert.ok([-32602, -32002].includes(reply.error.code), `code for ${JSON.stringify(params)}: ${reply.error.code}`)
      assert.match(reply.error.message, message)
    }
    const bad = await post(`${ctx.server.url}/v1/claude`, { prompt: ['x'] })
    assert.equal(bad.status, 400)
    assert.equal((await bad.json()).error.code, -32602)
    assert.equal((await client.request('list', {})).result.executions.length, before, 'nothing was started')
    assert.ok((await client.request('ping')).result.pong > 0)
    await client.close()
  })
})

describe('Claude tasks that fail', () => {
  test('a 401 from the API is an is_error result: the task completes as failed, saying why', async () => {
    const ctx = await startClaudeServer()
    try {
      ctx.setScript(() => ({ status: 401, errorType: 'authentication_error', message: 'invalid x-api-key' }))
      const client = await TestClient.open(ctx.server.wsUrl)
      const { completed, claude } = await runClaude(client, { prompt: 'echo never' })
      assert.equal(completed.status, 'failed')
      assert.equal(completed.claude.is_error, true)
      assert.match(completed.reason, /^Claude reported an error: .*API key/)
      assert.ok(claude.some((e) => e.kind === 'result' && e.is_error === true))
      await client.close()
    } finally {
      await ctx.close()
    }
  })

  test('a missing CLAUDE_BIN is a -32603 error naming the setting, and the session goes on', async () => {
    const server = await startServer({ CLAUDE_BIN: '/nonexistent/claude-code' })
    try {
      const client = await TestClient.open(server.wsUrl)
      const reply = await client.request('claude', { prompt: 'hello' })
      assert.equal(reply.error?.code, -32603)
      assert.match(reply.error!.message, /CLAUDE_BIN=\/nonexistent\/claude-code/)
      assert.equal((await client.request('list', {})).result.executions.length, 0)
      const ok = await client.run({ command: 'echo still here' })
      assert.equal(ok.stdout, 'still here\n')
      await client.close()
    } finally {
      await server.stop()
    }
  })

  test('a prompt of 131,071 bytes reaches Claude Code whole; arguments too large together are -32602 E2BIG, not blamed on CLAUDE_BIN', async () => {
    // A stand-in CLI: its result is the byte count of its last argument, the prompt.
    const dir = mkdtempSync(join(tmpdir(), 'cc-claude-args-'))
    const bin = join(dir, 'claude-args')
    writeFileSync(bin, `#!/bin/sh\nfor a; do last="$a"; done\nn=$(printf %s "$last" | wc -c)\nprintf '{"type":"result","subtype":"success","is_error":false,"result":"%s","session_id":"s-1"}\\n' $n\n`)
    chmodSync(bin, 0o755)
    const server = await startServer({ CLAUDE_BIN: bin })
    try {
      const client = await TestClient.open(server.wsUrl)
      const { completed } = await runClaude(client, { prompt: 'x'.repeat(131_071) })
      assert.equal(completed.status, 'completed', completed.reason)
      assert.equal(completed.claude.result, '131071')
      // Each fits, together they pass the system's ARG_MAX (2 MiB).
      const big = 'x'.repeat(131_071)
      const reply = await client.request('claude', { prompt: big, append_system_prompt: big, env: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`BIG_${i}`, big.slice(10)])) })
      assert.equal(reply.error?.code, -32602, reply.error?.message)
      assert.equal((reply.error?.data as { cause: string }).cause, 'E2BIG')
      assert.doesNotMatch(reply.error!.message, /CLAUDE_BIN/)
      await client.close()
    } finally {
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('the allow-list applies to the Claude Code binary', async () => {
    const server = await startServer({ CLAUDE_BIN, ALLOWED_COMMANDS: 'echo' })
    try {
      const client = await TestClient.open(server.wsUrl)
      const reply = await client.request('claude', { prompt: 'hello' })
      assert.equal(reply.error?.code, -32001)
      await client.close()
    } finally {
      await server.stop()
    }
  })
})

describe('the seed-000 bridge dialect at /ws/claude', () => {
  let ctx: ClaudeServer
  before(async () => {
    ctx = await startClaudeServer({ BRIDGE_HEARTBEAT_INTERVAL: '0.5' })
  })
  after(async () => {
    await ctx.close()
  })

  const bridgeUrl = () => ctx.server.wsUrl.replace('/ws/mcp', '/ws/claude')

  test('connected, output of assistant text and tool results, RUNNING heartbeats, then COMPLETED', async () => {
    ctx.setScript((r) => (r.toolResults.length > 0 ? { blocks: [{ type: 'text', text: 'bridge says done' }], delayMs: 1200 } : runThenReport(r)))
    const client = await TestClient.connect(bridgeUrl())
    const connected = await client.waitFor(() => true)
    assert.equal(connected.method, 'connected')
    assert.match(connected.params.sessionId, /^[0-9a-f-]{36}$/)
    client.sendRaw(JSON.stringify({ jsonrpc: '2.0', method: 'execute', params: { command: 'echo via-bridge' }, id: 7 }))
    const second = await client.request('execute', { command: 'echo second' })
    assert.deepEqual(second.error, { code: -32000, message: 'A task is already running' })
    const done = await client.waitFor((f) => f.method === 'statusUpdate' && f.params.status !== 'RUNNING', TASK_TIMEOUT)
    assert.equal(done.params.status, 'COMPLETED')
    assert.equal(done.id, 7)
    const outputs = client.frames.filter((f: Frame) => f.method === 'output').map((f) => f.params)
    assert.deepEqual(outputs, [
      { type: 'stdout', content: 'I will run it.' },
      { type: 'stdout', content: 'via-bridge' },
      { type: 'stdout', content: 'bridge says done' },
    ])
    assert.ok(client.frames.some((f) => f.method === 'statusUpdate' && f.params.status === 'RUNNING'), 'a RUNNING heartbeat while the model was silent')
    const unknown = await client.request('status', {})
    assert.deepEqual(unknown.error, { code: -32000, message: 'Unknown method' })
    await client.close()
  })

  test('an API error ends in an error frame and FAILED; a missing command is an error', async () => {
    ctx.setScript(() => ({ status: 401, errorType: 'authentication_error', message: 'invalid x-api-key' }))
    const client = await TestClient.connect(bridgeUrl())
    await client.waitFor((f) => f.method === 'connected')
    const missing = await client.request('execute', {})
    assert.deepEqual(missing.error, { code: -32000, message: "Missing 'command' parameter" })
    client.sendRaw(JSON.stringify({ jsonrpc: '2.0', method: 'execute', params: { command: 'echo x' } }))
    const failed = await client.waitFor((f) => f.method === 'statusUpdate' && f.params.status === 'FAILED', TASK_TIMEOUT)
    assert.equal(failed.id, null)
    const error = client.frames.find((f) => f.error && f.id === null)
    assert.match(error!.error!.message, /API key/)
    await client.close()
  })

  test('a connection that closes while its task is starting still cancels it', async () => {
    ctx.setScript(runThenReport)
    const client = await TestClient.connect(bridgeUrl())
    await client.waitFor((f) => f.method === 'connected')
    // The execute and the close reach the server together: the close lands while the task starts.
    client.sendRaw(JSON.stringify({ jsonrpc: '2.0', method: 'execute', params: { command: 'sleep 619' } }))
    client.ws.terminate()
    const ws = await TestClient.open(ctx.server.wsUrl)
    try {
      let record: { status: string } | undefined
      for (let i = 0; i < 200 && record?.status !== 'canceled'; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        record = (await ws.request('list', {})).result.executions.find((r: { command: string }) => r.command.endsWith("'sleep 619'"))
      }
      assert.equal(record?.status, 'canceled')
      await new Promise((resolve) => setTimeout(resolve, 1000))
      assert.deepEqual(processesRunning('sleep 619'), [], 'nothing of the task runs on')
    } finally {
      await ws.close()
    }
  })

  test('closing the connection cancels the task and its tool processes', async () => {
    ctx.setScript(runThenReport)
    const client = await TestClient.connect(bridgeUrl())
    await client.waitFor((f) => f.method === 'connected')
    client.sendRaw(JSON.stringify({ jsonrpc: '2.0', method: 'execute', params: { command: 'sleep 617' } }))
    await eventually(() => processesRunning('sleep 617').length === 1, TASK_TIMEOUT, 'the tool runs')
    await client.close()
    await eventually(() => processesRunning('sleep 617').length === 0, 10_000, 'the tool is gone')
  })
})
