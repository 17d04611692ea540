/**
 * @module executions/registry — the executions this server knows, and the fan-out of each one's
 * events to its subscribers (WebSocket sessions, HTTP streams) with back-pressure, activity status,
 * and cancellation once nobody has watched for `detach_grace` seconds.
 */
import type { ExecutionHandle, ExecutionState, Executor } from '../executor.ts'
import { ErrorCode, RpcError } from '../protocol/errors.ts'
import { notification } from '../protocol/jsonrpc.ts'
import type { CompletedEvent, ExecuteParams, ExecutionEvent, StatusParams } from '../protocol/schemas.ts'

/** Where an execution's events go. `deliver` returns a promise while the subscriber is congested. */
export interface Subscriber {
  deliver(event: ExecutionEvent, text: string): void | Promise<void>
  /** Ephemeral notifications (process.status): best effort, never waited for. */
  notify(text: string): void
}

export interface ExecutionRecord {
  id: string
  execution_id: string
  command: string
  state: ExecutionState
  pid: number | null
  pgid: number | null
  started_at: string
  ended_at: string | null
  status: CompletedEvent['params']['status'] | 'running' | 'paused'
  exit_code: number | null
  last_seq: number
  subscribers: number
}

export interface RegistryOptions {
  executor: Executor
  /** Seconds without output before process.status, and between repeats while silence lasts. */
  activityTimeout?: number
  /** Default seconds an execution outlives its last subscriber. */
  detachGrace?: number
  /** Finished executions kept for list/status. */
  keepFinished?: number
}

/** One execution as the server sees it: the executor's handle plus its audience. */
export class Execution {
  readonly handle: ExecutionHandle
  readonly startedAt = new Date()
  endedAt: Date | null = null
  completion: CompletedEvent | undefined
  lastSeq = 0
  readonly #subscribers = new Set<Subscriber>()
  readonly #detachGraceMs: number
  readonly #activityMs: number
  #lastActivity = performance.now()
  #activityTimer: ReturnType<typeof setTimeout> | undefined
  #graceTimer: ReturnType<typeof setTimeout> | undefined
  #opened = false
  readonly done: Promise<void>
  #resolveDone!: () => void

  constructor(handle: ExecutionHandle, { detachGraceMs, activityMs }: { detachGraceMs: number; activityMs: number }) {
    this.handle = handle
    this.#detachGraceMs = detachGraceMs
    this.#activityMs = activityMs
    this.done = new Promise((resolve) => (this.#resolveDone = resolve))
  }

  get id(): string {
    return this.handle.id
  }

  get subscriberCount(): number {
    return this.#subscribers.size
  }

  /** Starts delivering events. Callers send their own reply first, so it precedes every event. */
  open(): void {
    if (this.#opened) return
    this.#opened = true
    this.#armActivity(this.#activityMs)
    void this.#pump()
  }

  subscribe(subscriber: Subscriber): void {
    this.#subscribers.add(subscriber)
    if (this.#graceTimer !== undefined) {
      clearTimeout(this.#graceTimer)
      this.#graceTimer = undefined
    }
  }

  /** Removes a subscriber; the last one leaving starts the detach grace (0: cancel now). */
  unsubscribe(subscriber: Subscriber): void {
    if (!this.#subscribers.delete(subscriber) || this.#subscribers.size > 0 || this.completion) return
    const cancel = () => {
      this.#graceTimer = undefined
      if (this.#subscribers.size === 0 && !this.completion) this.handle.control('CANCEL').catch(() => {})
    }
    if (this.#detachGraceMs <= 0) cancel()
    else this.#graceTimer = setTimeout(cancel, this.#detachGraceMs)
  }

  record(): ExecutionRecord {
    const c = this.completion?.params
    return {
      id: this.id,
      execution_id: this.id,
      command: this.handle.command,
      state: this.handle.state,
      pid: this.handle.pid,
      pgid: this.handle.pgid,
      started_at: this.startedAt.toISOString(),
      ended_at: this.endedAt?.toISOString() ?? null,
      status: c?.status ?? (this.handle.state === 'paused' ? 'paused' : 'running'),
      exit_code: c?.exit_code ?? null,
      last_seq: this.lastSeq,
      subscribers: this.#subscribers.size,
    }
  }

  async #pump(): Promise<void> {
    const reader = this.handle.events.getReader()
    try {
      for (;;) {
        const { value: event, done } = await reader.read()
        if (done) break
        this.lastSeq = event.params.seq
        if (event.method === 'process.output') this.#lastActivity = performance.now()
        if (event.method === 'process.completed') this.#finish(event)
        const text = JSON.stringify(event)
        let waits: Promise<void>[] | undefined
        for (const subscriber of this.#subscribers) {
          const congested = subscriber.deliver(event, text)
          if (congested) (waits ??= []).push(congested)
        }
        if (waits) await Promise.all(waits)
      }
    } catch (error) {
      // The event stream failed (an executor bug or a broken upstream): the record must still end.
      if (!this.completion) this.#finish(await this.handle.completed.catch(() => undefined))
      throw error
    } finally {
      reader.releaseLock()
      this.#resolveDone()
    }
  }

  #finish(event: CompletedEvent | undefined): void {
    this.completion = event
    this.endedAt = new Date()
    clearTimeout(this.#activityTimer)
    clearTimeout(this.#graceTimer)
  }

  #armActivity(delayMs: number): void {
    this.#activityTimer = setTimeout(() => this.#checkActivity(), delayMs)
  }

  #checkActivity(): void {
    if (this.completion) return
    const silentMs = performance.now() - this.#lastActivity
    if (silentMs < this.#activityMs) return this.#armActivity(this.#activityMs - silentMs)
    const paused = this.handle.state === 'paused'
    const seconds = Math.floor(silentMs / 1000)
    const params: StatusParams = {
      execution_id: this.id,
      status: paused ? 'paused' : 'running',
      pid: this.handle.pid,
      pgid: this.handle.pgid,
      inactive_seconds: seconds,
      message: paused ? `Process is paused (no output for ${seconds}s)` : `Process is running, no output for ${seconds}s`,
    }
    const text = notification('process.status', params)
    for (const subscriber of this.#subscribers) subscriber.notify(text)
    this.#armActivity(this.#activityMs)
  }
}

/** All executions of this server: start, look up, list, and end them all on shutdown. */
export class ExecutionRegistry {
  readonly #executor: Executor
  readonly #live = new Map<string, Execution>()
  readonly #starting = new Set<string>()
  readonly #finished = new Map<string, Execution>()
  readonly #activityMs: number
  readonly #detachGrace: number
  readonly #keepFinished: number

  constructor({ executor, activityTimeout = 30, detachGrace = 0, keepFinished = 1000 }: RegistryOptions) {
    this.#executor = executor
    this.#activityMs = activityTimeout * 1000
    this.#detachGrace = detachGrace
    this.#keepFinished = keepFinished
  }

  get running(): number {
    return this.#live.size + this.#starting.size
  }

  /** Starts an execution; call `open()` on the result once the caller's reply is on its way. */
  async start(params: ExecuteParams): Promise<Execution> {
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
    const execution = new Execution(handle, {
      detachGraceMs: (params.detach_grace ?? this.#detachGrace) * 1000,
      activityMs: this.#activityMs,
    })
    this.#live.set(id, execution)
    void execution.done.then(() => this.#retire(execution))
    return execution
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
    // `done` also covers delivery: subscribers hear of the completion before their sockets close.
    await Promise.all(live.map((e) => e.done))
    await this.#executor.close?.()
  }

  #retire(execution: Execution): void {
    this.#live.delete(execution.id)
    this.#finished.set(execution.id, execution)
    for (const id of this.#finished.keys()) {
      if (this.#finished.size <= this.#keepFinished) break
      this.#finished.delete(id)
    }
  }
}
