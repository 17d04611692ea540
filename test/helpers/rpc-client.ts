/**
 * A JSON-RPC 2.0 client over `ws` for the bench and the tests, with as little work per frame as
 * possible: every frame is JSON.parse'd once and handed to its listener; nothing is kept.
 * test/helpers/client.ts builds the tests' TestClient, which keeps every frame, on it.
 */
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { killOnExit } from './tracker.ts'

export interface RpcError {
  code: number
  message: string
  data?: unknown
}

export interface Frame {
  jsonrpc: '2.0'
  id?: number | string | null
  method?: string
  params?: any
  result?: any
  error?: RpcError
}

export interface OutputParams {
  execution_id: string
  seq: number
  type: 'stdout' | 'stderr'
  data: string
}

export interface CompletedParams {
  execution_id: string
  seq: number
  status: string
  exit_code: number | null
  signal: string | null
  stdout_bytes: number
  stderr_bytes: number
  execution_time: number
}

export interface ExecuteResult {
  status: string
  execution_id: string
  pid: number
  pgid: number
}

/** An execution event: a notification whose params name an execution. */
export type ExecutionFrame = Frame & { method: string; params: { execution_id: string; seq?: number } & Record<string, unknown> }

export type OpenOptions = WebSocket.ClientOptions & {
  /** How long open() waits for the `connected` frame (30 s unless given). */
  timeoutMs?: number
}

export interface Closed {
  code: number
  reason: string
}

export class RpcClient {
  readonly ws: WebSocket
  readonly closed: Promise<Closed>
  #nextId = 1
  readonly #pending = new Map<number, { resolve: (frame: Frame) => void; reject: (error: Error) => void }>()
  readonly #executions = new Map<string, (frame: ExecutionFrame) => void>()
  /** Settled by the server's `connected` frame, or its refusal, or a close before either. */
  readonly #connected: Promise<void>
  #settleConnected: { resolve: () => void; reject: (error: Error) => void } | undefined

  constructor(ws: WebSocket) {
    this.ws = ws
    this.#connected = new Promise((resolve, reject) => (this.#settleConnected = { resolve, reject }))
    this.#connected.catch(() => {}) // only open() waits for it
    ws.on('message', (data: Buffer) => this.receive(JSON.parse(data.toString('utf8')) as Frame))
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })))
    void this.closed.then(({ code }) => {
      this.#settleConnected?.reject(new Error(`closed (${code}) before "connected"`))
      for (const { reject } of this.#pending.values()) reject(new Error('socket closed'))
      this.#pending.clear()
    })
  }

  /** Opens the socket (without waiting for the `connected` frame). */
  static async connect<C extends RpcClient>(this: new (ws: WebSocket) => C, url: string, options?: WebSocket.ClientOptions): Promise<C> {
    const ws = new WebSocket(url, options)
    const client = new this(ws)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    ws.on('error', () => {}) // a later failure ends up in `closed`
    return client
  }

  /**
   * Connects and resolves once the server's `connected` notification has arrived; rejects when the
   * server refuses the session or says nothing within `timeoutMs`. The server does not negotiate
   * permessage-deflate, so it is not offered unless the options ask for it.
   */
  static async open<C extends RpcClient>(this: new (ws: WebSocket) => C, url: string, { timeoutMs = 30_000, ...options }: OpenOptions = {}): Promise<C> {
    const client = await (this as unknown as typeof RpcClient).connect(url, { perMessageDeflate: false, ...options })
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no "connected" frame within ${timeoutMs} ms`)), timeoutMs)))
    try {
      await Promise.race([client.#connected, timeout])
    } catch (error) {
      client.ws.terminate()
      throw error
    } finally {
      clearTimeout(timer)
    }
    return client as C
  }

  /** Every frame passes here once, parsed: to its execution's listener, its request, or the `connected` wait. */
  protected receive(frame: Frame): void {
    const executionId = frame.params?.execution_id
    if (typeof executionId === 'string') {
      this.#executions.get(executionId)?.(frame as ExecutionFrame)
      return
    }
    if (typeof frame.id === 'number' && (frame.result !== undefined || frame.error !== undefined)) {
      const pending = this.#pending.get(frame.id)
      this.#pending.delete(frame.id)
      pending?.resolve(frame)
      return
    }
    if (this.#settleConnected && (frame.method === 'connected' || frame.error)) {
      if (frame.error) this.#settleConnected.reject(new Error(`server refused the session: ${frame.error.message}`))
      else this.#settleConnected.resolve()
      this.#settleConnected = undefined
    }
  }

  /** Sends a request; returns its id. */
  protected send(method: string, params?: unknown): number {
    const id = this.#nextId++
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
    return id
  }

  /** Sends a request and resolves with its response frame (result or error); rejects if the socket closes first. */
  request(method: string, params?: unknown): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      this.#pending.set(this.send(method, params), { resolve, reject })
    })
  }

  /** Sends a request and resolves with its result; an error response rejects. */
  async call<T>(method: string, params?: Record<string, unknown>): Promise<T> {
    const response = await this.request(method, params)
    if (response.error) throw new Error(`RPC error ${response.error.code}: ${response.error.message}`)
    return response.result as T
  }

  /**
   * Starts an execution and resolves with its completion. The execution id is chosen here, before
   * the request goes out, so that no event can arrive before its listener is in place (ws may
   * deliver the result and the first events in one tick). `onEvent` sees every event, completion included.
   */
  start(params: Record<string, unknown>, onEvent?: (frame: ExecutionFrame) => void, method: 'execute' | 'claude' = 'execute'): Execution {
    const executionId = (params.execution_id as string | undefined) ?? randomUUID()
    let untrack: (() => void) | undefined
    let settle!: { resolve: (c: CompletedParams) => void; reject: (e: Error) => void }
    const completed = new Promise<CompletedParams>((resolve, reject) => (settle = { resolve, reject }))
    const finish = () => {
      this.#executions.delete(executionId)
      untrack?.()
    }
    this.#executions.set(executionId, (frame) => {
      onEvent?.(frame)
      if (frame.method === 'process.completed') {
        finish()
        settle.resolve(frame.params as unknown as CompletedParams)
      }
    })
    const started = this.call<ExecuteResult>(method, { ...params, execution_id: executionId }).then(
      (result) => {
        // Should the server die, what it started is still killed when this process ends.
        untrack = this.#executions.has(executionId) ? killOnExit(result.pgid, { group: true }) : undefined
        return result
      },
      (error: Error) => {
        finish()
        settle.reject(error)
        throw error
      },
    )
    void this.closed.then(() => {
      finish()
      settle.reject(new Error('socket closed before process.completed'))
    })
    // Callers await one or the other; neither may surface as an unhandled rejection.
    started.catch(() => {})
    completed.catch(() => {})
    return { id: executionId, started, completed }
  }

  /** Closing handshake; a peer that does not answer within `timeoutMs` gets the socket terminated. */
  async close(timeoutMs = 3000): Promise<Closed> {
    this.ws.close()
    const timer = setTimeout(() => this.ws.terminate(), timeoutMs)
    const closed = await this.closed
    clearTimeout(timer)
    return closed
  }
}

export interface Execution {
  id: string
  /** The execute result (pid, pgid). */
  started: Promise<ExecuteResult>
  completed: Promise<CompletedParams>
}
