/**
 * @module client/ws — one JSON-RPC 2.0 session over a WebSocket: waits for `connected`, matches
 * replies to requests, hands notifications on, and declares the server dead when nothing at all
 * arrived for the watchdog's time (3× the heartbeat interval).
 */
import { ConnectionError, ExecutorError } from './errors.ts'

/**
 * What the client needs of a WebSocket: the WHATWG API that browsers, Deno, Bun, Workers and Node 22+
 * have globally, and that the `ws` package implements for older Node.
 */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((event: any) => void) | null
  onmessage: ((event: any) => void) | null
  onclose: ((event: any) => void) | null
  onerror: ((event: any) => void) | null
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

/** A JSON-RPC message from the server. */
export interface Message {
  jsonrpc: '2.0'
  method?: string
  params?: any
  id?: string | number | null
  result?: any
  error?: { code: number; message: string; data?: unknown }
}

export interface RpcSocketOptions {
  url: string
  protocols?: string[]
  WebSocket: WebSocketConstructor
  /** Milliseconds of total silence after which the server is considered dead (read at each check). */
  watchdogMs: () => number
  /** A returned promise holds the socket back (where the WebSocket can pause, as the ws package's can) until it settles. */
  onNotification: (message: Message) => void | Promise<void>
}

const OPEN = 1

export class RpcSocket {
  /** Resolves (never rejects) once the socket is gone, with the reason. */
  readonly closed: Promise<ConnectionError>
  sessionId = ''
  #ws: WebSocketLike
  #options: RpcSocketOptions
  #pending = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>()
  #nextId = 1
  #lastMessage = Date.now()
  #timer: ReturnType<typeof setTimeout> | undefined
  #ended: ConnectionError | undefined
  #resolveClosed!: (error: ConnectionError) => void
  #opened!: { resolve: () => void; reject: (error: Error) => void }
  /** A session-level error frame (`id: null`), e.g. -32003 before a close 1008. */
  #sessionError: ExecutorError | undefined
  /** Set while the consumer holds the socket back: silence then is ours, not the server's. */
  #holding = false

  private constructor(options: RpcSocketOptions, opened: { resolve: () => void; reject: (error: Error) => void }) {
    this.#options = options
    this.#opened = opened
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve))
    let ws: WebSocketLike
    try {
      ws = new options.WebSocket(options.url, options.protocols)
    } catch (error) {
      // e.g. a token that is not a valid subprotocol name
      throw new ConnectionError(`Cannot open ${options.url}: ${(error as Error).message}`, 'failed', { cause: error })
    }
    this.#ws = ws
    ws.onmessage = (event) => this.#onMessage(event)
    ws.onclose = (event) => {
      const detail = [event?.code, event?.reason].filter((x) => x !== undefined && x !== '').join(' ')
      this.#end(new ConnectionError(`The WebSocket closed${detail ? ` (${detail})` : ''}`, 'closed'))
    }
    ws.onerror = (event) => {
      const detail = event?.message ?? event?.error?.message
      this.#end(new ConnectionError(`WebSocket error${detail ? `: ${detail}` : ''}`, 'failed'))
    }
    this.#arm()
  }

  /** Opens a session; resolves once the server's `connected` notification arrived. */
  static open(options: RpcSocketOptions): Promise<RpcSocket> {
    return new Promise((resolve, reject) => {
      let socket: RpcSocket
      try {
        socket = new RpcSocket(options, { resolve: () => resolve(socket), reject })
      } catch (error) {
        reject(error)
      }
    })
  }

  get isOpen(): boolean {
    return this.#ended === undefined && this.#ws.readyState === OPEN
  }

  /** Sends a request; resolves with its result, rejects with ExecutorError or ConnectionError. */
  request<T = any>(method: string, params?: unknown): Promise<T> {
    if (this.#ended) return Promise.reject(this.#ended)
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      try {
        this.#ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
      } catch (error) {
        this.#pending.delete(id)
        reject(new ConnectionError(`Cannot send: ${(error as Error).message}`, 'failed', { cause: error }))
      }
    })
  }

  /** Abandons the session at once (the watchdog and the client use it: no closing handshake is awaited). */
  close(reason: ConnectionError = new ConnectionError('Closed by the client', 'closed-by-client')): void {
    this.#end(reason)
  }

  #onMessage(event: { data: unknown }): void {
    this.#lastMessage = Date.now()
    let message: Message
    try {
      message = JSON.parse(typeof event.data === 'string' ? event.data : String(event.data))
    } catch {
      return
    }
    if (message === null || typeof message !== 'object') return
    if (message.method === undefined) {
      const id = message.id
      if (typeof id === 'number' && this.#pending.has(id)) {
        const waiter = this.#pending.get(id)!
        this.#pending.delete(id)
        if (message.error) waiter.reject(ExecutorError.from(message.error))
        else waiter.resolve(message.result)
      } else if (message.error && (id === null || id === undefined)) {
        this.#sessionError = ExecutorError.from(message.error)
      }
      return
    }
    if (message.method === 'connected' && this.sessionId === '') {
      this.sessionId = String(message.params?.session_id ?? '')
      this.#opened.resolve()
      return
    }
    const held = this.#options.onNotification(message)
    if (held) this.#hold(held)
  }

  /**
   * Back-pressure where the runtime allows it: a paused socket stops reading, TCP fills, and the
   * server stops reading the child's output. Browsers cannot pause a WebSocket; there the events
   * wait in memory instead.
   */
  #hold(until: Promise<void>): void {
    const ws = this.#ws as WebSocketLike & { pause?: () => void; resume?: () => void }
    if (this.#holding || typeof ws.pause !== 'function' || typeof ws.resume !== 'function') return
    this.#holding = true
    ws.pause()
    void until.finally(() => {
      this.#holding = false
      this.#lastMessage = Date.now()
      if (!this.#ended) ws.resume!()
    })
  }

  /** The watchdog: one timer, re-armed for the moment the silence would reach its limit. */
  #arm(): void {
    const limit = this.#options.watchdogMs()
    const silent = this.#holding ? 0 : Date.now() - this.#lastMessage
    if (silent >= limit) {
      this.#end(new ConnectionError(`No message from the server for ${(silent / 1000).toFixed(1)} s (3× its heartbeat interval): considered dead`, 'silent'))
      return
    }
    this.#timer = setTimeout(() => this.#arm(), limit - silent + 5)
  }

  #end(reason: ConnectionError): void {
    if (this.#ended) return
    const error = this.#sessionError && reason.fault !== 'closed-by-client' ? this.#sessionError : reason
    this.#ended = reason
    clearTimeout(this.#timer)
    const ws = this.#ws
    // No-op handlers rather than null: the ws package throws an 'error' event nobody listens to.
    const ignore = () => {}
    ws.onmessage = ignore
    ws.onclose = ignore
    ws.onerror = ignore
    try {
      // A dead peer would hold a polite close for its whole timeout: drop it where the API allows.
      const terminate = (ws as { terminate?: () => void }).terminate
      if (reason.fault !== 'closed-by-client' && typeof terminate === 'function') terminate.call(ws)
      else ws.close(1000)
    } catch {
      // already closing
    }
    for (const waiter of this.#pending.values()) waiter.reject(error)
    this.#pending.clear()
    this.#opened.reject(error)
    this.#resolveClosed(reason)
  }
}
