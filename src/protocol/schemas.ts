/**
 * @module protocol/schemas — the wire contract as valibot schemas: requests (client → server)
 * and notifications (server → client). Everything that crosses a socket is described here once.
 */
import * as v from 'valibot'
import { ErrorCode, RpcError } from './errors.ts'
import { RECORD_STATUSES } from './list-filter.ts'

/** The largest delay a timer can hold (setTimeout's 2^31-1 ms), in seconds. */
const MAX_SECONDS = 2_147_483
const seconds = v.pipe(v.number(), v.finite(), v.minValue(0), v.maxValue(MAX_SECONDS))
const positiveSeconds = v.pipe(seconds, v.gtValue(0))

/** Client-chosen execution ids are also file names (transcripts): keep them plain. */
export const ExecutionId = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'execution_id must be 1-128 characters of A-Z a-z 0-9 . _ : -'),
)

export const ControlType = v.pipe(
  v.string(),
  v.transform((s) => s.toUpperCase()),
  v.picklist(['PAUSE', 'RESUME', 'CANCEL', 'KILL', 'INTERRUPT'], 'type must be PAUSE, RESUME, CANCEL, KILL or INTERRUPT'),
)
export type ControlType = v.InferOutput<typeof ControlType>

/** A label groups executions (per-label success counts); it is shown and counted, never run. */
export const Label = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9 ._:\/-]{0,127}$/, 'label must be 1-128 characters of A-Z a-z 0-9 space . _ : / -'))

/**
 * The longest single argument (or environment entry) Linux passes to a new process: MAX_ARG_STRLEN
 * is 131,072 bytes with the terminating NUL. A longer one fails the spawn with E2BIG.
 */
export const MAX_ARG_BYTES = 131_071

const utf8 = new TextEncoder()

/** Whether a string fits in one argument of a new process (MAX_ARG_BYTES in UTF-8). */
export const fitsArgument = (s: string): boolean => s.length <= MAX_ARG_BYTES / 3 || (s.length <= MAX_ARG_BYTES && utf8.encode(s).byteLength <= MAX_ARG_BYTES)

/** A string that becomes one argument of a process: at most MAX_ARG_BYTES in UTF-8 (`what` names it in the message). */
export const argumentString = (what: string) => v.pipe(v.string(), v.check(fitsArgument, `${what} must be at most ${MAX_ARG_BYTES} bytes in UTF-8 (it becomes one argument of a process)`))

/**
 * An object and not an array: v.record takes an array too, and makes `["x"]` into `{"0": "x"}`.
 * Put before a v.record (`what` names the field in the message).
 */
export const plainObject = (what: string) => v.custom<Record<string, unknown>>((o) => typeof o === 'object' && o !== null && !Array.isArray(o), `${what} must be an object`)

export const ExecuteFields = {
  // The shell gets the command as one argument (sh -c <command>).
  command: v.optional(v.pipe(argumentString('command'), v.minLength(1, 'command must not be empty'))),
  argv: v.optional(
    v.pipe(
      v.array(argumentString('argv items')),
      v.minLength(1, 'argv must name a program'),
      v.maxLength(4096),
      v.check((a) => a[0] !== '', 'argv[0] must not be empty'),
    ),
  ),
  timeout: v.optional(positiveSeconds),
  idle_timeout: v.optional(positiveSeconds),
  cwd: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(4096))),
  env: v.optional(
    v.pipe(
      plainObject('env'),
      v.record(v.pipe(v.string(), v.regex(/^[^=\0]+$/, 'env names must not contain = or NUL')), v.string()),
      v.check((e) => Object.keys(e).length <= 1024, 'env may hold at most 1024 variables'),
      // Each variable reaches the process as one string NAME=value, under the same limit as an argument.
      v.check((e) => Object.entries(e).every(([name, value]) => fitsArgument(`${name}=${value}`)), `env variables must be at most ${MAX_ARG_BYTES} bytes each (NAME=value in UTF-8)`),
    ),
  ),
  stdin: v.optional(v.pipe(v.string(), v.maxLength(10_485_760))),
  execution_id: v.optional(ExecutionId),
  detach_grace: v.optional(seconds),
  backpressure: v.optional(v.picklist(['block', 'drop'], 'backpressure must be "block" or "drop"')),
  label: v.optional(Label),
}
const oneProgram = (p: { command?: string; argv?: string[] }) => (p.command === undefined) !== (p.argv === undefined)
const ONE_PROGRAM = 'exactly one of command (a shell string) or argv (a string array) is required'

export const ExecuteParams = v.pipe(v.object(ExecuteFields), v.check((p) => oneProgram(p), ONE_PROGRAM))
export type ExecuteParams = v.InferOutput<typeof ExecuteParams>

/** The body of `POST /v1/executions`: execute's params, and `detach` to get 202 instead of a stream. */
export const HttpExecuteBody = v.pipe(v.object({ ...ExecuteFields, detach: v.optional(v.boolean()) }), v.check((p) => oneProgram(p), ONE_PROGRAM))
export type HttpExecuteBody = v.InferOutput<typeof HttpExecuteBody>

export const ControlParams = v.object({
  type: ControlType,
  execution_id: v.optional(ExecutionId),
  /** Why, in words: a CANCEL's or KILL's becomes the completion's `reason`. */
  reason: v.optional(v.pipe(v.string(), v.maxLength(512))),
})
export type ControlParams = v.InferOutput<typeof ControlParams>

export const InputParams = v.object({
  data: v.optional(v.pipe(v.string(), v.maxLength(10_485_760)), ''),
  eof: v.optional(v.boolean(), false),
  execution_id: v.optional(ExecutionId),
})
export type InputParams = v.InferOutput<typeof InputParams>

export const ExecutionRef = v.object({ execution_id: v.optional(ExecutionId) })

export const DetachParams = v.object({ execution_id: ExecutionId })

/** Records one `list` returns unless asked for more: the newest, oldest first. */
export const LIST_LIMIT = 1000

/**
 * A list's params (WebSocket `list`; the query of `GET /v1/executions` and its watch): how many of
 * the newest records, and the filter (protocol/list-filter) they are the newest of.
 */
export const ListParams = v.object({
  limit: v.optional(v.pipe(v.number(), v.safeInteger('limit must be an integer'), v.minValue(1, 'limit must be at least 1')), LIST_LIMIT),
  label: v.optional(Label),
  status: v.optional(v.picklist(RECORD_STATUSES, `status must be one of ${RECORD_STATUSES.join(', ')}`)),
})
export type ListParams = v.InferOutput<typeof ListParams>

export const AttachParams = v.object({
  execution_id: ExecutionId,
  after_seq: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
})

/** The JSON-RPC 2.0 request envelope (a request without `id` is a notification). */
export const RequestEnvelope = v.object({
  jsonrpc: v.literal('2.0', 'jsonrpc must be "2.0"'),
  method: v.pipe(v.string('method must be a string'), v.minLength(1, 'method must not be empty')),
  params: v.optional(v.union([v.record(v.string(), v.unknown()), v.array(v.unknown())], 'params must be an object')),
  id: v.optional(v.union([v.string(), v.pipe(v.number(), v.finite()), v.null()], 'id must be a string, number or null')),
})
export type RequestEnvelope = v.InferOutput<typeof RequestEnvelope>
export type RequestId = string | number | null

// ---- Notifications (server → client) ----

export const CompletionStatus = v.picklist(['completed', 'failed', 'canceled', 'timeout', 'killed', 'interrupted'])
export type CompletionStatus = v.InferOutput<typeof CompletionStatus>
export const StreamType = v.picklist(['stdout', 'stderr'])
export type StreamType = v.InferOutput<typeof StreamType>

const seq = v.pipe(v.number(), v.integer(), v.minValue(1))
const id = v.string()
const pidField = v.nullable(v.number())

export const StartedParams = v.object({
  execution_id: id,
  seq,
  status: v.literal('started'),
  pid: pidField,
  pgid: pidField,
  command: v.string(),
})
export const OutputParams = v.object({
  execution_id: id,
  seq,
  type: StreamType,
  data: v.string(),
  truncated: v.boolean(),
  chunk_index: v.number(),
  total_chunks: v.number(),
})
export const MarkerParams = v.object({ execution_id: id, seq })
export const DroppedParams = v.object({
  execution_id: id,
  seq,
  type: StreamType,
  bytes: v.number(),
  lines: v.number(),
})
export const ErrorParams = v.object({ execution_id: id, seq, error: v.string() })
export const GapParams = v.object({ execution_id: id, from_seq: v.number(), to_seq: v.number() })
/** A Claude task's summary, from its last `result` line (see claude/stream-json). */
export const ClaudeSummary = v.object({
  session_id: v.nullable(v.string()),
  subtype: v.nullable(v.string()),
  is_error: v.boolean(),
  num_turns: v.nullable(v.number()),
  total_cost_usd: v.nullable(v.number()),
  duration_ms: v.nullable(v.number()),
  duration_api_ms: v.nullable(v.number()),
  usage: v.unknown(),
  result: v.nullable(v.string()),
  terminal_reason: v.nullable(v.string()),
})
export type ClaudeSummary = v.InferOutput<typeof ClaudeSummary>

/** One parsed stream-json content block of a Claude task; `kind` says which (claude/stream-json). */
export const ClaudeEventParams = v.looseObject({
  execution_id: id,
  seq,
  kind: v.picklist(['init', 'text', 'tool_use', 'tool_result', 'retry', 'rate_limit', 'result']),
})

export const CompletedParams = v.object({
  execution_id: id,
  seq,
  status: CompletionStatus,
  pid: pidField,
  pgid: pidField,
  exit_code: v.nullable(v.number()),
  signal: v.nullable(v.string()),
  reason: v.string(),
  execution_time: v.number(),
  stdout_bytes: v.number(),
  stderr_bytes: v.number(),
  dropped_bytes: v.number(),
  transcript_sha256: v.nullable(v.object({ stdout: v.string(), stderr: v.string() })),
  /** Claude tasks only. */
  claude: v.optional(ClaudeSummary),
})
export const StatusParams = v.object({
  execution_id: id,
  status: v.picklist(['running', 'paused']),
  pid: pidField,
  pgid: pidField,
  inactive_seconds: v.number(),
  message: v.string(),
})
export const HeartbeatParams = v.object({ timestamp: v.number(), session_id: v.string(), status: v.literal('alive') })
export const ConnectedParams = v.object({
  session_id: v.string(),
  version: v.string(),
  capabilities: v.array(v.string()),
})

/** Execution events: the notifications that carry a seq and make up an execution's record. */
export const ExecutionEvent = v.variant('method', [
  v.object({ jsonrpc: v.literal('2.0'), method: v.literal('process.started'), params: StartedParams }),
  v.object({ jsonrpc: v.literal('2.0'), method: v.literal('process.output'), params: OutputParams }),
  v.object({ jsonrpc: v.literal('2.0'), method: v.literal('process.paused'), params: MarkerParams }),
  v.object({ jsonrpc: v.literal('2.0'), method: v.literal('process.resumed'), params: MarkerParams }),
  v.object({ jsonrpc: v.literal('2.0'), method: v.literal('process.canceled'), params: MarkerParams }),
  v.object({ jsonrpc: v.literal('2.0'), method: v.literal('process.dropped'), params: DroppedParams }),
  v.object({ jsonrpc: v.literal('2.0'), method: v.literal('process.error'), params: ErrorParams }),
  v.object({ jsonrpc: v.literal('2.0'), method: v.literal('process.completed'), params: CompletedParams }),
  v.object({ jsonrpc: v.literal('2.0'), method: v.literal('claude.event'), params: ClaudeEventParams }),
])
export type ExecutionEvent = v.InferOutput<typeof ExecutionEvent>
export type CompletedEvent = Extract<ExecutionEvent, { method: 'process.completed' }>
export type CompletedParams = v.InferOutput<typeof CompletedParams>
export type StartedParams = v.InferOutput<typeof StartedParams>
export type OutputParams = v.InferOutput<typeof OutputParams>
export type StatusParams = v.InferOutput<typeof StatusParams>
export type HeartbeatParams = v.InferOutput<typeof HeartbeatParams>
export type ConnectedParams = v.InferOutput<typeof ConnectedParams>
export type GapParams = v.InferOutput<typeof GapParams>

/** Events without a seq: never retained or replayed. */
export type EphemeralNotification =
  | { jsonrpc: '2.0'; method: 'process.status'; params: StatusParams }
  | { jsonrpc: '2.0'; method: 'process.gap'; params: GapParams }
  | { jsonrpc: '2.0'; method: 'heartbeat'; params: HeartbeatParams }
  | { jsonrpc: '2.0'; method: 'connected'; params: ConnectedParams }

/** Parses untrusted input, returning the value or a one-line message naming what is wrong. */
export function parseWith<const S extends v.GenericSchema>(
  schema: S,
  input: unknown,
): { ok: true; value: v.InferOutput<S> } | { ok: false; message: string } {
  const result = v.safeParse(schema, input)
  if (result.success) return { ok: true, value: result.output }
  return { ok: false, message: describeIssues(result.issues) }
}

/** Parses request params, throwing the protocol's -32602 with a message naming what is wrong. */
export function parseParams<const S extends v.GenericSchema>(schema: S, params: unknown): v.InferOutput<S> {
  const parsed = parseWith(schema, params)
  if (!parsed.ok) throw new RpcError(ErrorCode.INVALID_PARAMS, `Invalid params: ${parsed.message}`)
  return parsed.value
}

function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 3)
    .map((issue) => {
      const path = issue.path?.map((p) => String(p.key)).join('.')
      return path ? `${path}: ${issue.message}` : issue.message
    })
    .join('; ')
}
