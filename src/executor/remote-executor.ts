/**
 * @module remote-executor — an Executor that runs nothing itself: it forwards each execution to
 * another cc-executor's `/v1` HTTP API and streams the events back (NDJSON over fetch), through the
 * same HTTP client as ExecutorClient (client/http.ts). Used by the edge gateways (Workers, Deno,
 * Bun). When the upstream stream breaks mid-execution it reconnects with `after_seq`, so
 * subscribers see no gap and no duplicate.
 */
import type { ClaudeParams } from '../claude/params.ts'
import { ExecutorError } from '../client/errors.ts'
import { errorOf, eventReader, reconnectDelayMs, send, type HttpOptions } from '../client/http.ts'
import { type ExecutionHandle, type ExecutionState, type Executor, type LaunchOptions, type PendingControl } from './executor.ts'
import { ErrorCode, RpcError } from '../protocol/errors.ts'
import { parseReceived } from '../protocol/jsonrpc.ts'
import type { VerifyResult } from '../protocol/records.ts'
import { v1Path } from '../protocol/routes.ts'
import type { CompletedEvent, ControlType, ExecuteParams, ExecutionEvent, StartedParams } from '../protocol/schemas.ts'

export interface RemoteExecutorOptions {
  /** Base URL of the upstream cc-executor, e.g. `http://10.0.0.5:8003`. */
  url: string
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string
  /** The fetch to use (defaults to the global one). */
  fetch?: typeof fetch
  /** Reconnection attempts after the stream breaks, with exponential back-off from `retryDelayMs`. */
  retries?: number
  retryDelayMs?: number
  /**
   * Seconds the upstream keeps an execution running while this gateway's stream to it is broken.
   * The gateway cancels explicitly when its own clients leave, so this only covers lost streams.
   */
  upstreamGrace?: number
  /**
   * The upstream's WEBSOCKET_HEARTBEAT_INTERVAL in seconds (default 20): its event streams carry a
   * heartbeat line at least this often. One that brings nothing for 3× this long (or 3× the longer
   * interval observed between its heartbeats) while it is being read is dead (a half-open
   * connection: a vanished host, a stalled NAT), and is resumed with `after_seq` like a broken one.
   */
  heartbeatInterval?: number
  /** How a CANCEL or KILL that could not reach the upstream is kept and sent again (see keep). */
  controlRetry?: ControlRetryOptions
  /** A kept CANCEL or KILL is given up without the upstream having it (for the host's log). */
  onControlDropped?: (dropped: DroppedControl) => void
}

/** A kept control given up: its retries or its time ran out, or this executor closed with it kept. */
export interface DroppedControl {
  execution_id: string
  type: 'CANCEL' | 'KILL'
  /** The upstream it was kept for. */
  executor: string
  /** Attempts to send it that failed. */
  retries: number
  /** Why the last attempt failed: the executor's own answer, or what kept it from answering. */
  error?: string
  /**
   * `retries exhausted`; `closed`: this executor closed with it kept; `closed while sending`: it
   * closed while a request with it was on its way, which the executor may have had (aborted here).
   */
  why: 'retries exhausted' | 'closed' | 'closed while sending'
}

/**
 * The bounds of a kept control's retries: the first `delayMs` after it failed, doubling up to
 * `maxDelayMs`; given up after `attempts` retries or `withinMs` after it was asked for, whichever
 * comes first. At most `max` controls are kept per upstream (one per execution).
 */
export interface ControlRetryOptions {
  delayMs?: number
  maxDelayMs?: number
  attempts?: number
  withinMs?: number
  max?: number
}

export const CONTROL_RETRY: Required<ControlRetryOptions> = { delayMs: 250, maxDelayMs: 5000, attempts: 40, withinMs: 120_000, max: 1000 }

/** A CANCEL or KILL the upstream has not had yet. */
interface Kept {
  type: 'CANCEL' | 'KILL'
  reason: string | undefined
  /** Date.now() after which it is given up. */
  until: number
  retries: number
  timer?: ReturnType<typeof setTimeout>
  /** The type of the request on its way, if one is. */
  sending?: 'CANCEL' | 'KILL'
  /** Why the last attempt failed. */
  error?: string
}

type RawEvent = { method?: string; params?: { seq?: number; timestamp?: number } }

/**
 * @example
 * const executor = new RemoteExecutor({ url: env.EXECUTOR_URL, token: env.EXECUTOR_TOKEN })
 * const app = createExecutorApp({ executor, upgradeWebSocket, runtime: 'workerd' })
 */
export class RemoteExecutor implements Executor {
  /** Its executions run upstream: a gateway shutting down leaves them running there (see close). */
  readonly remote = true
  readonly #http: HttpOptions
  readonly #options: { retries: number; retryDelayMs: number; upstreamGrace: number; heartbeatInterval: number }
  readonly #live = new Set<RemoteExecution>()
  readonly #controlRetry: Required<ControlRetryOptions>
  readonly #onControlDropped: ((dropped: DroppedControl) => void) | undefined
  /** Controls the upstream has not had yet, by execution id (see keep). */
  readonly #kept = new Map<string, Kept>()
  /** Aborts the kept controls' requests on their way when this executor closes. */
  readonly #closing = new AbortController()
  /** close() was called. A flag, not #closing's signal: Workers bind a signal to the request that made it. */
  #closed = false

  constructor({ url, token, fetch: fetchFn = globalThis.fetch.bind(globalThis), retries = 5, retryDelayMs = 100, upstreamGrace = 30, heartbeatInterval = 20, controlRetry = {}, onControlDropped }: RemoteExecutorOptions) {
    this.#http = { base: url.replace(/\/+$/, ''), token, fetch: fetchFn }
    this.#options = { retries, retryDelayMs, upstreamGrace, heartbeatInterval }
    this.#controlRetry = { ...CONTROL_RETRY, ...controlRetry }
    this.#onControlDropped = onControlDropped
  }

  start(params: ExecuteParams & { execution_id: string }, options: LaunchOptions = {}): Promise<ExecutionHandle> {
    return this.#open(v1Path.executions(), params, options)
  }

  /** A Claude task runs on the upstream, which parses it: its events already carry claude.event and the summary. */
  startClaude(params: ClaudeParams & { execution_id: string }, options: LaunchOptions = {}): Promise<ExecutionHandle> {
    return this.#open(v1Path.claude(), params, options)
  }

  verify(id: string): Promise<VerifyResult> {
    return json(this.request('GET', v1Path.verify(id)))
  }

  /**
   * Follows an execution the upstream already has (started elsewhere, running or ended) from its
   * first event, as the handle of `start` does: a gateway adopts it this way.
   */
  attach(id: string): Promise<ExecutionHandle> {
    return this.#follow(id, this.request('GET', v1Path.events(id, 0)))
  }

  async #open(path: string, params: { execution_id: string; detach_grace?: number }, { detached = false }: LaunchOptions): Promise<ExecutionHandle> {
    const id = params.execution_id
    if (detached) {
      // Detached there too, then followed like one started elsewhere: the upstream runs it on
      // whatever becomes of this stream (a Worker's ends with the request that started it).
      await (await this.request('POST', path, { ...params, detach: true })).body?.cancel()
      return this.attach(id)
    }
    const body = { ...params, detach_grace: Math.max(params.detach_grace ?? 0, this.#options.upstreamGrace) }
    return this.#follow(id, this.request('POST', path, body))
  }

  async #follow(id: string, opened: Promise<Response>): Promise<ExecutionHandle> {
    const events = await eventsOf(opened)
    const first = (await readWithin(events, 3 * this.heartbeatInterval * 1000)) ?? { done: true, value: undefined }
    if (first.done || first.value.method !== 'process.started') {
      await events.cancel().catch(() => {})
      throw new RpcError(ErrorCode.INTERNAL_ERROR, 'The executor did not start the execution', { cause: 'no process.started' })
    }
    const execution = new RemoteExecution(this, id, first.value as ExecutionEvent & { params: StartedParams }, events)
    // Opened while this executor closed: left to the upstream like the others.
    if (this.#closed) execution.release()
    this.#live.add(execution)
    void execution.completed.finally(() => this.#live.delete(execution))
    // Followed again (a gateway re-attaching to it): the upstream answers, so what it missed goes now.
    this.resend(id)
    return execution
  }

  /**
   * Keeps a CANCEL or KILL of `id` that could not reach the upstream (`why`: what went wrong, a
   * sentence the pending result's message begins with) and sends it again: on a timer
   * (CONTROL_RETRY's bounds), and at once when the upstream is heard from again (resend: its stream
   * resumes, the execution is followed again, a health check answers), until the upstream has it
   * or answers that it cannot have it (an ended execution: -32002; its other errors are retried). One per execution: a KILL
   * replaces a kept CANCEL, a CANCEL does not replace a kept KILL. Dropped when the execution's own
   * completion arrives and when this executor closes. Returns the pending result for the client,
   * or undefined for one it does not keep: of another type, past its cap, or after close().
   */
  keep(id: string, type: string, reason: string | undefined, why: string): PendingControl | undefined {
    if ((type !== 'CANCEL' && type !== 'KILL') || this.#closed) return undefined
    let kept = this.#kept.get(id)
    if (kept) {
      if (type === 'KILL' || kept.type === 'CANCEL') Object.assign(kept, { type, reason })
    } else {
      if (this.#kept.size >= this.#controlRetry.max) return undefined
      kept = { type, reason, until: Date.now() + this.#controlRetry.withinMs, retries: 0 }
      this.#kept.set(id, kept)
      this.#schedule(id, kept)
    }
    return {
      status: 'pending',
      type: kept.type,
      retry_until: kept.until / 1000,
      message: `${why}; the gateway keeps the ${kept.type} and sends it again once the executor answers (until retry_until)`,
    }
  }

  /** Controls kept for the upstream (see keep). */
  get pendingControls(): number {
    return this.#kept.size
  }

  /** The upstream answers again: what is kept for `id` (or for every execution) is sent now. */
  resend(id?: string): void {
    for (const key of id === undefined ? [...this.#kept.keys()] : [id]) if (this.#kept.has(key)) void this.#deliver(key)
  }

  /** The execution has ended (its upstream said so): nothing kept for it is sent any more. */
  settled(id: string): void {
    clearTimeout(this.#kept.get(id)?.timer)
    this.#kept.delete(id)
  }

  #schedule(id: string, kept: Kept): void {
    const { delayMs, maxDelayMs, attempts } = this.#controlRetry
    const left = kept.until - Date.now()
    if (kept.retries >= attempts || left <= 0) return this.#drop(id, kept, 'retries exhausted')
    clearTimeout(kept.timer)
    kept.timer = setTimeout(() => void this.#deliver(id), Math.min(left, maxDelayMs, delayMs * 2 ** kept.retries))
  }

  #drop(id: string, kept: Kept, why: DroppedControl['why']): void {
    this.settled(id)
    // An attempt on its way has not failed (yet): it is not counted among the retries.
    const retries = why === 'closed while sending' ? kept.retries - 1 : kept.retries
    try {
      this.#onControlDropped?.({ execution_id: id, type: kept.type, executor: this.#http.base, retries, ...(kept.error === undefined ? {} : { error: kept.error }), why })
    } catch {
      // The host's log failing must not stop the rest of the shutdown or the retries of others.
    }
  }

  async #deliver(id: string): Promise<void> {
    const kept = this.#kept.get(id)
    if (!kept || kept.sending) return
    clearTimeout(kept.timer)
    kept.retries += 1
    const type = (kept.sending = kept.type)
    let done: boolean
    try {
      const body = kept.reason === undefined ? { type } : { type, reason: kept.reason }
      await (await this.request('POST', v1Path.control(id), body, { signal: this.#closing.signal })).body?.cancel()
      done = true
    } catch (error) {
      // The upstream's answer that it has no such execution (it has ended) settles it. Any other
      // failure, its other answers too (a token it refuses, a limit, its own fault), is tried again.
      done = error instanceof ExecutorError && error.code === ErrorCode.NO_SUCH_PROCESS
      kept.error = (error as Error).message
    }
    kept.sending = undefined
    if (this.#kept.get(id) !== kept) return
    // A KILL that replaced the CANCEL on its way is sent next.
    if (done && kept.type === type) return this.settled(id)
    if (done) return void this.#deliver(id)
    this.#schedule(id, kept)
  }

  /**
   * The gateway shuts down: it stops following every execution, which runs on upstream (a stream
   * closed there starts the detach grace it asked for, at least upstreamGrace) for its clients to
   * attach to again through another gateway or this one restarted; each handle's events end
   * without a completion. Nothing kept outlives the executor: timers cleared, requests on their way
   * aborted (a CANCEL or KILL still kept for an unreachable upstream is dropped, and reported).
   */
  async close(): Promise<void> {
    for (const [id, kept] of [...this.#kept]) this.#drop(id, kept, kept.sending ? 'closed while sending' : 'closed')
    this.#closed = true
    this.#closing.abort()
    for (const execution of this.#live) execution.release()
  }

  get retries(): number {
    return this.#options.retries
  }

  get retryDelayMs(): number {
    return this.#options.retryDelayMs
  }

  /** Seconds between the upstream's heartbeat lines, as configured. */
  get heartbeatInterval(): number {
    return this.#options.heartbeatInterval
  }

  /**
   * One call to the upstream API. A JSON error body becomes the RpcError it stands for (an
   * ExecutorError, the client's kind); a fault of the transport or a status without a body of ours
   * is -32603, whose message does not say where the upstream is.
   */
  async request(method: 'GET' | 'POST', path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
    let response: Response
    try {
      response = await send(this.#http, method, path, body, init)
    } catch (error) {
      const cause = (error as Error).cause ?? error
      throw new RpcError(ErrorCode.INTERNAL_ERROR, 'The executor is unreachable', { cause: String((cause as Error).message ?? cause) })
    }
    if (response.ok) return response
    const error = await errorOf(response)
    if (error instanceof RpcError) throw error
    throw new RpcError(ErrorCode.INTERNAL_ERROR, `The executor answered HTTP ${response.status}`)
  }
}

type EventReader = ReadableStreamDefaultReader<RawEvent>

const json = async <T>(response: Promise<Response>): Promise<T> => (await (await response).json()) as T

/**
 * The next line of an upstream stream, or undefined when none came within `ms`: the stream is then
 * cancelled (which aborts its request), since a half-open connection would never end by itself.
 */
async function readWithin(reader: EventReader, ms: number): Promise<ReadableStreamReadResult<RawEvent> | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const silent = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  try {
    const next = await Promise.race([reader.read(), silent])
    if (next === undefined) void reader.cancel('silent').catch(() => {})
    return next
  } finally {
    clearTimeout(timer)
  }
}

/** An upstream event stream, its lines parsed with parseReceived (a gateway forwards their text as it came). */
async function eventsOf(response: Promise<Response>): Promise<EventReader> {
  const upstream = await response
  if (!upstream.body) throw new RpcError(ErrorCode.INTERNAL_ERROR, 'The executor sent no stream')
  return eventReader<RawEvent>(upstream, parseReceived)
}

class RemoteExecution implements ExecutionHandle {
  readonly id: string
  readonly pid: number | null
  readonly pgid: number | null
  readonly command: string
  readonly events: ReadableStream<ExecutionEvent>
  readonly completed: Promise<CompletedEvent>
  #state: ExecutionState = 'running'
  #lastSeq: number
  #reader: EventReader
  /** Seconds between the upstream's heartbeats as last observed, and the timestamp of the last one. */
  #beatInterval = 0
  #lastBeat: number | undefined
  /**
   * The silence watchdog: one timer per execution, not one per read (that cost every event a timer
   * and a race). While a read is pending (#readSince), it fires once the read has waited the limit.
   */
  #readSince: number | undefined
  #watchdog: ReturnType<typeof setTimeout> | undefined
  #silent: string | undefined
  #unwatched = false
  /** No longer followed (release): the stream to the upstream is closed, and not resumed. */
  #released = false
  #resolveCompleted!: (event: CompletedEvent) => void
  readonly #executor: RemoteExecutor

  constructor(executor: RemoteExecutor, id: string, started: ExecutionEvent & { params: StartedParams }, reader: EventReader) {
    this.#executor = executor
    this.id = id
    this.pid = started.params.pid
    this.pgid = started.params.pgid
    this.command = started.params.command
    this.#lastSeq = started.params.seq
    this.#reader = reader
    this.completed = new Promise((resolve) => (this.#resolveCompleted = resolve))
    this.events = new ReadableStream<ExecutionEvent>(
      {
        start: (controller) => controller.enqueue(started),
        // Pull-based: while subscribers are behind, the upstream body is not read, and TCP carries the back-pressure.
        pull: (controller) => this.#pull(controller),
        cancel: () => {
          // Nobody reads any more: nothing is left to watch.
          this.#unwatched = true
          clearTimeout(this.#watchdog)
          return this.#reader.cancel().catch(() => {})
        },
      },
      { highWaterMark: 0 },
    )
  }

  get state(): ExecutionState {
    return this.#state
  }

  /**
   * Stops following the execution, which runs on upstream: its stream there is closed (the
   * upstream's detach grace starts) and not resumed, and `events` ends without a completion.
   */
  release(): void {
    if (this.#released || this.#state === 'exited') return
    this.#released = true
    clearTimeout(this.#watchdog)
    this.#watchdog = undefined
    void this.#reader.cancel('released').catch(() => {})
  }

  async control(type: ControlType, reason?: string): Promise<{ status: string }> {
    if (this.#state === 'exited') throw new RpcError(ErrorCode.NO_SUCH_PROCESS, `Execution ${this.id} has already ended`)
    return json(this.#executor.request('POST', v1Path.control(this.id), reason === undefined ? { type } : { type, reason }))
  }

  write(data: string, eof: boolean): Promise<{ written: number }> {
    return json(this.#executor.request('POST', v1Path.input(this.id), { data, eof }))
  }

  /** Enqueues the next event with a new seq, reconnecting when the stream breaks before completion. */
  async #pull(controller: ReadableStreamDefaultController<ExecutionEvent>): Promise<void> {
    for (;;) {
      let next: ReadableStreamReadResult<RawEvent>
      this.#readSince = performance.now()
      this.#watchdog ??= setTimeout(this.#watch, this.#silenceLimitMs())
      try {
        next = this.#released ? { done: true, value: undefined } : await this.#reader.read()
      } catch {
        next = { done: true, value: undefined }
      }
      this.#readSince = undefined
      if (this.#released) return controller.close()
      const silent = this.#silent
      this.#silent = undefined
      if (silent !== undefined || next.done) {
        await this.#reconnect(controller, silent)
        if (this.#state === 'exited') return
        if (this.#released) return controller.close()
        continue
      }
      if (next.value.method === 'heartbeat') this.#observeBeat(next.value.params?.timestamp)
      const event = next.value as ExecutionEvent
      // Ephemeral lines (heartbeat, process.status, process.gap) are the upstream's; this side makes its own.
      if (typeof event.params?.seq !== 'number' || event.params.seq <= this.#lastSeq) continue
      this.#lastSeq = event.params.seq
      if (event.method === 'process.paused') this.#state = 'paused'
      if (event.method === 'process.resumed') this.#state = 'running'
      controller.enqueue(event)
      if (event.method === 'process.completed') {
        // Its own completion: a control still kept for it has nothing left to stop.
        this.#executor.settled(this.id)
        this.#end(controller, event)
      }
      return
    }
  }

  /** 3× the upstream's heartbeat interval (configured, or the longer one observed). */
  #silenceLimitMs(): number {
    return 3 * Math.max(this.#executor.heartbeatInterval, this.#beatInterval) * 1000
  }

  /** A read that has waited the limit is of a dead stream (a half-open connection): cancelling it ends the read, and #pull resumes. */
  readonly #watch = (): void => {
    const limitMs = this.#silenceLimitMs()
    const waited = this.#readSince === undefined ? 0 : performance.now() - this.#readSince
    if (this.#state === 'exited' || this.#unwatched || this.#released) return void (this.#watchdog = undefined)
    if (waited < limitMs) return void (this.#watchdog = setTimeout(this.#watch, limitMs - waited))
    this.#watchdog = undefined
    this.#silent = `no data from the executor for ${limitMs / 1000} s (3× its heartbeat interval)`
    void this.#reader.cancel('silent').catch(() => {})
  }

  /** An upstream that beats less often than configured is given 3× its own interval. */
  #observeBeat(timestamp: unknown): void {
    if (typeof timestamp !== 'number') return
    const gap = this.#lastBeat === undefined ? 0 : timestamp - this.#lastBeat
    this.#lastBeat = timestamp
    if (gap > 0 && gap < 86_400) this.#beatInterval = gap
  }

  async #reconnect(controller: ReadableStreamDefaultController<ExecutionEvent>, why?: string): Promise<void> {
    let lastError = why ?? 'the stream ended before process.completed'
    this.#lastBeat = undefined
    for (let attempt = 1; attempt <= this.#executor.retries + 1; attempt++) {
      const delay = reconnectDelayMs(attempt, this.#executor.retryDelayMs)
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay))
      // Released meanwhile: no stream is opened again (#pull ends the events).
      if (this.#released) return
      try {
        this.#reader = await eventsOf(this.#executor.request('GET', v1Path.events(this.id, this.#lastSeq)))
        if (this.#released) void this.#reader.cancel('released').catch(() => {})
        // The upstream answers again: a control it missed meanwhile goes now.
        this.#executor.resend(this.id)
        return
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error)
        if (error instanceof RpcError && error.code === ErrorCode.NO_SUCH_PROCESS) break
      }
    }
    // The upstream is gone for good: the record still ends, exactly once, and says why.
    const event: CompletedEvent = {
      jsonrpc: '2.0',
      method: 'process.completed',
      params: {
        execution_id: this.id,
        seq: this.#lastSeq + 1,
        status: 'failed',
        pid: this.pid,
        pgid: this.pgid,
        exit_code: null,
        signal: null,
        reason: `lost the connection to the executor: ${lastError}`,
        execution_time: 0,
        stdout_bytes: 0,
        stderr_bytes: 0,
        dropped_bytes: 0,
        transcript_sha256: null,
      },
    }
    controller.enqueue(event)
    this.#end(controller, event)
  }

  #end(controller: ReadableStreamDefaultController<ExecutionEvent>, event: CompletedEvent): void {
    this.#state = 'exited'
    clearTimeout(this.#watchdog)
    this.#watchdog = undefined
    this.#resolveCompleted(event)
    controller.close()
    void this.#reader.cancel().catch(() => {})
  }
}
