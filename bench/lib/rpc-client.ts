/**
 * A minimal JSON-RPC 2.0 client over `ws`, with as little work per frame as possible: every frame
 * is JSON.parse'd once and handed to the listeners; nothing is kept.
 */
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { trackGroup } from './cleanup.ts'

export interface RpcError {
  code: number
  message: string
  data?: unknown
}

export interface Frame {
  jsonrpc: '2.0'
  id?: number | string | null
  method?: string
  params?: Record<string, unknown>
  result?: unknown
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

export class RpcClient {
  readonly ws: WebSocket
  readonly closed: Promise<void>
  #nextId = 1
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  readonly #executions = new Map<string, (frame: ExecutionFrame) => void>()
  #onOther: ((frame: Frame) => void) | undefined

  private constructor(ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data: Buffer) => this.#dispatch(JSON.parse(data.toString('utf8')) as Frame))
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()))
    void this.closed.then(() => {
      for (const { reject } of this.#pending.values()) reject(new Error('socket closed'))
      this.#pending.clear()
    })
  }

  /** Connects and resolves once the server's `connected` notification has arrived. */
  static open(url: string, timeoutMs = 30_000): Promise<RpcClient> {
    // The server does not negotiate permessage-deflate; say so rather than offer it.
    const ws = new WebSocket(url, { perMessageDeflate: false })
    const client = new RpcClient(ws)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`no "connected" frame within ${timeoutMs} ms`)), timeoutMs)
      const onError = (error: Error) => fail(error)
      const onClose = (code: number) => fail(new Error(`closed (${code}) before "connected"`))
      const fail = (error: Error) => {
        clearTimeout(timer)
        ws.terminate()
        reject(error)
      }
      ws.on('error', onError)
      ws.once('close', onClose)
      client.#onOther = (frame) => {
        if (frame.method === 'connected') {
          clearTimeout(timer)
          ws.off('error', onError).off('close', onClose)
          ws.on('error', () => {}) // a later failure ends up in `closed`
          client.#onOther = undefined
          resolve(client)
        } else if (frame.error) {
          fail(new Error(`server refused the session: ${frame.error.message}`))
        }
      }
    })
  }

  #dispatch(frame: Frame): void {
    const executionId = frame.params?.execution_id
    if (typeof executionId === 'string') {
      this.#executions.get(executionId)?.(frame as ExecutionFrame)
      return
    }
    if (typeof frame.id === 'number' && (frame.result !== undefined || frame.error !== undefined)) {
      const pending = this.#pending.get(frame.id)
      this.#pending.delete(frame.id)
      if (frame.error) pending?.reject(new Error(`RPC error ${frame.error.code}: ${frame.error.message}`))
      else pending?.resolve(frame.result)
      return
    }
    this.#onOther?.(frame)
  }

  request<T>(method: string, params?: Record<string, unknown>): Promise<T> {
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
    })
  }

  /**
   * Starts an execution and resolves with its completion. The execution id is chosen here, before
   * the request goes out, so that no event can arrive before its listener is in place (ws may
   * deliver the result and the first events in one tick). `onEvent` sees every event, completion included.
   */
  execute(params: Record<string, unknown>, onEvent?: (frame: ExecutionFrame) => void, method: 'execute' | 'claude' = 'execute'): Execution {
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
    const started = this.request<ExecuteResult>(method, { ...params, execution_id: executionId }).then(
      (result) => {
        // Should the server die, the bench still kills what it started.
        untrack = this.#executions.has(executionId) ? trackGroup(result.pgid) : undefined
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
  async close(timeoutMs = 3000): Promise<void> {
    this.ws.close()
    const timer = setTimeout(() => this.ws.terminate(), timeoutMs)
    await this.closed
    clearTimeout(timer)
  }
}

export interface Execution {
  id: string
  /** The execute result (pid, pgid). */
  started: Promise<ExecuteResult>
  completed: Promise<CompletedParams>
}
