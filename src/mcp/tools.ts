/**
 * @module mcp/tools — the MCP tools over the execution registry: `execute` and `claude` run to
 * completion (with progress notifications, cancelled by `notifications/cancelled`), `start` returns
 * at once, and `status`, `output`, `control`, `input`, `list`, `verify` address an execution by id.
 * Each tool calls the registry exactly as a WebSocket or HTTP request does; an executor's refusal
 * (not allowed, no such execution, a limit) is a tool result with `isError: true`, never a crash.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js'
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js'
import * as z from 'zod'
import { ClaudeParams } from '../claude/params.ts'
import type { Execution, ExecutionRegistry, StartOptions, Subscriber } from '../executions/registry.ts'
import { RpcError } from '../protocol/errors.ts'
import { ControlType, ExecuteParams, parseParams, type CompletedParams, type ExecutionEvent } from '../protocol/schemas.ts'

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>

/** Characters of each stream's tail a finished `execute` returns. */
export const TAIL_CHARS = 64 * 1024
/** Least time between two progress notifications of one call. */
const PROGRESS_EVERY_MS = 250
const MESSAGE_CHARS = 200

const seconds = z.number().positive().max(2_147_483)
const commandFields = {
  command: z.string().min(1).optional().describe('A shell command line, run by bash -c. Give this or argv.'),
  argv: z.array(z.string()).min(1).optional().describe('A program and its arguments, run without a shell. Give this or command.'),
  cwd: z.string().min(1).optional().describe('Working directory on the server.'),
  env: z.record(z.string(), z.string()).optional().describe('Environment variables, merged over the server\'s.'),
  timeout: seconds.optional().describe('Wall-clock limit in seconds; then the process group is terminated.'),
  idle_timeout: seconds.optional().describe('Terminate after this many seconds without output.'),
  stdin: z.string().optional().describe('"pipe" keeps stdin open for the input tool; any other text is written to stdin, then closed. Default: closed.'),
  label: z.string().optional().describe('A label to group executions by (per-label success counts).'),
}
const idField = { execution_id: z.string().min(1).describe('The execution id returned by start, execute or list.') }

const text = (value: string): CallToolResult['content'][number] => ({ type: 'text', text: value })

/** A refusal or failure as the tool result a model can read. */
function failure(error: unknown): CallToolResult {
  const message = error instanceof RpcError ? `${error.message} (code ${error.code})` : `Internal error: ${String(error)}`
  return { content: [text(message)], isError: true }
}

async function guarded(work: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await work()
  } catch (error) {
    return failure(error)
  }
}

/** The last `limit` characters of a stream, and how many came before them. */
class Tail {
  #parts: string[] = []
  #chars = 0
  #cut = 0
  push(data: string): void {
    this.#parts.push(data)
    this.#chars += data.length
    if (this.#chars > 2 * TAIL_CHARS) this.#trim()
  }
  get cut(): number {
    this.#trim()
    return this.#cut
  }
  toString(): string {
    this.#trim()
    return this.#parts.join('')
  }
  #trim(): void {
    if (this.#chars <= TAIL_CHARS) return
    const all = this.#parts.join('')
    const drop = all.length - TAIL_CHARS
    this.#cut += drop
    this.#parts = [all.slice(drop)]
    this.#chars = TAIL_CHARS
  }
}

/** The progress a long call reports, throttled; the message is the latest line of output (or what Claude does). */
function progressOf(extra: Extra): (message: string) => void {
  const token = extra._meta?.progressToken
  if (token === undefined) return () => {}
  let progress = 0
  let last = 0
  let pending: string | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  const send = () => {
    timer = undefined
    if (pending === undefined || extra.signal.aborted) return
    progress += 1
    last = Date.now()
    const message = pending
    pending = undefined
    void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, message } }).catch(() => {})
  }
  return (message) => {
    const line = message.trim().split('\n').at(-1)?.slice(0, MESSAGE_CHARS)
    if (!line) return
    pending = line
    if (timer) return
    const wait = PROGRESS_EVERY_MS - (Date.now() - last)
    if (wait <= 0) send()
    else timer = setTimeout(send, wait)
  }
}

/** Follows a just-started execution to its completion; `onEvent` sees every event. CANCEL when the call is cancelled. */
function follow(execution: Execution, extra: Extra, onEvent: (event: ExecutionEvent) => void): Promise<CompletedParams> {
  return new Promise((resolve) => {
    const subscriber: Subscriber = {
      deliver(event) {
        onEvent(event)
        if (event.method === 'process.completed') resolve(event.params)
      },
      notify() {},
    }
    const cancel = () => void execution.handle.control('CANCEL').catch(() => {})
    if (extra.signal.aborted) cancel()
    else extra.signal.addEventListener('abort', cancel, { once: true })
    execution.subscribe(subscriber, 0)
    execution.open()
  })
}

function summary(c: CompletedParams): string {
  return `status: ${c.status} · exit_code: ${c.exit_code ?? 'none'}${c.signal ? ` · signal: ${c.signal}` : ''} · ${c.execution_time.toFixed(2)} s · execution_id: ${c.execution_id}\nreason: ${c.reason}`
}

export interface ToolsOptions {
  registry: ExecutionRegistry
  /** Who starts executions here: the token id, for per-token limits and the audit log. */
  tokenId: string | null
}

/** Registers the tools on one MCP session's server. */
export function registerTools(server: McpServer, { registry, tokenId }: ToolsOptions): void {
  const startOptions = (detached: boolean): StartOptions => ({ detached, startedBy: 'mcp', tokenId })
  const lookup = (id: string) => registry.find(id)

  server.registerTool(
    'execute',
    {
      title: 'Run a command to completion',
      description:
        'Run a shell command (or argv) on the cc-executor server and wait until it ends. Returns exit code, status, duration, execution_id and the last 64 KiB of stdout and stderr. ' +
        'For anything that may outlast your tool-call timeout, use start and then poll output and status.',
      inputSchema: commandFields,
    },
    (args, extra) =>
      guarded(async () => {
        const params = parseParams(ExecuteParams, args)
        const execution = await registry.start(params, startOptions(false))
        const tails = { stdout: new Tail(), stderr: new Tail() }
        const progress = progressOf(extra)
        const c = await follow(execution, extra, (event) => {
          if (event.method !== 'process.output') return
          tails[event.params.type].push(event.params.data)
          progress(event.params.data)
        })
        const stream = (name: 'stdout' | 'stderr') => {
          const cut = tails[name].cut
          return `--- ${name}${cut > 0 ? ` (last ${TAIL_CHARS} characters; ${cut} cut before them)` : ''} ---\n${tails[name]}`
        }
        return {
          content: [text(`${summary(c)}\n${stream('stdout')}\n${stream('stderr')}`)],
          structuredContent: {
            execution_id: c.execution_id,
            status: c.status,
            exit_code: c.exit_code,
            signal: c.signal,
            reason: c.reason,
            execution_time: c.execution_time,
            stdout: String(tails.stdout),
            stderr: String(tails.stderr),
            stdout_bytes: c.stdout_bytes,
            stderr_bytes: c.stderr_bytes,
            stdout_cut_chars: tails.stdout.cut,
            stderr_cut_chars: tails.stderr.cut,
          },
          isError: c.status !== 'completed',
        }
      }),
  )

  server.registerTool(
    'start',
    {
      title: 'Start a command in the background',
      description: 'Start a command on the cc-executor server and return its execution_id at once; it runs until it ends by itself. Poll it with output and status, stop it with control.',
      inputSchema: commandFields,
    },
    (args) =>
      guarded(async () => {
        const execution = await registry.start(parseParams(ExecuteParams, args), startOptions(true))
        execution.open()
        const { id, pid } = execution.handle
        return { content: [text(`started: execution_id ${id} (pid ${pid})`)], structuredContent: { execution_id: id, pid, status: 'started' } }
      }),
  )

  server.registerTool(
    'status',
    { title: 'An execution\'s state', description: 'The record of one execution: state, status, exit code, reason, times, byte counts; for a Claude task its summary.', inputSchema: idField },
    ({ execution_id }) =>
      guarded(async () => {
        const record = (await lookup(execution_id)).record()
        return { content: [text(JSON.stringify(record, null, 2))], structuredContent: record as unknown as Record<string, unknown> }
      }),
  )

  server.registerTool(
    'output',
    {
      title: 'Read an execution\'s output',
      description:
        'Output of an execution after after_seq (default 0: from the start), at most about max_bytes characters. Returns the text and next_seq: pass next_seq as after_seq to read on. done is true once the execution has ended and everything was read.',
      inputSchema: {
        ...idField,
        after_seq: z.number().int().min(0).optional().describe('Read events after this seq (default 0).'),
        max_bytes: z.number().int().min(1).max(1_048_576).optional().describe('About how much output to return (default 65536).'),
      },
    },
    ({ execution_id, after_seq = 0, max_bytes = 65_536 }) =>
      guarded(async () => {
        const execution = await lookup(execution_id)
        const { events, missing } = await execution.history(after_seq, max_bytes)
        const parts: string[] = []
        const streams = { stdout: [] as string[], stderr: [] as string[] }
        let next = after_seq
        let ended = false
        for (const event of events) {
          next = event.params.seq
          if (event.method === 'process.output') {
            parts.push(event.params.data)
            streams[event.params.type].push(event.params.data)
          } else if (event.method === 'process.completed') ended = true
        }
        const done = ended || (execution.ended && next >= execution.lastSeq)
        const note = missing > 0 ? `[${missing} earlier events are no longer kept]\n` : ''
        return {
          content: [text(`${note}${parts.join('')}${done ? '\n[the execution has ended]' : ''}`)],
          structuredContent: { execution_id, next_seq: next, done, missing_events: missing, stdout: streams.stdout.join(''), stderr: streams.stderr.join('') },
        }
      }),
  )

  server.registerTool(
    'control',
    {
      title: 'Pause, resume, cancel or interrupt an execution',
      description: 'Send a signal to an execution\'s whole process group: PAUSE (SIGSTOP), RESUME (SIGCONT), CANCEL (SIGTERM, then SIGKILL), INTERRUPT (SIGINT), KILL (SIGKILL).',
      inputSchema: { ...idField, type: z.enum(['CANCEL', 'PAUSE', 'RESUME', 'INTERRUPT', 'KILL']) },
    },
    ({ execution_id, type }) =>
      guarded(async () => {
        const result = await (await lookup(execution_id)).running().control(parseParams(ControlType, type))
        return { content: [text(result.status)], structuredContent: result }
      }),
  )

  server.registerTool(
    'input',
    {
      title: 'Write to an execution\'s stdin',
      description: 'Write text to the stdin of an execution started with stdin "pipe"; eof: true closes it afterwards.',
      inputSchema: { ...idField, data: z.string().max(1_048_576), eof: z.boolean().optional() },
    },
    ({ execution_id, data, eof = false }) =>
      guarded(async () => {
        const result = await (await lookup(execution_id)).running().write(data, eof)
        return { content: [text(`written: ${result.written} bytes`)], structuredContent: result }
      }),
  )

  server.registerTool(
    'list',
    { title: 'List executions', description: 'The executions this server knows (the newest 100), oldest first, one line each.', inputSchema: {} },
    () =>
      guarded(async () => {
        const { executions: records, unavailable } = await registry.listAll(100)
        const lines = records.map((r) => `${r.id}  ${r.status}  exit ${r.exit_code ?? '-'}  ${r.kind}  ${r.command.slice(0, 80)}`)
        if (unavailable?.length) lines.push(`unavailable (not listed): ${unavailable.join(', ')}`)
        return { content: [text(lines.join('\n') || 'no executions')], structuredContent: { executions: records, ...(unavailable ? { unavailable } : {}) } }
      }),
  )

  server.registerTool(
    'verify',
    {
      title: 'Verify an execution\'s output',
      description: 'Check that the recorded output is exactly what the process printed (transcript hash), and for a Claude task that Claude Code\'s own transcript holds every tool result and the final result.',
      inputSchema: idField,
    },
    ({ execution_id }) =>
      guarded(async () => {
        const result = await registry.verify(execution_id)
        const lines = result.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`)
        return { content: [text(`${result.verified ? 'verified' : 'NOT verified'}\n${lines.join('\n')}`)], structuredContent: result as unknown as Record<string, unknown>, isError: !result.verified }
      }),
  )

  server.registerTool(
    'claude',
    {
      title: 'Run a Claude Code task',
      description:
        'Run Claude Code headless on the server with this prompt and wait until it ends. Returns the result text, session_id (pass it as resume to continue the conversation), num_turns, cost and is_error.',
      inputSchema: {
        prompt: z.string().min(1),
        model: z.string().optional(),
        max_turns: z.number().int().min(1).optional(),
        resume: z.string().optional().describe('A Claude session id to continue.'),
        allowed_tools: z.array(z.string()).optional().describe('Tools Claude may use without asking, e.g. ["Bash", "Read"].'),
        cwd: z.string().optional(),
        timeout: seconds.optional(),
        label: z.string().optional(),
      },
    },
    (args, extra) =>
      guarded(async () => {
        const params = parseParams(ClaudeParams, args)
        const execution = await registry.startClaude(params, startOptions(false))
        const progress = progressOf(extra)
        const c = await follow(execution, extra, (event) => {
          if (event.method !== 'claude.event') return
          const e = event.params as Record<string, unknown>
          if (e.kind === 'text') progress(String(e.text))
          else if (e.kind === 'tool_use') progress(`tool: ${String(e.name)}`)
        })
        const claude = c.claude
        const cost = claude?.total_cost_usd
        const head = `status: ${c.status} · session_id: ${claude?.session_id ?? '-'} · turns: ${claude?.num_turns ?? '-'} · cost: ${cost === null || cost === undefined ? '-' : `$${cost.toFixed(4)}`} · execution_id: ${c.execution_id}`
        return {
          content: [text(`${claude?.result ?? c.reason}\n\n${head}`)],
          structuredContent: {
            execution_id: c.execution_id,
            status: c.status,
            reason: c.reason,
            result: claude?.result ?? null,
            session_id: claude?.session_id ?? null,
            num_turns: claude?.num_turns ?? null,
            total_cost_usd: claude?.total_cost_usd ?? null,
            is_error: claude?.is_error ?? true,
          },
          isError: c.status !== 'completed',
        }
      }),
  )
}
