/** @module executions/registry — the executions this server knows: start, look up, list, shut down. */
import type { ExecutionHandle, Executor } from '../executor.ts'
import { ErrorCode, RpcError } from '../protocol/errors.ts'
import type { Observer } from '../observer.ts'
import type { ExecuteParams } from '../protocol/schemas.ts'
import type { AllowList } from '../security/allow-list.ts'
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
  /**
   * Finished executions that keep some history in memory. Older ones are forgotten, or, with a
   * store, kept as records only (their events are on disk) until the store's retention deletes them.
   */
  keepFinished?: number
  /** Output held per execution, in event frame sizes (~bytes; MAX_BUFFER_SIZE): a quarter for lag, an eighth for replay. */
  bufferBytes?: number
  /** Transcripts and records beyond memory; without one, replay reaches only as far as memory. */
  store?: ExecutionStore
  /** When set, only these programs run, and never through a shell. */
  allowList?: AllowList
  limits?: Partial<ExecutionLimits>
  observer?: Observer
}

export interface ExecutionLimits {
  /** Executions running at once, in all. */
  maxExecutions: number
  /** Executions running at once with one token. */
  maxExecutionsPerToken: number
  /** Executions one token may start per minute. */
  startsPerMinute: number
}

const NO_LIMITS: ExecutionLimits = { maxExecutions: Infinity, maxExecutionsPerToken: Infinity, startsPerMinute: Infinity }

export interface StartOptions {
  /** Runs until it ends by itself, whoever watches it. */
  detached?: boolean
  /** A WebSocket session id, or "http". */
  startedBy?: string
  /** The token it is started with (null on an open server); limits count per token. */
  tokenId?: string | null
}

/** History a finished execution keeps in memory for a late replay. */
const FINISHED_RETAIN = 64 * 1024

/** All executions of this server: start, look up, list, and end them all on shutdown. */
export class ExecutionRegistry {
  readonly #executor: Executor
  readonly #live = new Map<string, Execution>()
  readonly #starting = new Set<string>()
  readonly #finished = new Map<string, Execution>()
  /** Finished executions beyond keepFinished, served from the store: records, no history in memory. */
  readonly #archived = new Map<string, Execution>()
  readonly #activityMs: number
  readonly #detachGrace: number
  readonly #keepFinished: number
  readonly #bufferBytes: number
  readonly #store: ExecutionStore | undefined
  readonly #allowList: AllowList | undefined
  readonly #limits: ExecutionLimits
  readonly #observer: Observer
  /** Start times within the last minute, per token. */
  readonly #starts = new Map<string, number[]>()

  constructor({
    executor,
    activityTimeout = 30,
    detachGrace = 0,
    keepFinished = 1000,
    bufferBytes = 8 * 1024 * 1024,
    store,
    allowList,
    limits,
    observer = {},
  }: RegistryOptions) {
    this.#executor = executor
    this.#store = store
    this.#allowList = allowList
    this.#limits = { ...NO_LIMITS, ...limits }
    this.#observer = observer
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
   * Refusals (allow-list -32001, limits -32005, a taken id -32602) start nothing.
   */
  async start(requested: ExecuteParams, { detached = false, startedBy = 'http', tokenId = null }: StartOptions = {}): Promise<Execution> {
    let params = requested
    try {
      if (this.#allowList) params = { ...requested, command: undefined, argv: this.#allowList.check(requested) }
      this.#checkLimits(tokenId)
    } catch (error) {
      if (error instanceof RpcError) this.#observer.refused?.({ code: error.code, reason: error.message, token_id: tokenId })
      throw error
    }
    const id = params.execution_id ?? crypto.randomUUID()
    // Also an id whose record is on disk: its transcript must never get a second execution's events.
    if (this.get(id) || this.#starting.has(id) || this.#store?.has(id)) {
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
    const execution = new Execution(handle, {
      detachGraceMs: detached ? Infinity : (params.detach_grace ?? this.#detachGrace) * 1000,
      activityMs: this.#activityMs,
      maxLag: this.#bufferBytes / 4,
      retain: this.#bufferBytes / 8,
      startedBy,
      tokenId,
      store: this.#store,
    })
    if (this.#store) {
      try {
        execution.recordTo(await this.#store.create(execution.record()))
      } catch (error) {
        // No transcript, no run: an execution whose output cannot be recorded is not started.
        await handle.control('KILL').catch(() => {})
        throw new RpcError(ErrorCode.INTERNAL_ERROR, 'Cannot create the transcript', { cause: String(error) })
      }
    }
    this.#live.set(id, execution)
    this.#observer.executionStarted?.(execution.record(), requested)
    void execution.done.then(() => {
      this.#retire(execution)
      this.#observer.executionEnded?.(execution.record())
    })
    return execution
  }

  /** Loads the records of earlier runs from the store (call once, before serving). */
  async restore(): Promise<void> {
    if (!this.#store) return
    for (const record of await this.#store.records()) {
      if (!this.get(record.id)) this.#remember(Execution.restore(record, this.#store))
    }
  }

  /** Drops a finished execution whose record and transcript were deleted (a running one stays). */
  forget(id: string): void {
    this.#finished.delete(id)
    this.#archived.delete(id)
  }

  get(id: string): Execution | undefined {
    return this.#live.get(id) ?? this.#finished.get(id) ?? this.#archived.get(id)
  }

  /** Like get, but throws the protocol's -32002 for an unknown id. */
  lookup(id: string): Execution {
    const execution = this.get(id)
    if (!execution) throw new RpcError(ErrorCode.NO_SUCH_PROCESS, `No execution ${id}`)
    return execution
  }

  /** The records of the newest `limit` executions, oldest first. */
  list(limit = Infinity): ExecutionRecord[] {
    const all = [...this.#archived.values(), ...this.#finished.values(), ...this.#live.values()]
    return all.slice(Math.max(0, all.length - limit)).map((e) => e.record())
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

  #checkLimits(tokenId: string | null): void {
    const { maxExecutions, maxExecutionsPerToken, startsPerMinute } = this.#limits
    if (this.running >= maxExecutions) throw new RpcError(ErrorCode.RATE_LIMITED, `Too many running executions (at most ${maxExecutions})`)
    const key = tokenId ?? ''
    let mine = 0
    for (const e of this.#live.values()) if ((e.tokenId ?? '') === key) mine += 1
    if (mine >= maxExecutionsPerToken) {
      throw new RpcError(ErrorCode.RATE_LIMITED, `Too many running executions for this token (at most ${maxExecutionsPerToken})`)
    }
    if (startsPerMinute !== Infinity) {
      const now = Date.now()
      const recent = (this.#starts.get(key) ?? []).filter((t) => now - t < 60_000)
      if (recent.length >= startsPerMinute) {
        this.#starts.set(key, recent)
        throw new RpcError(ErrorCode.RATE_LIMITED, `Rate limit: at most ${startsPerMinute} executions per minute`)
      }
      recent.push(now)
      this.#starts.set(key, recent)
    }
  }

  #retire(execution: Execution): void {
    this.#live.delete(execution.id)
    execution.shrink(FINISHED_RETAIN)
    this.#remember(execution)
  }

  #remember(execution: Execution): void {
    this.#finished.set(execution.id, execution)
    for (const [id, oldest] of this.#finished) {
      if (this.#finished.size <= this.#keepFinished) break
      this.#finished.delete(id)
      if (!this.#store) continue
      oldest.shrink(0)
      this.#archived.set(id, oldest)
    }
  }
}
