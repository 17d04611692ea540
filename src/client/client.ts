/**
 * @module client/client — ExecutorClient: runs commands on a cc-executor and follows them over
 * WebSocket (JSON-RPC at /ws/mcp) or HTTP (/v1, NDJSON), surviving dropped connections.
 */
import type { ClaudeParams } from '../claude/params.ts'
import type { VerifyResult } from '../protocol/records.ts'
import type { ExecutionRecord } from '../protocol/records.ts'
import { bearerProtocols } from '../protocol/bearer-protocol.ts'
import { ErrorCode } from '../protocol/errors.ts'
import { listQuery, type ListFilter } from '../protocol/list-filter.ts'
import { v1Path } from '../protocol/routes.ts'
import type { ControlType, ExecutionEvent } from '../protocol/schemas.ts'
import { endpoints, type Endpoints } from './endpoints.ts'
import { ConnectionError, ExecutorError } from './errors.ts'
import { call, callJson, openStream, type EventStream, type HttpOptions } from './http.ts'
import { Run, type ExecuteRequest, type Link, type LinkMode, type LinkResult, type LinkTarget, type ReconnectInfo, type RunContext } from './run.ts'
import { RpcSocket, type Message, type WebSocketConstructor } from './ws.ts'

export type Transport = 'ws' | 'http'

export interface ClientOptions {
  /** The server: `http://host:8003`, `https://host/prefix`, or `ws://host:8003/ws/mcp`. */
  url: string
  /** Sent as `Authorization: Bearer` over HTTP, and as a subprotocol over WebSocket (protocol/bearer-protocol: any token). */
  token?: string
  /**
   * `ws` (JSON-RPC over WebSocket) or `http` (the /v1 API). Default: `ws` when a WebSocket
   * constructor is available (the option, or a global one), else `http`.
   */
  transport?: Transport
  /** A WHATWG-style WebSocket constructor; default `globalThis.WebSocket` (Node 20 has none: pass the `ws` package's). */
  WebSocket?: WebSocketConstructor
  /** Default: `globalThis.fetch`. */
  fetch?: typeof fetch
  /**
   * The server's WEBSOCKET_HEARTBEAT_INTERVAL in seconds (default 20). A connection that brings
   * nothing for 3× this long is considered dead and replaced. The client raises it to the interval it
   * observes between the server's heartbeats, never lowers it.
   */
  heartbeatInterval?: number
  /**
   * Seconds an execution this client starts keeps running while no client follows it (sent as
   * `detach_grace` unless the request sets one). Reconnection works within this window. Default 30.
   */
  detachGrace?: number
  /** Seconds to keep trying to reconnect after a link is lost, before the run fails. Default 60. */
  reconnectTimeout?: number
  /** Characters a view (iterator, stdout, stderr) may fall behind before an HTTP stream stops being read. Default 1 MiB. */
  highWaterMark?: number
  /** Called on every reconnection attempt (`error.fault === 'silent'` when the watchdog fired). */
  onReconnect?: (info: ReconnectInfo) => void
}

/** The result of `execute` on the server, and of `startDetached`. */
export interface Started {
  status: 'started'
  execution_id: string
  pid: number | null
  pgid: number | null
}

export interface Transcript {
  events: ExecutionEvent[]
  /** From the `X-Transcript-SHA256` header, once the execution completed. */
  sha256: { stdout: string; stderr: string } | null
}

/** What every call that follows an execution takes besides its own parameters. */
export interface FollowOptions {
  /**
   * Aborting ends the run as `run.close()` does (an execution this client started is canceled,
   * once its start is answered), and `completed`, the views and a pending `execute()` reject with the
   * signal's reason (`AbortSignal.timeout(ms)`: a TimeoutError). Already aborted: nothing is sent.
   */
  signal?: AbortSignal
}

function randomId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('')
}

const isNoSuchExecution = (error: unknown) => error instanceof ExecutorError && error.code === ErrorCode.NO_SUCH_PROCESS

/**
 * @example
 * const client = new ExecutorClient({ url: 'http://127.0.0.1:8003', token })
 * const run = await client.execute({ command: 'npm test' })
 * for await (const event of run) if (event.method === 'process.output') console.log(event.params.data)
 * const { exit_code } = await run.completed
 * await client.close()
 */
export class ExecutorClient {
  readonly endpoints: Endpoints
  readonly transport: Transport
  readonly #token: string | undefined
  readonly #WebSocket: WebSocketConstructor | undefined
  readonly #http: HttpOptions
  readonly #heartbeatInterval: number
  readonly #detachGrace: number
  readonly #runs = new Set<Run>()
  readonly #context: RunContext
  #observedInterval = 0
  #beats = new Map<string, number>()
  #shared: Promise<RpcSocket> | undefined
  #closed = false

  constructor(options: ClientOptions) {
    this.endpoints = endpoints(options.url)
    this.#token = options.token || undefined
    this.#WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    this.transport = options.transport ?? (this.#WebSocket ? 'ws' : 'http')
    if (this.transport === 'ws' && !this.#WebSocket) {
      throw new TypeError('No WebSocket in this runtime: pass options.WebSocket (e.g. the ws package) or use transport "http"')
    }
    const fetchFn = options.fetch ?? globalThis.fetch?.bind(globalThis)
    this.#http = { base: this.endpoints.http, token: this.#token, fetch: fetchFn }
    this.#heartbeatInterval = options.heartbeatInterval ?? 20
    this.#detachGrace = options.detachGrace ?? 30
    this.#context = {
      link: (target, mode) => (this.transport === 'ws' ? this.#wsLink(target, mode) : this.#httpLink(target, mode)),
      control: (id, type) => this.control(id, type),
      input: (id, data, eof) => this.input(id, data, eof),
      heartbeat: (params) => this.#observe(params),
      reconnected: options.onReconnect,
      forget: (run) => this.#runs.delete(run),
      reconnectTimeoutMs: (options.reconnectTimeout ?? 60) * 1000,
      highWaterMark: options.highWaterMark ?? 1024 * 1024,
    }
  }

  /** Seconds: the configured heartbeat interval, or the longer one observed from the server. */
  get heartbeatInterval(): number {
    return Math.max(this.#heartbeatInterval, this.#observedInterval)
  }

  readonly #watchdogMs = () => 3 * this.heartbeatInterval * 1000

  /**
   * Starts a command and resolves once it runs (pid known). Give `command` (a shell string) or `argv`.
   * Refusals reject with ExecutorError (-32602 bad params, -32001 not allowed, -32603 cannot start…).
   */
  async execute(params: ExecuteRequest, { signal }: FollowOptions = {}): Promise<Run> {
    this.#assertOpen()
    signal?.throwIfAborted()
    const id = params.execution_id ?? randomId()
    const body = { ...params, execution_id: id, detach_grace: params.detach_grace ?? this.#detachGrace }
    const run = new Run(this.#context, id, true, params.command ?? params.argv?.join(' ') ?? '')
    return this.#follow(run, signal, { kind: 'execute', method: 'execute', params: body })
  }

  /** Starts following a run under `signal`; a run aborted before it is handed out rejects with the signal's reason. */
  async #follow(run: Run, signal: AbortSignal | undefined, mode: LinkMode): Promise<Run> {
    this.#runs.add(run)
    run.abortOn(signal)
    try {
      await run.begin(mode)
    } catch (error) {
      signal?.throwIfAborted()
      throw error
    }
    signal?.throwIfAborted()
    return run
  }

  /**
   * Starts a Claude Code task (the server runs its CLI headless with stream-json output) and
   * resolves once it runs. Its events include `claude.event` (init, text, tool_use, tool_result,
   * retry, rate_limit, result); `run.completed` carries the summary as `claude`.
   *
   * @example
   * const run = await client.claude({ prompt: 'fix the failing test', max_turns: 10 })
   * for await (const e of run) if (e.method === 'claude.event' && e.params.kind === 'text') console.log(e.params.text)
   * const { claude } = await run.completed // session_id, num_turns, total_cost_usd, result, …
   */
  async claude(params: ClaudeParams, { signal }: FollowOptions = {}): Promise<Run> {
    this.#assertOpen()
    signal?.throwIfAborted()
    const id = params.execution_id ?? randomId()
    const body = { ...params, execution_id: id, detach_grace: params.detach_grace ?? this.#detachGrace }
    const run = new Run(this.#context, id, true, params.prompt)
    return this.#follow(run, signal, { kind: 'execute', method: 'claude', params: body })
  }

  /** Checks an execution against its transcript (and a Claude task against Claude Code's own): GET …/verify. */
  verify(id: string): Promise<VerifyResult> {
    if (this.transport === 'ws') return this.#request('verify', { execution_id: id })
    return callJson(this.#http, 'GET', v1Path.verify(id))
  }

  /**
   * Follows an existing execution: events after `afterSeq` (default 0: all of them), then live ones.
   * After the end of an ended one there are none: `completed` is its completion all the same.
   */
  async attach(id: string, { afterSeq = 0, signal }: { afterSeq?: number } & FollowOptions = {}): Promise<Run> {
    this.#assertOpen()
    signal?.throwIfAborted()
    const run = new Run(this.#context, id, false, '')
    run.lastSeq = afterSeq
    if (afterSeq > 0) {
      // Beyond the end nothing would ever come; from its last seq, its completion does (not yielded again).
      const record = await this.status(id)
      if (record.state === 'exited' && afterSeq > record.last_seq) run.lastSeq = record.last_seq
    }
    return this.#follow(run, signal, { kind: 'attach', afterSeq: run.lastSeq })
  }

  /** Starts a command that runs until it ends by itself, whoever watches it (HTTP `detach: true`, on either transport). */
  startDetached(params: ExecuteRequest): Promise<Started> {
    this.#assertOpen()
    return callJson<Started>(this.#http, 'POST', v1Path.executions(), { ...params, detach: true })
  }

  /** `reason` (at most 512 characters) becomes the completion's reason of a CANCEL or KILL. */
  control(id: string, type: ControlType, reason?: string): Promise<{ status: string }> {
    const fields = reason === undefined ? { type } : { type, reason }
    if (this.transport === 'ws') return this.#request('control', { ...fields, execution_id: id })
    return callJson(this.#http, 'POST', v1Path.control(id), fields)
  }

  input(id: string, data: string, eof = false): Promise<{ written: number }> {
    if (this.transport === 'ws') return this.#request('input', { data, eof, execution_id: id })
    return callJson(this.#http, 'POST', v1Path.input(id), { data, eof })
  }

  /** The newest `limit` records (the server's default: 1,000) of those with `label` and `status` (all by default), oldest first. */
  async list({ limit, label, status }: { limit?: number } & ListFilter = {}): Promise<ExecutionRecord[]> {
    const params = { limit, label, status }
    // Sent as JSON: the fields left undefined are left out.
    if (this.transport === 'ws') return (await this.#request<{ executions: ExecutionRecord[] }>('list', params)).executions
    return (await callJson<{ executions: ExecutionRecord[] }>(this.#http, 'GET', `${v1Path.executions()}${listQuery(params)}`)).executions
  }

  status(id: string): Promise<ExecutionRecord> {
    if (this.transport === 'ws') return this.#request('status', { execution_id: id })
    return callJson(this.#http, 'GET', v1Path.execution(id))
  }

  /** Every event the server recorded for the execution (GET /v1/executions/{id}/transcript; HTTP on either transport). */
  async transcript(id: string): Promise<Transcript> {
    const response = await call(this.#http, 'GET', v1Path.transcript(id))
    const text = await response.text()
    const events = text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as ExecutionEvent)
    const header = response.headers.get('x-transcript-sha256')
    const match = header ? /stdout=([0-9a-f]+),\s*stderr=([0-9a-f]+)/.exec(header) : null
    return { events, sha256: match ? { stdout: match[1], stderr: match[2] } : null }
  }

  /** GET /health. */
  health(): Promise<Record<string, unknown>> {
    return callJson(this.#http, 'GET', '/health')
  }

  /** A raw JSON-RPC request on the client's shared WebSocket session (WebSocket transport only). */
  request<T = any>(method: string, params?: unknown): Promise<T> {
    this.#assertOpen()
    return this.#request(method, params)
  }

  /** The same, also while closing (close() cancels through it). */
  async #request<T>(method: string, params?: unknown): Promise<T> {
    if (this.transport !== 'ws') throw new TypeError(`request("${method}") needs the WebSocket transport`)
    let socket = await this.#sharedSocket()
    if (!socket.isOpen) {
      this.#shared = undefined
      socket = await this.#sharedSocket()
    }
    return socket.request<T>(method, params)
  }

  /** Cancels the executions this client started that still run, stops following the others, closes its sockets. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#runs].map((run) => run.close()))
    const shared = this.#shared
    this.#shared = undefined
    if (shared) (await shared.catch(() => undefined))?.close()
  }

  #assertOpen(): void {
    if (this.#closed) throw new ConnectionError('The client is closed', 'closed-by-client')
  }

  #observe({ timestamp, session_id }: { timestamp: number; session_id: string }): void {
    const previous = this.#beats.get(session_id)
    if (this.#beats.size > 64) this.#beats.clear()
    this.#beats.set(session_id, timestamp)
    if (previous === undefined) return
    const gap = timestamp - previous
    if (gap > 0 && gap < 86_400) this.#observedInterval = gap
  }

  #sharedSocket(): Promise<RpcSocket> {
    this.#shared ??= this.#openSocket((message) => {
      if (message.method === 'heartbeat' && message.params) this.#observe(message.params)
    }).catch((error) => {
      this.#shared = undefined
      throw error
    })
    return this.#shared
  }

  async #openSocket(onNotification: (message: Message) => void | Promise<void>): Promise<RpcSocket> {
    try {
      return await RpcSocket.open({
        url: this.endpoints.ws,
        protocols: this.#token ? bearerProtocols(this.#token) : undefined,
        WebSocket: this.#WebSocket!,
        watchdogMs: this.#watchdogMs,
        onNotification,
      })
    } catch (error) {
      if (!(error instanceof ConnectionError)) throw error
      // A refused upgrade looks the same as a dead server to a browser: the HTTP side tells which.
      try {
        await call(this.#http, 'GET', '/health')
      } catch (probe) {
        if (probe instanceof ExecutorError) throw probe
      }
      throw error
    }
  }

  async #wsLink(target: LinkTarget, mode: LinkMode): Promise<LinkResult> {
    const socket = await this.#openSocket((message) => target.onMessage(message))
    const link: Link = { closed: socket.closed, close: (reason) => socket.close(reason) }
    try {
      if (mode.kind !== 'execute') {
        try {
          const afterSeq = mode.kind === 'attach' ? mode.afterSeq : 0
          const { state } = await socket.request('attach', { execution_id: target.id, after_seq: afterSeq })
          return { link, state }
        } catch (error) {
          if (mode.kind === 'attach' || !isNoSuchExecution(error)) throw error
        }
      }
      try {
        const started = await socket.request<Started>(mode.method, mode.params)
        return { link, started }
      } catch (error) {
        if (error instanceof ConnectionError) error.requestSent = true
        throw error
      }
    } catch (error) {
      socket.close()
      throw error
    }
  }

  async #httpLink(target: LinkTarget, mode: LinkMode): Promise<LinkResult> {
    const open = async (method: 'GET' | 'POST', route: string, body?: unknown): Promise<LinkResult> => {
      const stream: EventStream = await openStream(this.#http, method, route, body, {
        watchdogMs: this.#watchdogMs,
        onMessage: (message) => target.onMessage(message),
      })
      return { link: { closed: stream.closed, close: (reason) => stream.close(reason) } }
    }
    if (mode.kind !== 'execute') {
      try {
        return await open('GET', v1Path.events(target.id, mode.kind === 'attach' ? mode.afterSeq : 0))
      } catch (error) {
        if (mode.kind === 'attach' || !isNoSuchExecution(error)) throw error
      }
    }
    try {
      return await open('POST', mode.method === 'claude' ? v1Path.claude() : v1Path.executions(), mode.params)
    } catch (error) {
      // Whether the POST reached the server is unknown: ask, so that a lost answer is never a lost run.
      if (error instanceof ConnectionError) {
        error.requestSent = await call(this.#http, 'GET', v1Path.execution(target.id)).then(
          () => true,
          () => false,
        )
      }
      throw error
    }
  }
}
