/**
 * @module claude/bridge — seed 000's WebSocket dialect (its docker-simple MCP bridge) at
 * `/ws/claude`, as a thin translation over the `claude` execution: `connected {sessionId}` first;
 * `execute {command}` runs `command` as a Claude prompt; assistant text and tool results stream as
 * `output {type:"stdout", content}`; `statusUpdate {status:"RUNNING"}` every heartbeat interval
 * while it runs, then COMPLETED, FAILED or CANCELLED; errors carry code -32000. One task per
 * connection at a time; closing the connection cancels it, as the seed did.
 */
import type { Execution, ExecutionRegistry, Subscriber } from '../executions/registry.ts'
import type { Logger } from '../logger.ts'
import { RpcError } from '../protocol/errors.ts'
import { parseWith, type CompletedParams, type ExecutionEvent } from '../protocol/schemas.ts'
import type { SocketChannel } from '../ws/session.ts'
import { ClaudeParams } from './params.ts'

export interface BridgeOptions {
  registry: ExecutionRegistry
  /** Seconds between statusUpdate RUNNING while a task runs (BRIDGE_HEARTBEAT_INTERVAL). */
  heartbeatInterval: number
  tokenId: string | null
  logger: Logger
}

type Id = string | number | null

/** The dialect's one error code: every failure is -32000 with a message. */
const BRIDGE_ERROR = -32000

const STATUS: Record<CompletedParams['status'], 'COMPLETED' | 'FAILED' | 'CANCELLED'> = {
  completed: 'COMPLETED',
  failed: 'FAILED',
  timeout: 'FAILED',
  canceled: 'CANCELLED',
  killed: 'CANCELLED',
  interrupted: 'CANCELLED',
}

export class BridgeSession {
  readonly id = crypto.randomUUID()
  readonly #channel: SocketChannel
  readonly #options: BridgeOptions
  #task: { execution: Execution; subscriber: Subscriber; heartbeat: ReturnType<typeof setInterval> } | undefined
  #starting = false
  #closed = false

  constructor(channel: SocketChannel, options: BridgeOptions) {
    this.#channel = channel
    this.#options = options
  }

  open(): void {
    this.#send({ jsonrpc: '2.0', method: 'connected', params: { sessionId: this.id } })
  }

  async handleText(text: string): Promise<void> {
    let request: { method?: unknown; params?: unknown; id?: unknown }
    try {
      request = JSON.parse(text)
    } catch {
      return this.#error('Parse error: the frame is not valid JSON', null)
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) return this.#error('Invalid request', null)
    const id: Id = typeof request.id === 'string' || typeof request.id === 'number' ? request.id : null
    if (request.method !== 'execute') return this.#error('Unknown method', id)
    if (this.#starting || this.#task) return this.#error('A task is already running', id)
    const { command, ...options } = (typeof request.params === 'object' && request.params !== null ? request.params : {}) as Record<string, unknown>
    if (typeof command !== 'string' || command === '') return this.#error("Missing 'command' parameter", id)
    const parsed = parseWith(ClaudeParams, { ...options, prompt: command })
    if (!parsed.ok) return this.#error(`Invalid params: ${parsed.message}`, id)
    this.#starting = true
    try {
      const execution = await this.#options.registry.startClaude(parsed.value, { startedBy: this.id, tokenId: this.#options.tokenId })
      this.#follow(execution, id)
      execution.open()
      // The connection went while the task was starting: leave it now, so that it ends as on any close.
      if (this.#closed) this.#end()
    } catch (error) {
      this.#error(error instanceof RpcError ? error.message : 'Internal error', id)
      if (!(error instanceof RpcError)) this.#options.logger.error({ err: error, session_id: this.id }, 'bridge execute failed')
      this.#status('FAILED', id)
    } finally {
      this.#starting = false
    }
  }

  /** The socket is gone: leave the task (with no one left, its detach grace starts; 0 cancels it). */
  close(): void {
    this.#closed = true
    this.#end()
  }

  #follow(execution: Execution, id: Id): void {
    const subscriber: Subscriber = {
      deliver: (event) => this.#deliver(event, id),
      notify: () => {},
      end: () => this.#end(),
    }
    const heartbeat = setInterval(() => this.#status('RUNNING', id), this.#options.heartbeatInterval * 1000)
    this.#task = { execution, subscriber, heartbeat }
    execution.subscribe(subscriber, 0)
  }

  #deliver(event: ExecutionEvent, id: Id): void | Promise<void> {
    if (event.method === 'claude.event') {
      const p = event.params as Record<string, unknown>
      const content = p.kind === 'text' ? p.text : p.kind === 'tool_result' ? p.content : undefined
      if (typeof content === 'string') return this.#send({ jsonrpc: '2.0', method: 'output', params: { type: 'stdout', content }, id })
    } else if (event.method === 'process.completed') {
      const status = STATUS[event.params.status]
      if (status === 'FAILED') this.#error(event.params.reason, id)
      return this.#send({ jsonrpc: '2.0', method: 'statusUpdate', params: { status, execution_id: event.params.execution_id }, id })
    }
  }

  #end(): void {
    const task = this.#task
    if (!task) return
    this.#task = undefined
    clearInterval(task.heartbeat)
    task.execution.unsubscribe(task.subscriber)
  }

  #status(status: string, id: Id): void {
    this.#send({ jsonrpc: '2.0', method: 'statusUpdate', params: { status }, id })
  }

  #error(message: string, id: Id): void {
    this.#send({ jsonrpc: '2.0', error: { code: BRIDGE_ERROR, message }, id })
  }

  #send(message: unknown): void | Promise<void> {
    if (!this.#closed) return this.#channel.send(JSON.stringify(message))
  }
}
