/** @module executions/registry — the executions this server knows: start, look up, list, shut down. */
import type { ExecutionHandle, Executor } from '../executor.ts'
import { ErrorCode, RpcError } from '../protocol/errors.ts'
import type { ExecuteParams } from '../protocol/schemas.ts'
import { Execution } from './execution.ts'
import type { ExecutionRecord, ExecutionStore } from './store.ts'

export { Execution, type Subscriber } from './execution.ts'
export type { ExecutionRecord, ExecutionStore, TranscriptWriter } from './store.ts'

export interface RegistryOptions {
  executor: Executor
  /** Seconds without output before process.status, and between repeats while silence lasts. */
  activityTimeout?: number
  /** Default seconds an execution outlives its last subscriber. */
  detachGrace?: number
  /** Finished executions kept for list/status. */
  keepFinished?: number
  /** Output characters held per execution (MAX_BUFFER_SIZE): a quarter for lag, an eighth for replay. */
  bufferBytes?: number
  /** Transcripts and records beyond memory; without one, replay reaches only as far as memory. */
  store?: ExecutionStore
}

/** History a finished execution keeps in memory for a late replay. */
const FINISHED_RETAIN = 64 * 1024

/** All executions of this server: start, look up, list, and end them all on shutdown. */
export class ExecutionRegistry {
  readonly #executor: Executor
  readonly #live = new Map<string, Execution>()
  readonly #starting = new Set<string>()
  readonly #finished = new Map<string, Execution>()
  readonly #activityMs: number
  readonly #detachGrace: number
  readonly #keepFinished: number
  readonly #bufferBytes: number
  readonly #store: ExecutionStore | undefined

  constructor({ executor, activityTimeout = 30, detachGrace = 0, keepFinished = 1000, bufferBytes = 8 * 1024 * 1024, store }: RegistryOptions) {
    this.#executor = executor
    this.#store = store
    this.#bufferBytes = bufferBytes
    this.#activityMs = activityTimeout * 1000
    this.#detachGrace = detachGrace
    this.#keepFinished = keepFinished
  }

  get running(): number {
    return this.#live.size + this.#starting.size
  }

  /**
   * Starts an execution; call `open()` on the result once the caller's reply is on its way.
   * A detached execution runs until it ends by itself, whoever watches it.
   */
  async start(params: ExecuteParams, { detached = false, startedBy = 'http' } = {}): Promise<Execution> {
    const id = params.execution_id ?? crypto.randomUUID()
    if (this.#live.has(id) || this.#finished.has(id) || this.#starting.has(id)) {
      throw new RpcError(ErrorCode.INVALID_PARAMS, `execution_id ${id} is already in use`)
    }
    // Reserve the id across the await so that two concurrent starts cannot both take it.
    this.#starting.add(id)
    let handle: ExecutionHandle
    try {
      handle = await this.#executor.start({ ...params, execution_id: id })
    } finally {
      this.#starting.delete(id)
    }
    const options = {
      detachGraceMs: detached ? Infinity : (params.detach_grace ?? this.#detachGrace) * 1000,
      activityMs: this.#activityMs,
      maxLag: this.#bufferBytes / 4,
      retain: this.#bufferBytes / 8,
      startedBy,
      store: this.#store,
    }
    let execution = new Execution(handle, options)
    if (this.#store) {
      try {
        const transcript = await this.#store.create(execution.record())
        execution = new Execution(handle, { ...options, transcript }, execution.startedAt)
      } catch (error) {
        // No transcript, no run: an execution whose output cannot be recorded is not started.
        await handle.control('KILL').catch(() => {})
        throw new RpcError(ErrorCode.INTERNAL_ERROR, 'Cannot create the transcript', { cause: String(error) })
      }
    }
    this.#live.set(id, execution)
    void execution.done.then(() => this.#retire(execution))
    return execution
  }

  /** Loads the records of earlier runs from the store (call once, before serving). */
  async restore(): Promise<void> {
    if (!this.#store) return
    for (const record of await this.#store.records()) {
      if (!this.get(record.id)) this.#remember(Execution.restore(record, this.#store))
    }
  }

  get(id: string): Execution | undefined {
    return this.#live.get(id) ?? this.#finished.get(id)
  }

  /** Like get, but throws the protocol's -32002 for an unknown id. */
  lookup(id: string): Execution {
    const execution = this.get(id)
    if (!execution) throw new RpcError(ErrorCode.NO_SUCH_PROCESS, `No execution ${id}`)
    return execution
  }

  list(): ExecutionRecord[] {
    return [...this.#finished.values(), ...this.#live.values()].map((e) => e.record())
  }

  /** Cancels every running execution and waits until each has completed (its group is gone). */
  async shutdown(): Promise<void> {
    const live = [...this.#live.values()]
    for (const e of live) e.open()
    await Promise.all(live.map((e) => e.handle.control('CANCEL').catch(() => {})))
    // Subscribers hear of the completion before their sockets close.
    await Promise.all(live.map((e) => e.delivered()))
    await this.#executor.close?.()
  }

  #retire(execution: Execution): void {
    this.#live.delete(execution.id)
    execution.shrink(FINISHED_RETAIN)
    this.#remember(execution)
  }

  #remember(execution: Execution): void {
    this.#finished.set(execution.id, execution)
    for (const id of this.#finished.keys()) {
      if (this.#finished.size <= this.#keepFinished) break
      this.#finished.delete(id)
    }
  }
}
