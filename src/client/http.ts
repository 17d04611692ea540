/**
 * @module client/http — the one client of the `/v1` API, with fetch: JSON requests, and NDJSON event
 * streams. ExecutorClient reads a stream under a watchdog (openStream); RemoteExecutor, in the
 * gateways, pulls it (eventReader) and resumes it after the last seq when it breaks. A stream is
 * read only as fast as its consumer takes events, so a slow consumer holds the server back through
 * TCP (the server's lossless back-pressure).
 */
import { NdjsonParseStream } from '../protocol/ndjson.ts'
import { ConnectionError, ExecutorError } from './errors.ts'
import type { Message } from './ws.ts'

export interface HttpOptions {
  /** `http(s)://host:port[/prefix]`, no trailing slash. */
  base: string
  token?: string
  fetch: typeof fetch
}

function headersOf(options: HttpOptions, body: boolean): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json, application/x-ndjson' }
  if (body) headers['content-type'] = 'application/json'
  if (options.token) headers.authorization = `Bearer ${options.token}`
  return headers
}

/** A failed response as the error it carries: the server's JSON error body (an ExecutorError), else the status (a ConnectionError). */
export async function errorOf(response: Response): Promise<Error> {
  let payload: { error?: { code?: unknown; message?: unknown; data?: unknown } } | undefined
  try {
    payload = await response.json()
  } catch {
    // not one of ours (a proxy's page)
  }
  if (payload?.error && typeof payload.error.code === 'number') return ExecutorError.from(payload.error, response.status)
  return new ConnectionError(`HTTP ${response.status} ${response.statusText} from ${response.url}`, 'failed')
}

/**
 * One HTTP request, whatever its status; throws only when the server cannot be reached (a
 * ConnectionError whose `cause` is fetch's own error).
 */
export async function send(options: HttpOptions, method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
  try {
    return await options.fetch(`${options.base}${path}`, {
      ...init,
      method,
      headers: headersOf(options, body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch (error) {
    const cause = (error as { cause?: { message?: string; code?: string } }).cause
    const detail = cause?.code ?? cause?.message ?? (error as Error).message
    throw new ConnectionError(`Cannot reach ${options.base}: ${detail}`, 'failed', { cause: error })
  }
}

/** One HTTP call; resolves with the response when it is 2xx, else throws its error. */
export async function call(options: HttpOptions, method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
  const response = await send(options, method, path, body, init)
  if (!response.ok) throw await errorOf(response)
  return response
}

/** A JSON call's parsed result. */
export async function callJson<T>(options: HttpOptions, method: string, path: string, body?: unknown): Promise<T> {
  return (await (await call(options, method, path, body)).json()) as T
}

/**
 * The events of an NDJSON response, one per read. The body's bytes go straight into the parser:
 * one stage, no decoder stage before it (each stage costs a hop per chunk, which a gateway pays on
 * every event it relays). `parse` turns a line into its value (default JSON.parse).
 */
export function eventReader<T>(response: Response, parse?: (line: string) => unknown): ReadableStreamDefaultReader<T> {
  if (!response.body) throw new ConnectionError('The server sent no stream', 'protocol')
  return response.body.pipeThrough(new NdjsonParseStream(parse) as TransformStream<Uint8Array, T>).getReader()
}

/**
 * How long to wait before reconnection attempt `attempt` after a loss (1: the first): the first
 * is at once, then `baseMs` doubling, at most `capMs`.
 */
export function reconnectDelayMs(attempt: number, baseMs: number, capMs = Infinity): number {
  return attempt <= 1 ? 0 : Math.min(capMs, baseMs * 2 ** (attempt - 2))
}

export interface EventStream {
  response: Response
  /** Resolves (never rejects) when the stream is over: ended, broken, silent or closed. */
  closed: Promise<ConnectionError>
  close(reason?: ConnectionError): void
}

export interface StreamOptions {
  /** Milliseconds of silence (while waiting for data) after which the server is considered dead. */
  watchdogMs: () => number
  /** Each line; a returned promise holds further reading back (the consumer's back-pressure). */
  onMessage: (message: Message) => void | Promise<void>
}

/** Opens an NDJSON event stream (POST /v1/executions or GET …/events) and reads it in the background. */
export async function openStream(options: HttpOptions, method: string, path: string, body: unknown, stream: StreamOptions): Promise<EventStream> {
  const abort = new AbortController()
  let abortReason: ConnectionError | undefined
  let lastActivity = Date.now()
  let waiting = true
  let timer: ReturnType<typeof setTimeout> | undefined
  const stop = (reason: ConnectionError) => {
    if (abortReason) return
    abortReason = reason
    clearTimeout(timer)
    abort.abort()
  }
  // The watchdog counts only time spent waiting for the server, not time the consumer holds us back.
  const arm = () => {
    const limit = stream.watchdogMs()
    const silent = waiting ? Date.now() - lastActivity : 0
    if (silent >= limit) {
      stop(new ConnectionError(`No data from the server for ${(silent / 1000).toFixed(1)} s (3× its heartbeat interval): considered dead`, 'silent'))
      return
    }
    timer = setTimeout(arm, limit - silent + 5)
  }
  arm()

  let response: Response
  try {
    response = await call(options, method, path, body, { signal: abort.signal })
  } catch (error) {
    clearTimeout(timer)
    if (abortReason) throw abortReason
    throw error
  }
  let reader: ReadableStreamDefaultReader<Message>
  try {
    reader = eventReader<Message>(response)
  } catch (error) {
    clearTimeout(timer)
    throw error
  }

  const closed = (async (): Promise<ConnectionError> => {
    try {
      for (;;) {
        waiting = true
        lastActivity = Date.now()
        const next = await reader.read()
        waiting = false
        if (abortReason) return abortReason
        if (next.done) return new ConnectionError('The event stream ended', 'closed')
        const held = stream.onMessage(next.value)
        if (held) await held
        if (abortReason) return abortReason
      }
    } catch (error) {
      return abortReason ?? new ConnectionError(`The event stream broke: ${(error as Error).message}`, 'failed', { cause: error })
    } finally {
      clearTimeout(timer)
      reader.cancel().catch(() => {})
    }
  })()
  return { response, closed, close: (reason = new ConnectionError('Closed by the client', 'closed-by-client')) => stop(reason) }
}
