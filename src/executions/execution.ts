/**
 * @module executions/execution — one execution as the server sees it: the executor's handle, the
 * log of its events, and its subscribers. Each subscriber reads the log at its own cursor, so a
 * slow one never holds a fast one back; with the lossless policy the log stops reading from the
 * executor once the slowest subscriber is `maxLag` characters behind, and the child blocks.
 */
import type { ExecutionHandle, ExecutionState } from '../executor.ts'
import { ErrorCode, RpcError } from '../protocol/errors.ts'
import { notification } from '../protocol/jsonrpc.ts'
import type { CompletedEvent, ExecutionEvent, StatusParams } from '../protocol/schemas.ts'
import { EventLog } from './event-log.ts'

/** Where an execution's events go. `deliver` returns a promise while the subscriber is congested. */
export interface Subscriber {
  deliver(event: ExecutionEvent, text: string): void | Promise<void>
  /** Ephemeral notifications (process.status, process.gap): best effort, never waited for. */
  notify(text: string): void
  /** Every event up to the completion has been delivered (or there was none left to deliver). */
  end?(): void
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

export interface ExecutionOptions {
  /** Milliseconds the execution outlives its last subscriber; Infinity for a detached one. */
  detachGraceMs: number
  activityMs: number
  /** Characters the slowest subscriber may fall behind before reading stops (lossless policy). */
  maxLag: number
  /** Characters of history kept for replay beyond what subscribers still need. */
  retain: number
}

class Subscription {
  active = true
  constructor(
    readonly subscriber: Subscriber,
    public cursor: number,
  ) {}
}

export class Execution {
  readonly handle: ExecutionHandle
  readonly startedAt = new Date()
  endedAt: Date | null = null
  completion: CompletedEvent | undefined
  /** Resolves once every event has been read from the executor. */
  readonly done: Promise<void>
  readonly #log: EventLog
  readonly #subscriptions = new Map<Subscriber, Subscription>()
  readonly #options: ExecutionOptions
  #lastActivity = performance.now()
  #activityTimer: ReturnType<typeof setTimeout> | undefined
  #graceTimer: ReturnType<typeof setTimeout> | undefined
  #opened = false
  #resolveDone!: () => void
  /** Characters of history kept beyond what subscribers still need. */
  #retain: number
  /** Set while the pump waits for the slowest subscriber. */
  #progress: (() => void) | undefined

  constructor(handle: ExecutionHandle, options: ExecutionOptions) {
    this.handle = handle
    this.#options = options
    this.#retain = options.retain
    this.#log = new EventLog()
    this.done = new Promise((resolve) => (this.#resolveDone = resolve))
  }

  get id(): string {
    return this.handle.id
  }

  get lastSeq(): number {
    return this.#log.lastSeq
  }

  get subscriberCount(): number {
    return this.#subscriptions.size
  }

  /** Starts reading events. Callers send their own reply first, so it precedes every event. */
  open(): void {
    if (this.#opened) return
    this.#opened = true
    this.#armActivity(this.#options.activityMs)
    void this.#pump()
  }

  /**
   * Adds a subscriber that receives every event with seq > afterSeq, then live events, in order.
   * Events no longer held are announced with process.gap, never skipped silently.
   */
  subscribe(subscriber: Subscriber, afterSeq = 0): void {
    if (this.#subscriptions.has(subscriber)) return
    const subscription = new Subscription(subscriber, afterSeq + 1)
    this.#subscriptions.set(subscriber, subscription)
    clearTimeout(this.#graceTimer)
    this.#graceTimer = undefined
    void this.#deliver(subscription)
  }

  /** Removes a subscriber; the last one leaving starts the detach grace (0: cancel now). */
  unsubscribe(subscriber: Subscriber): void {
    const subscription = this.#subscriptions.get(subscriber)
    if (!subscription) return
    subscription.active = false
    this.#subscriptions.delete(subscriber)
    this.#progress?.()
    if (this.#subscriptions.size > 0 || this.completion) return
    const cancel = () => {
      this.#graceTimer = undefined
      if (this.#subscriptions.size === 0 && !this.completion) this.handle.control('CANCEL').catch(() => {})
    }
    const grace = this.#options.detachGraceMs
    if (grace <= 0) cancel()
    else if (Number.isFinite(grace)) this.#graceTimer = setTimeout(cancel, grace)
  }

  /** The handle, for control and input; -32002 once the execution has ended. */
  running(): ExecutionHandle {
    if (this.completion || this.handle.state === 'exited') {
      throw new RpcError(ErrorCode.NO_SUCH_PROCESS, `Execution ${this.id} has already ended`)
    }
    return this.handle
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
      subscribers: this.#subscriptions.size,
    }
  }

  /**
   * Keeps only `chars` of history from now on (finished executions stay listed). Events a
   * subscriber has yet to receive are kept until it has them.
   */
  shrink(chars: number): void {
    this.#retain = chars
    this.#log.trim(this.#slowestCursor(), chars)
  }

  async #pump(): Promise<void> {
    const reader = this.handle.events.getReader()
    try {
      for (;;) {
        const { value: event, done } = await reader.read()
        if (done) break
        if (event.method === 'process.output') this.#lastActivity = performance.now()
        if (event.method === 'process.completed') this.#finish(event)
        this.#log.append(event)
        this.#log.trim(this.#slowestCursor(), this.#retain)
        while (this.#lagging()) await new Promise<void>((resolve) => (this.#progress = resolve))
        this.#progress = undefined
      }
    } catch (error) {
      // The event stream failed (an executor bug or a broken upstream): the record must still end.
      if (!this.completion) this.#finish(await this.handle.completed.catch(() => undefined))
      throw error
    } finally {
      reader.releaseLock()
      this.#log.end()
      this.#resolveDone()
    }
  }

  async #deliver(subscription: Subscription): Promise<void> {
    const log = this.#log
    const { subscriber } = subscription
    while (subscription.active) {
      const entry = log.get(subscription.cursor)
      if (!entry) {
        if (subscription.cursor < log.firstSeq) {
          const params = { execution_id: this.id, from_seq: subscription.cursor, to_seq: log.firstSeq - 1 }
          subscriber.notify(notification('process.gap', params))
          subscription.cursor = log.firstSeq
          continue
        }
        if (log.ended) break
        await log.changed()
        continue
      }
      subscription.cursor += 1
      const congested = subscriber.deliver(entry.event, entry.text)
      if (congested) await congested
      this.#progress?.()
    }
    if (subscription.active) {
      // Everything, completion included, has been delivered.
      subscription.active = false
      this.#subscriptions.delete(subscriber)
      subscriber.end?.()
      log.trim(this.#slowestCursor(), this.#retain)
    }
  }

  #slowestCursor(): number {
    let slowest = Infinity
    for (const s of this.#subscriptions.values()) slowest = Math.min(slowest, s.cursor)
    return slowest
  }

  #lagging(): boolean {
    const slowest = this.#slowestCursor()
    return slowest !== Infinity && this.#log.charsFrom(slowest) > this.#options.maxLag
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
    if (silentMs < this.#options.activityMs) return this.#armActivity(this.#options.activityMs - silentMs)
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
    for (const subscriber of this.#subscriptions.keys()) subscriber.notify(text)
    this.#armActivity(this.#options.activityMs)
  }
}
