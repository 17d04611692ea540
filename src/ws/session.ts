/**
 * @module ws/session — one WebSocket session: the connected frame, JSON-RPC dispatch, the
 * one-running-execution lock, heartbeats, and cleanup when the socket goes.
 */
import type { Execution, ExecutionRegistry, Subscriber } from '../executions/registry.ts'
import type { Logger } from '../logger.ts'
import { ErrorCode, RpcError, toRpcError } from '../protocol/errors.ts'
import * as rpc from '../protocol/jsonrpc.ts'
import {
  ControlParams,
  ExecuteParams,
  ExecutionRef,
  InputParams,
  parseParams,
  type RequestId,
} from '../protocol/schemas.ts'

/** A socket as the session needs it: `send` returns a promise while the socket is congested. */
export interface SocketChannel {
  send(text: string): void | Promise<void>
  close(code: number, reason: string): void
}

export const CAPABILITIES = ['execute', 'control', 'stream', 'heartbeat', 'input'] as const

export interface SessionOptions {
  registry: ExecutionRegistry
  version: string
  /** Seconds between heartbeat notifications. */
  heartbeatInterval: number
  logger: Logger
}

type Handler = (params: unknown) => Promise<unknown> | unknown

export class Session {
  readonly id = crypto.randomUUID()
  readonly #channel: SocketChannel
  readonly #registry: ExecutionRegistry
  readonly #options: SessionOptions
  readonly #subscriptions = new Map<Execution, Subscriber>()
  /** The execution that holds this session's lock, and whether one is being started. */
  #current: Execution | undefined
  #starting = false
  #heartbeat: ReturnType<typeof setInterval> | undefined
  #closed = false
  readonly #methods: Record<string, Handler> = {
    execute: (p) => this.#execute(p),
    control: (p) => this.#control(p),
    input: (p) => this.#input(p),
    status: (p) => this.#execution(parseParams(ExecutionRef, p).execution_id).record(),
    list: () => ({ executions: this.#registry.list() }),
    ping: () => ({ pong: Date.now() / 1000 }),
    // A client's pong is accepted and ignored: liveness is the transport's ping frames' job.
    pong: () => null,
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
      const value = await handler(params)
      if (id !== undefined) this.#reply(rpc.result(id, value))
      // Events flow only now, so that the execute result precedes every notification.
      if (method === 'execute') this.#current?.open()
    } catch (error) {
      const err = toRpcError(error)
      if (err.code === ErrorCode.INTERNAL_ERROR) this.#options.logger.error({ err: error, method, session_id: this.id }, 'request failed')
      if (id !== undefined) this.#reply(rpc.error(id as RequestId, err))
    }
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

  async #execute(raw: unknown): Promise<unknown> {
    const params = parseParams(ExecuteParams, raw)
    if (this.#starting || (this.#current && !this.#current.completion)) {
      throw new RpcError(ErrorCode.INVALID_PARAMS, 'A process is already running')
    }
    this.#starting = true
    try {
      const execution = await this.#registry.start(params)
      this.#current = execution
      this.#subscribe(execution)
      const { id, pid, pgid } = execution.handle
      return { status: 'started', execution_id: id, pid, pgid }
    } finally {
      this.#starting = false
    }
  }

  async #control(raw: unknown): Promise<unknown> {
    const { type, execution_id } = parseParams(ControlParams, raw)
    return this.#execution(execution_id).running().control(type)
  }

  async #input(raw: unknown): Promise<unknown> {
    const { data, eof, execution_id } = parseParams(InputParams, raw)
    return this.#execution(execution_id).running().write(data, eof)
  }

  /** The named execution, or this session's current one. */
  #execution(id: string | undefined): Execution {
    if (id !== undefined) return this.#registry.lookup(id)
    if (this.#current) return this.#current
    throw new RpcError(ErrorCode.NO_SUCH_PROCESS, 'No process is running in this session')
  }

  #subscribe(execution: Execution): void {
    const subscriber: Subscriber = {
      deliver: (_event, text) => (this.#closed ? undefined : this.#channel.send(text)),
      notify: (text) => this.#reply(text),
      end: () => this.#subscriptions.delete(execution),
    }
    this.#subscriptions.set(execution, subscriber)
    execution.subscribe(subscriber)
  }
}
