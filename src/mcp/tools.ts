/**
 * @module mcp/tools — the MCP tools over the execution registry: `execute` and `claude` run to
 * completion (with progress notifications, cancelled by `notifications/cancelled`), `start` returns
 * at once, and `status`, `output`, `control`, `input`, `list`, `verify` address an execution by id.
 * Each tool calls the registry exactly as a WebSocket or HTTP request does; an executor's refusal
 * (not allowed, no such execution, a limit) is a tool result with `isError: true`, never a crash.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import {
  CallToolRequestSchema,
  ErrorCode as McpErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js'
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js'
import { toJsonSchema } from '@valibot/to-json-schema'
import * as v from 'valibot'
import { ClaudeParams } from '../claude/params.ts'
import type { Execution, ExecutionRegistry, StartOptions, Subscriber } from '../executions/registry.ts'
import { RpcError } from '../protocol/errors.ts'
import { ControlType, ExecuteParams, ListParams, parseParams, type CompletedParams, type ExecutionEvent } from '../protocol/schemas.ts'

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>

/** Characters of each stream's tail a finished `execute` returns. */
export const TAIL_CHARS = 64 * 1024
/** Least time between two progress notifications of one call. */
const PROGRESS_EVERY_MS = 250
const MESSAGE_CHARS = 200

/*
 * Each tool's input as a valibot object: listed to clients as its JSON Schema, and checked before
 * the tool runs. These describe the arguments for a model; the tools then parse them with the wire
 * schemas (ExecuteParams, ClaudeParams...), exactly as a WebSocket or HTTP request is parsed.
 */
const described = <S extends v.GenericSchema>(schema: S, description: string) => v.pipe(schema, v.description(description))
const seconds = v.pipe(v.number(), v.gtValue(0), v.maxValue(2_147_483))
const idField = { execution_id: described(v.pipe(v.string(), v.minLength(1)), 'The execution id returned by start, execute or list.') }
const CommandInput = v.object({
  command: v.optional(described(v.pipe(v.string(), v.minLength(1)), 'A shell command line, run by bash -c. Give this or argv.')),
  argv: v.optional(described(v.pipe(v.array(v.string()), v.minLength(1)), 'A program and its arguments, run without a shell. Give this or command.')),
  cwd: v.optional(described(v.pipe(v.string(), v.minLength(1)), 'Working directory on the server.')),
  env: v.optional(described(v.record(v.string(), v.string()), "Environment variables, merged over the server's.")),
  timeout: v.optional(described(seconds, 'Wall-clock limit in seconds; then the process group is terminated.')),
  idle_timeout: v.optional(described(seconds, 'Terminate after this many seconds without output.')),
  stdin: v.optional(described(v.string(), '"pipe" keeps stdin open for the input tool; any other text is written to stdin, then closed. Default: closed.')),
  label: v.optional(described(v.string(), 'A label to group executions by (per-label success counts).')),
})
const IdInput = v.object(idField)
const OutputInput = v.object({
  ...idField,
  after_seq: v.optional(described(v.pipe(v.number(), v.safeInteger(), v.minValue(0)), 'Read events after this seq (default 0).')),
  max_bytes: v.optional(described(v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(1_048_576)), 'About how much output to return (default 65536).')),
})
const ControlInput = v.object({ ...idField, type: v.picklist(['CANCEL', 'PAUSE', 'RESUME', 'INTERRUPT', 'KILL']) })
const InputInput = v.object({ ...idField, data: v.pipe(v.string(), v.maxLength(1_048_576)), eof: v.optional(v.boolean()) })
// The list's filter is the protocol's (ListParams: its label and status checks), described for a model.
const ListInput = v.object({
  label: described(ListParams.entries.label, 'Only the executions with this label.'),
  status: described(ListParams.entries.status, "Only the executions with this status (a record's status: running, paused, or how it completed)."),
})
const ClaudeInput = v.object({
  prompt: v.pipe(v.string(), v.minLength(1)),
  model: v.optional(v.string()),
  max_turns: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1))),
  resume: v.optional(described(v.string(), 'A Claude session id to continue.')),
  allowed_tools: v.optional(described(v.array(v.string()), 'Tools Claude may use without asking, e.g. ["Bash", "Read"].')),
  cwd: v.optional(v.string()),
  timeout: v.optional(seconds),
  label: v.optional(v.string()),
})

type ToolInput = v.ObjectSchema<v.ObjectEntries, undefined>
type ToolRun<S extends ToolInput> = (args: v.InferOutput<S>, extra: Extra) => Promise<CallToolResult>

/** A tool call refused before it ran, worded as the MCP SDK words its own refusals (`MCP error -32602: …`). */
const refusal = (message: string): CallToolResult => ({ content: [text(new McpError(McpErrorCode.InvalidParams, message).message)], isError: true })

const issuesOf = (issues: v.BaseIssue<unknown>[]) =>
  issues.map((issue) => (v.getDotPath(issue) ? `${issue.message} at ${v.getDotPath(issue)}` : issue.message)).join('; ')

/**
 * The tools of one session's server, on the SDK's low-level request handlers: tools/list lists
 * each with its input's JSON Schema; tools/call checks the arguments against that input, and a
 * refusal (unknown tool, invalid arguments) is a tool result with isError, as with registerTool.
 */
function toolTable(server: McpServer, calls: CallObserver) {
  const tools = new Map<string, { listed: Tool; input: ToolInput; run: ToolRun<ToolInput> }>()
  server.server.registerCapabilities({ tools: {} })
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [...tools.values()].map((tool) => tool.listed) }))
  server.server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name } = request.params
    const tool = tools.get(name)
    if (!tool) return refusal(`Tool ${name} not found`)
    const parsed = v.safeParse(tool.input, request.params.arguments ?? {})
    if (!parsed.success) return refusal(`Input validation error: Invalid arguments for tool ${name}: ${issuesOf(parsed.issues)}`)
    calls.started()
    try {
      return await tool.run(parsed.output, extra)
    } finally {
      calls.ended()
    }
  })
  return <S extends ToolInput>(name: string, { inputSchema, ...about }: { title: string; description: string; inputSchema: S }, run: ToolRun<S>): void => {
    const listed = { name, ...about, inputSchema: toJsonSchema(inputSchema) as Tool['inputSchema'] }
    tools.set(name, { listed, input: inputSchema, run: run as ToolRun<ToolInput> })
  }
}

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
    const cancel = () => void execution.handle.control('CANCEL', 'canceled: the MCP tool call was aborted').catch(() => {})
    if (extra.signal.aborted) cancel()
    else extra.signal.addEventListener('abort', cancel, { once: true })
    execution.subscribe(subscriber, 0)
    execution.open()
  })
}

function summary(c: CompletedParams): string {
  return `status: ${c.status} · exit_code: ${c.exit_code ?? 'none'}${c.signal ? ` · signal: ${c.signal}` : ''} · ${c.execution_time.toFixed(2)} s · execution_id: ${c.execution_id}\nreason: ${c.reason}`
}

/** Told when a tool call starts running and when it has ended, however it ended. */
export interface CallObserver {
  started(): void
  ended(): void
}

export interface ToolsOptions {
  registry: ExecutionRegistry
  /** Who starts executions here: the token id, for per-token limits and the audit log. */
  tokenId: string | null
  /** Sees each call in flight (a session running one is in use, however long it takes). */
  calls: CallObserver
}

/** Registers the tools on one MCP session's server. */
export function registerTools(server: McpServer, { registry, tokenId, calls }: ToolsOptions): void {
  const startOptions = (detached: boolean): StartOptions => ({ detached, startedBy: 'mcp', tokenId })
  const lookup = (id: string) => registry.find(id)
  const registerTool = toolTable(server, calls)

  registerTool(
    'execute',
    {
      title: 'Run a command to completion',
      description:
        'Run a shell command (or argv) on the cc-executor server and wait until it ends. Returns exit code, status, duration, execution_id and the last 64 KiB of stdout and stderr. ' +
        'For anything that may outlast your tool-call timeout, use start and then poll output and status.',
      inputSchema: CommandInput,
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

  registerTool(
    'start',
    {
      title: 'Start a command in the background',
      description: 'Start a command on the cc-executor server and return its execution_id at once; it runs until it ends by itself. Poll it with output and status, stop it with control.',
      inputSchema: CommandInput,
    },
    (args) =>
      guarded(async () => {
        const execution = await registry.start(parseParams(ExecuteParams, args), startOptions(true))
        execution.open()
        const { id, pid } = execution.handle
        return { content: [text(`started: execution_id ${id} (pid ${pid})`)], structuredContent: { execution_id: id, pid, status: 'started' } }
      }),
  )

  registerTool(
    'status',
    { title: 'An execution\'s state', description: 'The record of one execution: state, status, exit code, reason, times, byte counts; for a Claude task its summary.', inputSchema: IdInput },
    ({ execution_id }) =>
      guarded(async () => {
        const record = (await lookup(execution_id)).record()
        return { content: [text(JSON.stringify(record, null, 2))], structuredContent: record as unknown as Record<string, unknown> }
      }),
  )

  registerTool(
    'output',
    {
      title: 'Read an execution\'s output',
      description:
        'Output of an execution after after_seq (default 0: from the start), at most about max_bytes characters. Returns the text and next_seq: pass next_seq as after_seq to read on. done is true once the execution has ended and everything was read.',
      inputSchema: OutputInput,
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

  registerTool(
    'control',
    {
      title: 'Pause, resume, cancel or interrupt an execution',
      description: 'Send a signal to an execution\'s whole process group: PAUSE (SIGSTOP), RESUME (SIGCONT), CANCEL (SIGTERM, then SIGKILL), INTERRUPT (SIGINT), KILL (SIGKILL).',
      inputSchema: ControlInput,
    },
    ({ execution_id, type }) =>
      guarded(async () => {
        const result: { status: string; message?: string } = await registry.control(execution_id, parseParams(ControlType, type))
        return { content: [text(result.message ? `${result.status}: ${result.message}` : result.status)], structuredContent: result }
      }),
  )

  registerTool(
    'input',
    {
      title: 'Write to an execution\'s stdin',
      description: 'Write text to the stdin of an execution started with stdin "pipe"; eof: true closes it afterwards.',
      inputSchema: InputInput,
    },
    ({ execution_id, data, eof = false }) =>
      guarded(async () => {
        const result = await (await lookup(execution_id)).running().write(data, eof)
        return { content: [text(`written: ${result.written} bytes`)], structuredContent: result }
      }),
  )

  registerTool(
    'list',
    {
      title: 'List executions',
      description: 'The executions this server knows (the newest 100, of those with the label and status asked for, if any), oldest first, one line each.',
      inputSchema: ListInput,
    },
    ({ label, status }) =>
      guarded(async () => {
        const { executions: records, unavailable } = await registry.listAll(100, { label, status })
        const lines = records.map((r) => `${r.id}  ${r.status}  exit ${r.exit_code ?? '-'}  ${r.kind}  ${r.command.slice(0, 80)}`)
        if (unavailable?.length) lines.push(`unavailable (not listed): ${unavailable.join(', ')}`)
        return { content: [text(lines.join('\n') || 'no executions')], structuredContent: { executions: records, ...(unavailable ? { unavailable } : {}) } }
      }),
  )

  registerTool(
    'verify',
    {
      title: 'Verify an execution\'s output',
      description: 'Check that the recorded output is exactly what the process printed (transcript hash), and for a Claude task that Claude Code\'s own transcript holds every tool result and the final result.',
      inputSchema: IdInput,
    },
    ({ execution_id }) =>
      guarded(async () => {
        const result = await registry.verify(execution_id)
        const lines = result.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`)
        return { content: [text(`${result.verified ? 'verified' : 'NOT verified'}\n${lines.join('\n')}`)], structuredContent: result as unknown as Record<string, unknown>, isError: !result.verified }
      }),
  )

  registerTool(
    'claude',
    {
      title: 'Run a Claude Code task',
      description:
        'Run Claude Code headless on the server with this prompt and wait until it ends. Returns the result text, session_id (pass it as resume to continue the conversation), num_turns, cost and is_error.',
      inputSchema: ClaudeInput,
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
