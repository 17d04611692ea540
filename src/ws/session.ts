/**
 * @module ws/session — one WebSocket session: the connected frame, JSON-RPC dispatch, the
 * one-running-execution lock, heartbeats, and cleanup when the socket goes.
 */
import { ClaudeParams } from '../claude/params.ts'
import type { Execution, ExecutionRegistry, Subscriber } from '../executions/registry.ts'
import type { Logger } from '../logger.ts'
import type { Observer } from '../observer.ts'
import type { Frame } from '../protocol/frame.ts'
import { ErrorCode, RpcError, toRpcError } from '../protocol/errors.ts'
import * as rpc from '../protocol/jsonrpc.ts'
import {
  ControlParams,
  ExecuteParams,
  AttachParams,
  DetachParams,
  ExecutionRef,
  InputParams,
  ListParams,
  parseParams,
  type RequestId,
} from '../protocol/schemas.ts'

/**
 * A socket as the session needs it: `send` returns a promise while the socket is congested. Every
 * message is a text frame; an event comes as its Frame, so a socket that takes bytes needs no encoding.
 */
export interface SocketChannel {
  send(message: string | Frame): void | Promise<void>
  close(code: number, reason: string): void
}

export const CAPABILITIES = ['execute', 'control', 'stream', 'heartbeat', 'attach', 'input', 'claude', 'verify', 'labels'] as const

export interface SessionOptions {
  registry: ExecutionRegistry
  version: string
  /** Seconds between heartbeat notifications. */
  heartbeatInterval: number
  /** Executions a session may follow at once (MAX_FOLLOWED); one more attach gets -32005. */
  maxFollowed: number
  logger: Logger
  /** The token the session authenticated with (null on an open server). */
  tokenId?: string | null
  observer?: Observer
}

/** A method's result, and what must happen only once the result is on its way (events that follow it). */
type Reply = { result: unknown; after?: () => void }
type Handler = (params: unknown) => Promise<Reply> | Reply

export class Session {
  readonly id = crypto.randomUUID()
  readonly #channel: SocketChannel
  readonly #registry: ExecutionRegistry
  readonly #options: SessionOptions
  readonly #subscriptions = new Map<Execution, Subscriber>()
  /** The execution that holds the session's lock, and whether one is being started. */
  #current: Execution | undefined
  #starting = false
  #heartbeat: ReturnType<typeof setInterval> | undefined
  #closed = false
  readonly #methods: Record<string, Handler> = {
    execute: (p) => {
      const params = parseParams(ExecuteParams, p)
      return this.#start((options) => this.#registry.start(params, options))
    },
    claude: (p) => {
      const params = parseParams(ClaudeParams, p)
      return this.#start((options) => this.#registry.startClaude(params, options))
    },
    verify: async (p) => ({ result: await this.#registry.verify((await this.#execution(parseParams(ExecutionRef, p).execution_id)).id) }),
    control: async (p) => {
      const { type, execution_id, reason } = parseParams(ControlParams, p)
      const id = execution_id ?? (await this.#execution(undefined)).id
      // Through the registry: a CANCEL or KILL whose executor is unavailable may be kept (pending).
      const result = await this.#registry.control(id, type, reason)
      this.#options.observer?.control?.({ execution_id: id, type, token_id: this.#options.tokenId ?? null })
      return { result }
    },
    input: async (p) => {
      const { data, eof, execution_id } = parseParams(InputParams, p)
      return { result: await (await this.#execution(execution_id)).running().write(data, eof) }
    },
    attach: (p) => this.#attach(p),
    detach: (p) => {
      this.#leave(this.#registry.lookup(parseParams(DetachParams, p).execution_id))
      return { result: { status: 'detached' } }
    },
    status: async (p) => ({ result: (await this.#execution(parseParams(ExecutionRef, p).execution_id)).record() }),
    list: async (p) => {
      const { limit, ...filter } = parseParams(ListParams, p ?? {})
      return { result: await this.#registry.listAll(limit, filter) }
    },
    labels: () => ({ result: { labels: this.#registry.labels() } }),
    ping: () => ({ result: { pong: Date.now() / 1000 } }),
    // A client's pong is accepted and ignored: liveness is the transport's ping frames' job.
    pong: () => ({ result: null }),
  }

  constructor(channel: SocketChannel, options: SessionOptions) {
    this.#channel = channel
    this.#registry = options.registry
    this.#options = options
  }

  open(): void {
    void this.#channel.send(
      rpc.notification('connected', { session_id: this.id, version: this.#options.version, capabilities: CAPABILITIES }),
    )
    const interval = this.#options.heartbeatInterval * 1000
    this.#heartbeat = setInterval(() => {
      void this.#channel.send(rpc.notification('heartbeat', { timestamp: Date.now() / 1000, session_id: this.id, status: 'alive' }))
    }, interval)
  }

  /** Handles one text frame. Never throws: every failure becomes a JSON-RPC error for this client. */
  async handleText(text: string): Promise<void> {
    const frame = rpc.parseFrame(text)
    if (!frame.ok) return this.#reply(rpc.error(frame.id, frame.error))
    const { id, method, params } = frame
    const handler = Object.hasOwn(this.#methods, method) ? this.#methods[method] : undefined
    try {
      if (!handler) throw new RpcError(ErrorCode.METHOD_NOT_FOUND, `Method not found: ${method}`)
      const { result, after } = await handler(params)
      if (id !== undefined) this.#reply(rpc.result(id, result))
      after?.()
    } catch (error) {
      const err = toRpcError(error)
      if (err.code === ErrorCode.INTERNAL_ERROR) this.#options.logger.error({ err: error, method, session_id: this.id }, 'request failed')
      if (id !== undefined) this.#reply(rpc.error(id as RequestId, err))
    }
  }

  #leave(execution: Execution): void {
    const subscriber = this.#subscriptions.get(execution)
    this.#subscriptions.delete(execution)
    if (subscriber) execution.unsubscribe(subscriber)
  }

  /** The socket is gone: stop timers and leave every execution (their detach grace starts). */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#heartbeat)
    for (const [execution, subscriber] of this.#subscriptions) execution.unsubscribe(subscriber)
    this.#subscriptions.clear()
    this.#current = undefined
  }

  #reply(text: string): void {
    if (!this.#closed) void this.#channel.send(text)
  }

  /** execute and claude: one running execution per session; its events follow the result. */
  async #start(start: (options: { startedBy: string; tokenId: string | null }) => Promise<Execution>): Promise<Reply> {
    if (this.#starting || (this.#current && !this.#current.completion)) {
      throw new RpcError(ErrorCode.INVALID_PARAMS, 'A process is already running')
    }
    this.#starting = true
    try {
      const execution = await start({ startedBy: this.id, tokenId: this.#options.tokenId ?? null })
      this.#current = execution
      this.#subscribe(execution, 0)
      const { id, pid, pgid } = execution.handle
      // Events flow only once the result is sent, so that it precedes every notification.
      const after = () => {
        execution.open()
        // The socket went while the execution was starting: leave it now, so that it ends as on any close.
        if (this.#closed) this.#leave(execution)
      }
      return { result: { status: 'started', execution_id: id, pid, pgid }, after }
    } finally {
      this.#starting = false
    }
  }

  /**
   * Watches another execution (or re-attaches to one): replay after `after_seq`, then live events.
   * Attaching to an execution the session already follows restarts its stream at `after_seq`.
   */
  async #attach(raw: unknown): Promise<Reply> {
    const { execution_id, after_seq } = parseParams(AttachParams, raw)
    const execution = await this.#registry.find(execution_id)
    const { state } = execution
    const { maxFollowed } = this.#options
    if (!this.#subscriptions.has(execution) && this.#subscriptions.size >= maxFollowed) {
      throw new RpcError(ErrorCode.RATE_LIMITED, `The session already follows ${maxFollowed} executions; detach from one, or wait for a replay to finish`)
    }
    const after = () => {
      // Looked up now, not when the request arrived: another attach handled meanwhile may have replaced it.
      const previous = this.#subscriptions.get(execution)
      // The new subscriber joins before the old one leaves, so the execution never sees none (no detach grace).
      this.#subscribe(execution, after_seq)
      if (previous) execution.unsubscribe(previous)
    }
    return { result: { status: 'attached', state }, after }
  }

  /** The named execution, or the session's current one. */
  async #execution(id: string | undefined): Promise<Execution> {
    if (id !== undefined) return this.#registry.find(id)
    if (this.#current) return this.#current
    throw new RpcError(ErrorCode.NO_SUCH_PROCESS, 'No process is running in the session')
  }

  #subscribe(execution: Execution, afterSeq: number): void {
    const subscriber: Subscriber = {
      deliver: (_event, frame) => (this.#closed ? undefined : this.#channel.send(frame)),
      notify: (text) => this.#reply(text),
      end: () => this.#subscriptions.delete(execution),
    }
    this.#subscriptions.set(execution, subscriber)
    execution.subscribe(subscriber, afterSeq)
  }
}
