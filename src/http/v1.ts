/**
 * @module http/v1 — the `/v1` HTTP API: start an execution and stream its events (NDJSON or SSE),
 * replay and tail them, control it, write its stdin, list and inspect executions. Errors are JSON
 * `{"error":{"code","message"}}` with the JSON-RPC code and a fitting HTTP status.
 */
import { Hono, type Context } from 'hono'
import { HttpClaudeBody } from '../claude/params.ts'
import type { Execution, ExecutionRegistry, ExecutionStore, StartOptions } from '../executions/registry.ts'
import type { Observer } from '../observer.ts'
import type { AuthVariables } from '../security/auth.ts'
import { ErrorCode, RpcError } from '../protocol/errors.ts'
import { V1_ROUTES } from '../protocol/routes.ts'
import { ControlParams, HttpExecuteBody, InputParams, ListParams, parseParams } from '../protocol/schemas.ts'
import { CONTENT_TYPE, eventStream, watchStream, type Shutdown, type StreamFormat } from './event-stream.ts'

export interface V1Options {
  observer?: Observer
  registry: ExecutionRegistry
  store?: ExecutionStore
  /** Seconds between heartbeat lines on a quiet stream. */
  heartbeatInterval: number
  /** Event streams open at once (MAX_STREAMS); one more is refused with -32003 (HTTP 503). */
  maxStreams?: number
  /** The server's shutdown: every event and watch stream ends after its last whole line when it begins. */
  ending?: Shutdown
}

const formatOf = (c: Context<any>): StreamFormat => (c.req.header('accept')?.includes('text/event-stream') ? 'sse' : 'ndjson')

async function jsonBody(c: Context<any>): Promise<unknown> {
  const text = await c.req.text()
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text)
  } catch {
    throw new RpcError(ErrorCode.PARSE_ERROR, 'Parse error: the body is not valid JSON')
  }
}

/** A non-negative integer cursor from `?after_seq=` or `Last-Event-ID`; absent means 0. */
function cursorOf(c: Context<any>): number {
  const raw = c.req.query('after_seq') ?? c.req.header('last-event-id')
  if (raw === undefined || raw === '') return 0
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 0) throw new RpcError(ErrorCode.INVALID_PARAMS, 'Invalid params: after_seq must be a non-negative integer')
  return n
}

/**
 * What `GET /v1/executions` and its watch list: `?limit=`, `?label=` and `?status=`, checked as
 * `list`'s params are. An empty `label` or `status` is no filter.
 */
function listParamsOf(c: Context<any>): ListParams {
  const params: Record<string, unknown> = {}
  const limit = c.req.query('limit')
  if (limit !== undefined) params.limit = Number(limit)
  for (const key of ['label', 'status']) {
    const value = c.req.query(key)
    if (value !== undefined && value !== '') params[key] = value
  }
  return parseParams(ListParams, params)
}

export function v1Routes({ registry, store, heartbeatInterval, observer = {}, maxStreams = Infinity, ending }: V1Options): Hono<{ Variables: AuthVariables }> {
  const heartbeatMs = heartbeatInterval * 1000
  let openStreams = 0
  /** Takes a stream's place before anything starts (a refused request starts nothing); returns its release. */
  const reserveStream = (): (() => void) => {
    if (openStreams >= maxStreams) throw new RpcError(ErrorCode.SESSION_LIMIT, `Stream limit exceeded: ${maxStreams} event streams and transcript downloads are open`)
    openStreams += 1
    let released = false
    return () => {
      if (!released) openStreams -= 1
      released = true
    }
  }
  const stream = (c: Context<any>, body: ReadableStream<Uint8Array>, format: StreamFormat, headers: Record<string, string> = {}) =>
    c.body(body, 200, { 'content-type': CONTENT_TYPE[format], 'cache-control': 'no-cache', 'x-accel-buffering': 'no', ...headers })

  /** POST /executions and /claude: 202 at once with detach, else the event stream of the new execution. */
  const started = async (c: Context<any>, detach: boolean | undefined, start: (options: StartOptions) => Promise<Execution>) => {
    const release = detach ? undefined : reserveStream()
    const execution = await start({ detached: detach === true, tokenId: c.get('tokenId') ?? null }).catch((error: unknown) => {
      release?.()
      throw error
    })
    const { id, pid, pgid } = execution.handle
    if (detach) {
      execution.open()
      return c.json({ status: 'started', execution_id: id, pid, pgid }, 202)
    }
    const format = formatOf(c)
    const body = eventStream(execution, { format, afterSeq: 0, heartbeatMs, onEnd: release, until: ending })
    execution.open()
    return stream(c, body, format, { 'x-execution-id': id })
  }

  return new Hono<{ Variables: AuthVariables }>()
    .post(V1_ROUTES.executions, async (c) => {
      const { detach, ...params } = parseParams(HttpExecuteBody, await jsonBody(c))
      return started(c, detach, (options) => registry.start(params, options))
    })
    .post(V1_ROUTES.claude, async (c) => {
      const { detach, ...params } = parseParams(HttpClaudeBody, await jsonBody(c))
      return started(c, detach, (options) => registry.startClaude(params, options))
    })
    .get(V1_ROUTES.labels, (c) => c.json({ labels: registry.labels() }))
    // Before the execution route, which would take "watch" for an id.
    .get(V1_ROUTES.watch, (c) => {
      const format = formatOf(c)
      const { limit, ...filter } = listParamsOf(c)
      return stream(c, watchStream(registry, { format, limit, filter, heartbeatMs, onEnd: reserveStream(), until: ending }), format)
    })
    .get(V1_ROUTES.verify, async (c) => c.json(await registry.verify(c.req.param('id'))))
    .get(V1_ROUTES.executions, async (c) => {
      const { limit, ...filter } = listParamsOf(c)
      return c.json(await registry.listAll(limit, filter))
    })
    .get(V1_ROUTES.execution, async (c) => c.json((await registry.find(c.req.param('id'))).record()))
    .get(V1_ROUTES.events, async (c) => {
      const execution = await registry.find(c.req.param('id'))
      const format = formatOf(c)
      const afterSeq = cursorOf(c)
      return stream(c, eventStream(execution, { format, afterSeq, heartbeatMs, onEnd: reserveStream(), until: ending }), format)
    })
    .get(V1_ROUTES.transcript, async (c) => {
      const execution = await registry.find(c.req.param('id'))
      if (!store) throw new RpcError(ErrorCode.METHOD_NOT_FOUND, 'This server keeps no transcripts')
      // A download is read at its reader's pace, like an event stream, and counts among them.
      const release = reserveStream()
      const lines = store.read(execution.id, 1)[Symbol.asyncIterator]()
      const encoder = new TextEncoder()
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const next = await lines.next().catch((error: unknown) => {
            release()
            throw error
          })
          if (next.done) {
            release()
            controller.close()
          } else controller.enqueue(encoder.encode(`${next.value}\n`))
        },
        async cancel() {
          release()
          await lines.return?.()
        },
      })
      const hashes = execution.record().transcript_sha256
      const headers: Record<string, string> = { 'content-type': CONTENT_TYPE.ndjson }
      if (hashes) headers['x-transcript-sha256'] = `stdout=${hashes.stdout}, stderr=${hashes.stderr}`
      return c.body(body, 200, headers)
    })
    .post(V1_ROUTES.control, async (c) => {
      const id = c.req.param('id')
      const { type, reason } = parseParams(ControlParams, await jsonBody(c))
      const result = await registry.control(id, type, reason)
      observer.control?.({ execution_id: id, type, token_id: c.get('tokenId') ?? null })
      // A gateway's CANCEL or KILL kept for an executor that did not get it yet: accepted, not done.
      return c.json(result, result.status === 'pending' ? 202 : 200)
    })
    .post(V1_ROUTES.input, async (c) => {
      const execution = await registry.find(c.req.param('id'))
      const { data, eof } = parseParams(InputParams, await jsonBody(c))
      return c.json(await execution.running().write(data, eof))
    })
}
