/**
 * A scripted Anthropic Messages API on loopback, for running the real Claude Code CLI offline: it
 * answers `POST /v1/messages` with a streamed SSE message (message_start, content_block_start /
 * delta / stop, message_delta, message_stop) made from what the test's script returns for each
 * request, or with an HTTP error; `HEAD`/`GET` probes get 200. Not a mock of our code: the model is
 * the one thing that cannot run here.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT, startServer, type RunningServer } from './server.ts'

export type Block = { type: 'text'; text: string } | { type: 'tool_use'; name: string; input: Record<string, unknown> }
export type Reply =
  | { blocks: Block[]; delayMs?: number; /** ms between the stream's frames */ pauseMs?: number }
  | { status: number; errorType: string; message: string; retryAfter?: number }

export interface ApiRequest {
  /** 1 for the first request this API got, and so on. */
  n: number
  /** The text of the latest user message (system reminders left out). */
  prompt: string
  /** The tool results in the latest user message. */
  toolResults: { tool_use_id: string; content: string; is_error: boolean }[]
  model: string
}

export type Script = (request: ApiRequest) => Reply | Promise<Reply>

export interface MessagesApi {
  url: string
  requests: ApiRequest[]
  close(): Promise<void>
}

const text = (content: unknown): string =>
  typeof content === 'string' ? content : Array.isArray(content) ? content.map((b) => (b?.type === 'text' ? b.text : '')).join('') : ''

function describe(body: { model: string; messages: { role: string; content: unknown }[] }, n: number): ApiRequest {
  const users = body.messages.filter((m) => m.role === 'user')
  const last = users.at(-1)
  const blocks = Array.isArray(last?.content) ? (last.content as Record<string, unknown>[]) : [{ type: 'text', text: last?.content }]
  let prompt = ''
  for (const m of users) {
    const parts = Array.isArray(m.content) ? (m.content as Record<string, unknown>[]) : [{ type: 'text', text: m.content }]
    for (const b of parts) if (b.type === 'text' && typeof b.text === 'string' && !b.text.startsWith('<system-reminder>')) prompt = b.text
  }
  const toolResults = blocks
    .filter((b) => b.type === 'tool_result')
    .map((b) => ({ tool_use_id: String(b.tool_use_id), content: text(b.content), is_error: b.is_error === true }))
  return { n, prompt, toolResults, model: body.model }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function answer(reply: Reply, model: string, res: ServerResponse): Promise<void> {
  if ('status' in reply) {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (reply.retryAfter !== undefined) headers['retry-after'] = String(reply.retryAfter)
    res.writeHead(reply.status, headers)
    res.end(JSON.stringify({ type: 'error', error: { type: reply.errorType, message: reply.message } }))
    return
  }
  if (reply.delayMs) await sleep(reply.delayMs)
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  const send = async (type: string, data: Record<string, unknown>) => {
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`)
    if (reply.pauseMs) await sleep(reply.pauseMs)
  }
  const id = `msg_${crypto.randomUUID().replaceAll('-', '')}`
  await send('message_start', { message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1 } } })
  let index = 0
  for (const block of reply.blocks) {
    if (block.type === 'text') {
      await send('content_block_start', { index, content_block: { type: 'text', text: '' } })
      await send('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } })
    } else {
      const toolId = `toolu_${crypto.randomUUID().replaceAll('-', '').slice(0, 24)}`
      await send('content_block_start', { index, content_block: { type: 'tool_use', id: toolId, name: block.name, input: {} } })
      await send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } })
    }
    await send('content_block_stop', { index })
    index += 1
  }
  const toolUse = reply.blocks.some((b) => b.type === 'tool_use')
  await send('message_delta', { delta: { stop_reason: toolUse ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: 12 } })
  await send('message_stop', {})
  res.end()
}

/** Starts the scripted API on 127.0.0.1, port 0. */
export async function startMessagesApi(script: Script): Promise<MessagesApi> {
  const requests: ApiRequest[] = []
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let raw = ''
    for await (const chunk of req) raw += chunk
    if (req.method !== 'POST') return void res.writeHead(200).end()
    if (req.url?.startsWith('/v1/messages/count_tokens')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"input_tokens":10}')
    if (!req.url?.startsWith('/v1/messages')) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{}')
    const body = JSON.parse(raw)
    const request = describe(body, requests.length + 1)
    requests.push(request)
    try {
      await answer(await script(request), body.model, res)
    } catch (error) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: String(error) } }))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** The script of most tests: turn 1 runs the prompt's command with Bash, turn 2 says what it printed. */
export const runThenReport: Script = ({ prompt, toolResults }) =>
  toolResults.length > 0
    ? { blocks: [{ type: 'text', text: `The command printed: ${toolResults.map((r) => r.content).join('\n')}` }] }
    : { blocks: [{ type: 'text', text: 'I will run it.' }, { type: 'tool_use', name: 'Bash', input: { command: prompt, description: 'run the command' } }] }

/** The real Claude Code CLI, installed from npm (a pinned devDependency). */
export const CLAUDE_BIN = join(ROOT, 'node_modules', '.bin', 'claude')

/** Fails, saying what to install, where the pinned CLI is missing: a Claude test never skips for it. */
export function requireClaudeCli(): void {
  if (!existsSync(CLAUDE_BIN)) {
    throw new Error(`the Claude Code CLI is not installed at ${CLAUDE_BIN}: \`npm install\` installs it (devDependency @anthropic-ai/claude-code, with its platform binary as an optional dependency)`)
  }
}

/** A home of its own for one test's Claude Code: HOME, its config dir, and the env that points it at `api`. */
export function claudeHome(api: MessagesApi, { maxRetries = 0 }: { maxRetries?: number } = {}) {
  requireClaudeCli()
  const home = mkdtempSync(join(tmpdir(), 'cc-claude-home-'))
  const configDir = join(home, '.claude')
  mkdirSync(configDir, { recursive: true })
  // As root, --dangerously-skip-permissions is refused; the user's own settings allow Bash instead.
  writeFileSync(join(configDir, 'settings.json'), JSON.stringify({ permissions: { allow: ['Bash'] } }))
  const env: Record<string, string> = {
    HOME: home,
    CLAUDE_CONFIG_DIR: configDir,
    ANTHROPIC_BASE_URL: api.url,
    ANTHROPIC_API_KEY: 'sk-ant-test-offline',
    CLAUDE_CODE_MAX_RETRIES: String(maxRetries),
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
  }
  return { home, configDir, env, remove: () => rmSync(home, { recursive: true, force: true }) }
}

export interface ClaudeServer {
  api: MessagesApi
  home: ReturnType<typeof claudeHome>
  server: RunningServer
  /** Changes what the scripted model answers from now on. */
  setScript(script: Script): void
  close(): Promise<void>
}

/** The real Node server whose Claude Code (the pinned CLI) talks to a scripted API in a home of its own. */
export async function startClaudeServer(env: Record<string, string> = {}, maxRetries = 0, script: Script = runThenReport): Promise<ClaudeServer> {
  let current = script
  const api = await startMessagesApi((request) => current(request))
  const home = claudeHome(api, { maxRetries })
  const server = await startServer({ ...home.env, CLAUDE_BIN, ...env })
  return {
    api,
    home,
    server,
    setScript: (next) => (current = next),
    async close() {
      await server.stop()
      await api.close()
      home.remove()
    },
  }
}
