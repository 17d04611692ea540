/**
 * @module executions/execution — one execution as the server sees it: the executor's handle, the
 * log of its events, its transcript, and its subscribers. Each subscriber reads at its own cursor:
 * from memory while it keeps up, from the transcript when it has fallen behind what memory holds.
 * Lossless back-pressure stops reading from the executor while every subscriber is `maxLag`
 * characters behind (without a transcript: while the slowest one is), and the child blocks.
 */
import { MAX_BATCH, type EventFlow, type ExecutionHandle, type ExecutionState } from '../executor/executor.ts'
import { ErrorCode, RpcError } from '../protocol/errors.ts'
import { Frame } from '../protocol/frame.ts'
import { eventFrame, notification } from '../protocol/jsonrpc.ts'
import type { CompletedEvent, CompletedParams, ExecutionEvent, StatusParams } from '../protocol/schemas.ts'
import { EventLog } from './event-log.ts'
import type { ExecutionRecord, ExecutionStore, TranscriptWriter } from './store.ts'

/** Where an execution's events go. `deliver` returns a promise while the subscriber is congested. */
export interface Subscriber {
  deliver(event: ExecutionEvent, frame: Frame): void | Promise<void>
  /** Ephemeral notifications (process.status, process.gap): best effort, never waited for. */
  notify(text: string): void
  /** Every event up to the completion has been delivered (or there was none left to deliver). */
  end?(): void
}

export interface ExecutionOptions {
  /** Milliseconds the execution outlives its last subscriber; Infinity for a detached one. */
  detachGraceMs: number
  activityMs: number
  /** How far (in frame sizes, ~bytes) a subscriber may fall behind before reading stops. */
  maxLag: number
  /** History kept in memory beyond what subscribers still need, in frame sizes (~bytes). */
  retain: number
  /** Who started it (a session id, or "http"), and with which token. */
  startedBy: string
  tokenId?: string | null
  store?: ExecutionStore
  kind?: 'command' | 'claude'
  label?: string | null
  /** The working directory requested (its record's `cwd`); none for the server's own. */
  cwd?: string | null
  /** Where Claude Code keeps a Claude task's own transcript, once its session id (and maybe the cwd it reported) is known. */
  claudeTranscript?: (sessionId: string, claudeCwd: string | null) => string
  /** Whether its stdin stays open for `input` (stdin "pipe"). */
  stdin?: 'pipe' | 'close'
  /** Its state changed (paused, resumed): watchers of the list hear of it. */
  onChange?: () => void
}

const NOT_QUEUED: unique symbol = Symbol('not queued')

/**
 * Reads an event stream (of a handle without `listen`) a batch at a time: the next event (waiting
 * for it), then every event the stream already holds (a read of a queued event is settled at once,
 * one that would wait is not, and is kept for the next batch). A Claude task queues an output
 * event with the events parsed from it, which then cost one transcript write instead of one each.
 */
class EventBatch {
  readonly #reader: ReadableStreamDefaultReader<ExecutionEvent>
  #pending: Promise<ReadableStreamReadResult<ExecutionEvent>> | undefined
  #done = false

  constructor(reader: ReadableStreamDefaultReader<ExecutionEvent>) {
    this.#reader = reader
  }

  /** The next events, at least one; none once the stream has ended. */
  async next(): Promise<ExecutionEvent[]> {
    if (this.#done) return []
    const first = await (this.#pending ?? this.#reader.read())
    this.#pending = undefined
    if (first.done) return this.#end()
    const events = [first.value]
    while (events.length < MAX_BATCH && events.at(-1)!.method !== 'process.completed') {
      const read = this.#reader.read()
      const next = await Promise.race<ReadableStreamReadResult<ExecutionEvent> | typeof NOT_QUEUED>([read, NOT_QUEUED])
      if (next === NOT_QUEUED) {
        this.#pending = read
        break
      }
      if (next.done) {
        this.#done = true
        break
      }
      events.push(next.value)
    }
    return events
  }

  #end(): ExecutionEvent[] {
    this.#done = true
    return []
  }
}

const activityNote = (activity: string | null | undefined) => (activity ? `; ${activity}` : '')

class Subscription {
  active = true
  /** Its delivery is under way (in #drain, or waiting for the subscriber or the transcript). */
  busy = false
  constructor(
    readonly subscriber: Subscriber,
    public cursor: number,
  ) {}
}

export class Execution {
  readonly handle: ExecutionHandle
  readonly startedAt: Date
  readonly startedBy: string
  endedAt: Date | null = null
  completion: CompletedEvent | undefined
  /** Resolves once every event has been read from the executor (and the record is stored). */
  readonly done: Promise<void>
  readonly #log = new EventLog()
  readonly #subscriptions = new Map<Subscriber, Subscription>()
  readonly #options: ExecutionOptions
  #lastActivity = performance.now()
  #activityTimer: ReturnType<typeof setTimeout> | undefined
  #graceTimer: ReturnType<typeof setTimeout> | undefined
  #opened = false
  /** Left to run where it runs (release): nobody's leaving cancels it here any more. */
  #released = false
  #resolveDone!: () => void
  #retain: number
  #deliveredWaiters: (() => void)[] = []
  /** Asks the executor for more events; set while it holds them back because subscribers lag. */
  #more: (() => void) | undefined
  /** A batch is being written to a transcript that writes asynchronously; nothing more is taken meanwhile. */
  #writing = false
  #ending = false
  /** The handle pushes its events (listen): they are delivered in the call that pushed them. */
  readonly #pushed: boolean
  /** A finished execution of an earlier run: its record, and events only on disk. */
  #stored: ExecutionRecord | undefined
  /** Its claude_transcript once finished (undefined until then). */
  #claudeTranscript: string | null | undefined
  #transcript: TranscriptWriter | undefined

  constructor(handle: ExecutionHandle, options: ExecutionOptions, startedAt = new Date()) {
    this.handle = handle
    this.#options = options
    this.#retain = options.retain
    this.#pushed = handle.listen !== undefined
    this.startedAt = startedAt
    this.startedBy = options.startedBy
    this.done = new Promise((resolve) => (this.#resolveDone = resolve))
  }

  /** An execution from an earlier run of the server, replayed from its transcript. */
  static restore(record: ExecutionRecord, store: ExecutionStore): Execution {
    const handle: ExecutionHandle = {
      id: record.id,
      pid: record.pid,
      pgid: record.pgid,
      command: record.command,
      state: 'exited',
      events: new ReadableStream({ start: (c) => c.close() }),
      control: () => Promise.reject(new RpcError(ErrorCode.NO_SUCH_PROCESS, `Execution ${record.id} has already ended`)),
      write: () => Promise.reject(new RpcError(ErrorCode.NO_SUCH_PROCESS, `Execution ${record.id} has already ended`)),
      completed: new Promise(() => {}),
    }
    const execution = new Execution(
      handle,
      { detachGraceMs: Infinity, activityMs: Infinity, maxLag: 0, retain: 0, startedBy: record.started_by, store },
      new Date(record.started_at),
    )
    // Records of older versions lack the Claude task fields.
    const older: Partial<ExecutionRecord> = record
    execution.#stored = {
      ...record,
      kind: older.kind ?? 'command',
      label: older.label ?? null,
      cwd: older.cwd ?? null,
      stdin: older.stdin ?? 'close',
      claude: older.claude ?? null,
      claude_transcript: older.claude_transcript ?? null,
    }
    execution.endedAt = record.ended_at ? new Date(record.ended_at) : null
    execution.#log.skipTo(record.last_seq)
    execution.#log.end()
    execution.#opened = true
    execution.#resolveDone()
    return execution
  }

  get id(): string {
    return this.handle.id
  }

  get lastSeq(): number {
    return this.#log.lastSeq
  }

  get ended(): boolean {
    return this.completion !== undefined || this.#stored !== undefined
  }

  /**
   * `exited` once the completion is recorded; until then `running` (or `paused`), also while the
   * command's leader has exited and what it left in its group or its pipes is still being waited for,
   * so that a record never says `exited` beside a `status` of `running`.
   */
  get state(): ExecutionState {
    if (this.ended) return 'exited'
    return this.handle.state === 'paused' ? 'paused' : 'running'
  }

  /** The record's status: `running` or `paused`, then how it completed. */
  get status(): ExecutionRecord['status'] {
    const state = this.state
    return state === 'exited' ? (this.#stored ?? this.completion!.params).status : state
  }

  get label(): string | null {
    return this.#stored?.label ?? this.#options.label ?? null
  }

  get tokenId(): string | null {
    return this.#stored?.token_id ?? this.#options.tokenId ?? null
  }

  get subscriberCount(): number {
    return this.#subscriptions.size
  }

  /** Where every event is written before anyone is sent it (set before `open`; it starts from the record). */
  recordTo(transcript: TranscriptWriter): void {
    if (this.#opened) throw new Error('recordTo after open: events would be missing from the transcript')
    this.#transcript = transcript
  }

  /**
   * Starts taking events. Callers send their own reply first, so it precedes every event. A handle
   * with `listen` pushes them, and each reaches caught-up subscribers in the call that read it from
   * the child; other handles' streams are read a batch at a time.
   */
  open(): void {
    if (this.#opened) return
    this.#opened = true
    this.#armActivity(this.#options.activityMs)
    if (!this.#pushed) return void this.#pump()
    let flow: EventFlow | undefined
    const more = () => flow!.more()
    flow = this.handle.listen!({
      push: (events) => {
        const room = this.#accept(events)
        if (!room) this.#more = more
        return room
      },
    })
  }

  /**
   * Adds a subscriber that receives every event with seq > afterSeq, then live events, in order.
   * Events neither in memory nor in a transcript are announced with process.gap, never skipped silently.
   */
  subscribe(subscriber: Subscriber, afterSeq = 0): void {
    if (this.#subscriptions.has(subscriber)) return
    const subscription = new Subscription(subscriber, afterSeq + 1)
    this.#subscriptions.set(subscriber, subscription)
    clearTimeout(this.#graceTimer)
    this.#graceTimer = undefined
    this.#drain(subscription)
  }

  /** Removes a subscriber; the last one leaving starts the detach grace (0: cancel now). */
  unsubscribe(subscriber: Subscriber): void {
    const subscription = this.#subscriptions.get(subscriber)
    if (!subscription) return
    subscription.active = false
    this.#subscriptions.delete(subscriber)
    this.#progress()
    if (this.#subscriptions.size === 0 && this.#log.ended) for (const wake of this.#deliveredWaiters.splice(0)) wake()
    if (this.#subscriptions.size > 0 || this.ended || this.#released) return
    const grace = this.#options.detachGraceMs
    const reason = grace <= 0 ? 'canceled: its last client went away (detach_grace 0)' : `canceled: no client came back within detach_grace (${grace / 1000} s)`
    const cancel = () => {
      this.#graceTimer = undefined
      if (this.#subscriptions.size === 0 && !this.completion) this.handle.control('CANCEL', reason).catch(() => {})
    }
    if (grace <= 0) cancel()
    else if (Number.isFinite(grace)) this.#graceTimer = setTimeout(cancel, grace)
  }

  /**
   * This app stops caring for the execution's lifetime and leaves it running where it runs (a
   * gateway shutting down: its executor's own detach grace applies there): its detach grace and
   * its activity reports here stop, and no subscriber leaving cancels it any more.
   */
  release(): void {
    this.#released = true
    clearTimeout(this.#graceTimer)
    this.#graceTimer = undefined
    clearTimeout(this.#activityTimer)
  }

  /** Resolves once every event was read and every subscriber has received all of them. */
  async delivered(): Promise<void> {
    await this.done
    if (this.#subscriptions.size > 0) await new Promise<void>((resolve) => this.#deliveredWaiters.push(resolve))
  }

  /** The handle, for control and input; -32002 once the execution has ended. */
  running(): ExecutionHandle {
    if (this.ended || this.handle.state === 'exited') {
      throw new RpcError(ErrorCode.NO_SUCH_PROCESS, `Execution ${this.id} has already ended`)
    }
    return this.handle
  }

  /** Claude Code's transcript of the finished task, worked out once (it may look at the file system). */
  #claudeTranscriptOf(c: CompletedParams): string | null {
    if (this.#claudeTranscript === undefined) {
      const sessionId = c.claude?.session_id
      this.#claudeTranscript = sessionId && this.#options.claudeTranscript ? this.#options.claudeTranscript(sessionId, this.handle.claudeCwd ?? null) : null
    }
    return this.#claudeTranscript
  }

  record(): ExecutionRecord {
    if (this.#stored) return { ...this.#stored, subscribers: this.#subscriptions.size }
    const c = this.completion?.params
    return {
      id: this.id,
      execution_id: this.id,
      kind: this.#options.kind ?? 'command',
      label: this.#options.label ?? null,
      stdin: this.#options.stdin ?? 'close',
      command: this.handle.command,
      cwd: this.#options.cwd ?? null,
      state: this.state,
      status: this.status,
      pid: this.handle.pid,
      pgid: this.handle.pgid,
      started_by: this.startedBy,
      token_id: this.#options.tokenId ?? null,
      started_at: this.startedAt.toISOString(),
      ended_at: this.endedAt?.toISOString() ?? null,
      exit_code: c?.exit_code ?? null,
      signal: c?.signal ?? null,
      reason: c?.reason ?? null,
      execution_time: c?.execution_time ?? null,
      stdout_bytes: c?.stdout_bytes ?? null,
      stderr_bytes: c?.stderr_bytes ?? null,
      dropped_bytes: c?.dropped_bytes ?? null,
      transcript_sha256: c?.transcript_sha256 ?? null,
      claude: c?.claude ?? null,
      claude_transcript: c ? this.#claudeTranscriptOf(c) : null,
      last_seq: this.lastSeq,
      subscribers: this.#subscriptions.size,
      ...(this.handle.owner === undefined ? {} : { executor: this.handle.owner }),
    }
  }

  /**
   * Events after `afterSeq` as far as they exist now, from memory or the transcript, stopping once
   * their output passes `maxChars` (at least one event is returned when any exists). For polling
   * readers (MCP's `output`): no subscription, so no detach grace is touched. `missing` counts events
   * neither memory nor a transcript holds any more (what a subscriber would get as process.gap).
   */
  async history(afterSeq: number, maxChars: number): Promise<{ events: ExecutionEvent[]; missing: number }> {
    const events: ExecutionEvent[] = []
    const last = this.#log.lastSeq
    let chars = 0
    let missing = 0
    let seq = afterSeq + 1
    const full = () => events.length > 0 && chars >= maxChars
    const take = (event: ExecutionEvent) => {
      events.push(event)
      if (event.method === 'process.output') chars += event.params.data.length
      seq = event.params.seq + 1
    }
    if (seq < this.#log.firstSeq && this.#options.store) {
      try {
        for await (const text of this.#options.store.read(this.id, seq, this.#log.firstSeq - 1)) {
          take(JSON.parse(text) as ExecutionEvent)
          if (full()) return { events, missing }
        }
      } catch {
        // An unreadable transcript: what it held counts as missing below.
      }
    }
    if (seq < this.#log.firstSeq) {
      missing = this.#log.firstSeq - seq
      seq = this.#log.firstSeq
    }
    for (; seq <= last && !full(); ) {
      const entry = this.#log.get(seq)
      if (!entry) break
      take(entry.event)
    }
    return { events, missing }
  }

  /**
   * Keeps only `chars` of history from now on (finished executions stay listed). Events a
   * subscriber has yet to receive are kept until it has them.
   */
  shrink(chars: number): void {
    this.#retain = chars
    this.#trim()
  }

  /**
   * Takes a batch of events from the executor: into the transcript, then the log, then to every
   * subscriber that is caught up. Returns whether there is room for more now; when there is not,
   * #progress asks for more (#more) once there is.
   */
  #accept(events: ExecutionEvent[]): boolean {
    const frames: Frame[] = []
    for (const event of events) {
      if (event.method === 'process.completed') this.#finish(event)
      frames.push(eventFrame(event))
    }
    // One write for the batch, and every event of it in the transcript before any is sent.
    const written = this.#transcript?.append(frames)
    if (!written) {
      this.#commit(events, frames)
      return !this.#lagging()
    }
    this.#writing = true
    void written
      .catch((error: unknown) => this.#transcriptFailed(error))
      .then(() => {
        this.#writing = false
        this.#commit(events, frames)
        this.#progress()
      })
    return false
  }

  #commit(events: ExecutionEvent[], frames: Frame[]): void {
    let changed = false
    let output = false
    for (let i = 0; i < events.length; i += 1) {
      const { method } = this.#log.append(events[i], frames[i]).event
      if (method === 'process.output') output = true
      else if (method === 'process.paused' || method === 'process.resumed') changed = true
    }
    if (events.at(-1)!.method === 'process.completed') this.#end()
    // Read from a stream, events wake each subscriber's own wait (EventLog.changed) instead.
    if (this.#pushed) for (const subscription of this.#subscriptions.values()) this.#drain(subscription)
    // Once for the batch, after the sends (a clock read is work a waiting reader would wait for).
    if (output) this.#lastActivity = performance.now()
    // After the deliveries, which keep what they still need.
    this.#trim()
    if (changed) this.#options.onChange?.()
  }

  /** The source is waiting for room: gives it some once no subscriber lags and no write is pending. */
  #progress(): void {
    if (!this.#more || this.#writing || this.#lagging()) return
    const more = this.#more
    this.#more = undefined
    more()
  }

  /** No event follows: subscribers finish, and the record is stored. */
  #end(): void {
    if (this.#ending) return
    this.#ending = true
    this.#log.end()
    const transcript = this.#transcript
    void (async () => {
      await transcript?.finish(this.record()).catch((error: unknown) => this.#transcriptFailed(error))
      this.#resolveDone()
    })()
  }

  /** Reads a handle's event stream (no `listen`): a batch at a time, while there is room. */
  async #pump(): Promise<void> {
    const reader = this.handle.events.getReader()
    const batch = new EventBatch(reader)
    try {
      for (let events = await batch.next(); events.length > 0; events = await batch.next()) {
        if (!this.#accept(events)) await new Promise<void>((resolve) => (this.#more = resolve))
      }
    } catch (error) {
      // The event stream failed (an executor bug or a broken upstream): the record must still end.
      if (!this.completion) this.#finish(await this.handle.completed.catch(() => undefined))
      throw error
    } finally {
      reader.releaseLock()
      this.#end()
    }
  }

  /**
   * Delivers to one subscriber what it has yet to receive, in the caller's turn while the
   * subscriber takes events at once; a congested subscriber or a catch-up from the transcript goes
   * on once that has settled. A caught-up subscriber waits for the next #commit: of pushed events,
   * which drains it; of events read from a stream, which wakes the wait it left (EventLog.changed).
   * That wait's continuation runs in the subscriber's own context: a runtime such as Workers binds
   * I/O (a WebSocket's send) to the request that waits, and one request may not send on another's.
   */
  #drain(subscription: Subscription): void {
    if (subscription.busy) return
    subscription.busy = true
    const log = this.#log
    const { subscriber } = subscription
    while (subscription.active) {
      const entry = log.get(subscription.cursor)
      if (!entry) {
        if (subscription.cursor < log.firstSeq) return this.#resumeAfter(subscription, this.#catchUp(subscription, log.firstSeq - 1))
        if (log.ended) this.#delivered(subscription)
        else if (!this.#pushed) {
          // Caught up: the source may be waiting for exactly that.
          this.#progress()
          return this.#resumeAfter(subscription, log.changed())
        }
        break
      }
      subscription.cursor += 1
      const congested = subscriber.deliver(entry.event, entry.frame)
      if (congested) return this.#resumeAfter(subscription, congested)
    }
    subscription.busy = false
    this.#progress()
    if (this.#subscriptions.size === 0 && log.ended) for (const wake of this.#deliveredWaiters.splice(0)) wake()
  }

  /** Delivery goes on once `wait` has settled (a closure only then: #drain runs for every event sent). */
  #resumeAfter(subscription: Subscription, wait: Promise<void>): void {
    const resume = () => {
      subscription.busy = false
      this.#progress()
      this.#drain(subscription)
    }
    void wait.then(resume, resume)
  }

  /** Everything, completion included, has been delivered to this subscriber. */
  #delivered(subscription: Subscription): void {
    subscription.active = false
    this.#subscriptions.delete(subscription.subscriber)
    subscription.subscriber.end?.()
    this.#trim()
  }

  /** Delivers events no longer in memory from the transcript; what is not there either is a gap. */
  async #catchUp(subscription: Subscription, toSeq: number): Promise<void> {
    const { subscriber } = subscription
    const store = this.#options.store
    // Events missing from the transcript (a write that failed, a damaged file) are announced as a
    // gap where they are missing, and what follows them is still delivered.
    const gapUntil = (seq: number) => {
      if (subscription.cursor >= seq) return
      subscriber.notify(notification('process.gap', { execution_id: this.id, from_seq: subscription.cursor, to_seq: seq - 1 }))
      subscription.cursor = seq
    }
    if (store) {
      try {
        for await (const text of store.read(this.id, subscription.cursor, toSeq)) {
          if (!subscription.active) return
          const event = JSON.parse(text) as ExecutionEvent
          const { seq } = event.params
          if (seq < subscription.cursor) continue
          gapUntil(seq)
          subscription.cursor += 1
          const congested = subscriber.deliver(event, Frame.ofText(text))
          if (congested) await congested
        }
      } catch {
        // An unreadable transcript: what could not be read is reported as a gap below.
      }
    }
    if (subscription.active) gapUntil(toSeq + 1)
  }

  /** Drops the history beyond `retain` that no subscriber still needs (worked out only when there is any). */
  #trim(): void {
    if (this.#log.held > this.#retain) this.#log.trim(this.#keepFrom(), this.#retain)
  }

  /** What memory must keep: what the fastest subscriber still needs (with a transcript), else the slowest. */
  #keepFrom(): number {
    return this.#options.store ? this.#fastest() : this.#slowest()
  }

  #slowest(): number {
    let slowest = Infinity
    for (const s of this.#subscriptions.values()) slowest = Math.min(slowest, s.cursor)
    return slowest
  }

  #fastest(): number {
    let fastest = 0
    for (const s of this.#subscriptions.values()) fastest = Math.max(fastest, s.cursor)
    return fastest === 0 ? Infinity : fastest
  }

  /** Back-pressure: with a transcript, slow subscribers read from disk and only the fastest one counts. */
  #lagging(): boolean {
    // No reader can be further behind than all the log holds.
    if (this.#subscriptions.size === 0 || this.#log.held <= this.#options.maxLag) return false
    const cursor = this.#options.store ? this.#fastest() : this.#slowest()
    return this.#log.sizeFrom(cursor) > this.#options.maxLag
  }

  #transcriptFailed(error: unknown): void {
    const text = notification('process.error', { execution_id: this.id, error: `transcript write failed: ${String(error)}` })
    for (const subscriber of this.#subscriptions.keys()) subscriber.notify(text)
  }

  #finish(event: CompletedEvent | undefined): void {
    this.completion = event
    this.endedAt = new Date()
    clearTimeout(this.#activityTimer)
    clearTimeout(this.#graceTimer)
  }

  #armActivity(delayMs: number): void {
    // Infinity: no process.status at all (a timer would take it as 1 ms, and fire for ever).
    // Released: it may never complete here, so nothing stays armed for it.
    if (!Number.isFinite(this.#options.activityMs) || this.#released) return
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
      message: paused ? `Process is paused (no output for ${seconds}s)` : `Process is running, no output for ${seconds}s${activityNote(this.handle.activity)}`,
    }
    const text = notification('process.status', params)
    for (const subscriber of this.#subscriptions.keys()) subscriber.notify(text)
    this.#armActivity(this.#options.activityMs)
  }
}
