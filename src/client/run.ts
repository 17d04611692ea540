/**
 * @module client/run — one execution as the client sees it: an async iterable of its events,
 * `stdout`/`stderr` byte streams, a `completed` promise, control methods and stdin. Behind it a
 * link (a WebSocket session or an HTTP stream) that is replaced whenever it breaks or goes silent:
 * the new one resumes after the last seq received, so nothing is lost and nothing is repeated.
 */
import type { CompletedParams, ControlType, ExecuteParams, ExecutionEvent, GapParams, StatusParams } from '../protocol/schemas.ts'
import type { ClaudeParams } from '../claude/params.ts'
import { EventBuffer, type View } from './buffer.ts'
import { ConnectionError, isFatal } from './errors.ts'
import { reconnectDelayMs } from './http.ts'
import type { Message } from './ws.ts'

/** What the events iterator yields: the execution's seq'd events, and `process.gap` when the server lost some. */
export type GapEvent = { jsonrpc: '2.0'; method: 'process.gap'; params: GapParams }
export type ClientEvent = ExecutionEvent | GapEvent

export type RunState = 'starting' | 'running' | 'paused' | 'exited'
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed'

/** The execute request, as the server's `execute` takes it. */
export type ExecuteRequest = ExecuteParams

/** A live connection delivering one execution's notifications. */
export interface Link {
  /** Resolves (never rejects) once the link is gone, with the reason. */
  readonly closed: Promise<ConnectionError>
  close(reason?: ConnectionError): void
}

export interface LinkTarget {
  readonly id: string
  /** Every message that arrives on the link; a promise holds the link's reading back. */
  onMessage(message: Message): void | Promise<void>
}

/** What starts an execution: a command (`execute`, POST /v1/executions) or a Claude task (`claude`, POST /v1/claude). */
export type StartRequest =
  | { method: 'execute'; params: ExecuteRequest & { execution_id: string } }
  | { method: 'claude'; params: ClaudeParams & { execution_id: string } }

export type LinkMode =
  | ({ kind: 'execute' } & StartRequest)
  | { kind: 'attach'; afterSeq: number }
  /** The answer to a start was lost: attach if it started, else start it (the id makes this idempotent). */
  | ({ kind: 'execute-or-attach' } & StartRequest)

export interface LinkResult {
  link: Link
  started?: { pid: number | null; pgid: number | null }
  state?: 'running' | 'paused' | 'exited'
}

/** What a Run needs from its client. */
export interface RunContext {
  link(target: LinkTarget, mode: LinkMode): Promise<LinkResult>
  control(id: string, type: ControlType): Promise<{ status: string }>
  input(id: string, data: string, eof: boolean): Promise<{ written: number }>
  heartbeat(params: { timestamp: number; session_id: string }): void
  reconnected?(info: ReconnectInfo): void
  forget(run: Run): void
  reconnectTimeoutMs: number
  highWaterMark: number
}

export interface ReconnectInfo {
  execution_id: string
  /** 1 for the first attempt after a loss. */
  attempt: number
  /** Why the previous link ended (`fault: 'silent'` when the heartbeat watchdog fired). */
  error: Error
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const weight = (event: ClientEvent) => (event.method === 'process.output' ? event.params.data.length : 64)

export class Run implements AsyncIterable<ClientEvent> {
  readonly id: string
  /** Whether this client started it (then `close()` cancels it). */
  readonly owned: boolean
  pid: number | null = null
  pgid: number | null = null
  command: string
  state: RunState = 'starting'
  connection: ConnectionState = 'connecting'
  /** Links re-established after a loss. */
  reconnects = 0
  /** The last seq received: a new link resumes after it. */
  lastSeq = 0
  /** `Date.now()` of the last heartbeat, and of the last message of any kind. */
  lastHeartbeatAt: number | undefined
  lastMessageAt: number | undefined
  /** The last `process.status` notification (sent after a stretch without output). */
  lastStatus: StatusParams | undefined
  /** The completion's params; rejects with the error if the execution cannot be followed to its end. */
  readonly completed: Promise<CompletedParams>

  readonly #context: RunContext
  readonly #buffer: EventBuffer<ClientEvent>
  #link: Link | undefined
  #generation = 0
  #finished = false
  #acknowledged = false
  #start: StartRequest | undefined
  #failures = 0
  #lostSince: number | undefined
  #resolveCompleted!: (params: CompletedParams) => void
  #rejectCompleted!: (error: unknown) => void
  #started: Promise<void>
  #resolveStarted!: () => void
  #rejectStarted!: (error: unknown) => void
  #stdout: ReadableStream<Uint8Array> | undefined
  #stderr: ReadableStream<Uint8Array> | undefined
  #stdinDecoder: TextDecoder | undefined

  /** @internal Runs are made by `ExecutorClient.execute()` and `attach()`. */
  constructor(context: RunContext, id: string, owned: boolean, command: string) {
    this.#context = context
    this.id = id
    this.owned = owned
    this.command = command
    this.#buffer = new EventBuffer(weight, context.highWaterMark)
    this.completed = new Promise((resolve, reject) => {
      this.#resolveCompleted = resolve
      this.#rejectCompleted = reject
    })
    this.#started = new Promise((resolve, reject) => {
      this.#resolveStarted = resolve
      this.#rejectStarted = reject
    })
    // Nobody has to await these: an unobserved failure must not crash the host.
    this.completed.catch(() => {})
    this.#started.catch(() => {})
  }

  /** @internal Connects (executing or attaching) and starts following the execution. */
  async begin(mode: LinkMode): Promise<void> {
    if (mode.kind !== 'attach') this.#start = { method: mode.method, params: mode.params } as StartRequest
    else this.#acknowledged = true
    try {
      await this.#connect(mode)
    } catch (error) {
      if (!(error instanceof ConnectionError && error.requestSent)) {
        this.#fail(error)
        throw error
      }
      // The execute may have reached the server: reconnecting finds out (and never runs it twice).
      this.#watch(error)
      await this.#started
      return
    }
    this.#watch()
    if (mode.kind !== 'attach') await this.#started
  }

  // ---- reading ----

  /** Every event from the first (or the oldest still held, see the module notes), ending with process.completed. */
  async *events(): AsyncGenerator<ClientEvent, void, undefined> {
    const view = this.#buffer.open(() => true)
    try {
      for (;;) {
        const event = await this.#buffer.next(view)
        if (event === undefined) return
        yield event
      }
    } finally {
      this.#buffer.close(view)
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<ClientEvent, void, undefined> {
    return this.events()
  }

  /** The process's stdout, as UTF-8 bytes. */
  get stdout(): ReadableStream<Uint8Array> {
    return (this.#stdout ??= this.#output('stdout'))
  }

  /** The process's stderr, as UTF-8 bytes. */
  get stderr(): ReadableStream<Uint8Array> {
    return (this.#stderr ??= this.#output('stderr'))
  }

  #output(type: 'stdout' | 'stderr'): ReadableStream<Uint8Array> {
    const buffer = this.#buffer
    const view: View<ClientEvent> = buffer.open((e) => e.method === 'process.output' && e.params.type === type)
    const encoder = new TextEncoder()
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          try {
            for (;;) {
              const event = await buffer.next(view)
              if (event === undefined) {
                buffer.close(view)
                controller.close()
                return
              }
              if (event.method !== 'process.output' || event.params.data === '') continue
              controller.enqueue(encoder.encode(event.params.data))
              return
            }
          } catch (error) {
            buffer.close(view)
            controller.error(error)
          }
        },
        cancel() {
          buffer.close(view)
        },
      },
      { highWaterMark: 0 },
    )
  }

  // ---- steering ----

  control(type: ControlType): Promise<{ status: string }> {
    return this.#context.control(this.id, type)
  }
  /** SIGSTOP to the process group. */
  pause(): Promise<{ status: string }> {
    return this.control('PAUSE')
  }
  /** SIGCONT to the process group. */
  resume(): Promise<{ status: string }> {
    return this.control('RESUME')
  }
  /** SIGTERM to the group, SIGKILL after the server's grace; the run then completes with "canceled". */
  cancel(): Promise<{ status: string }> {
    return this.control('CANCEL')
  }
  /** SIGKILL to the group now. */
  kill(): Promise<{ status: string }> {
    return this.control('KILL')
  }
  /** SIGINT to the group. */
  interrupt(): Promise<{ status: string }> {
    return this.control('INTERRUPT')
  }

  /**
   * Writes to the process's stdin (the execution needs `stdin: "pipe"`); resolves once the child's
   * pipe took it. Bytes are decoded as UTF-8 (a character split between writes is kept whole).
   */
  write(data: string | Uint8Array, { eof = false }: { eof?: boolean } = {}): Promise<{ written: number }> {
    let text: string
    if (typeof data === 'string') text = (this.#stdinDecoder?.decode() ?? '') + data
    else text = (this.#stdinDecoder ??= new TextDecoder()).decode(data, { stream: !eof })
    return this.#context.input(this.id, text, eof)
  }

  /**
   * Stops following the execution without ending it. The server keeps it running for its
   * `detach_grace` (the client's default: 30 s) unless another client attaches. `completed` rejects.
   */
  detach(): void {
    this.#fail(new ConnectionError('Detached from the execution', 'closed-by-client'))
  }

  /**
   * @internal Ends the run as `close()` does when `signal` aborts: `completed` (and every view)
   * then rejects with the signal's reason.
   */
  abortOn(signal: AbortSignal | undefined): void {
    if (!signal) return
    const abort = () => void this.#close(signal.reason)
    if (signal.aborted) return abort()
    signal.addEventListener('abort', abort, { once: true })
    const forget = () => signal.removeEventListener('abort', abort)
    this.completed.then(forget, forget)
  }

  /**
   * Ends this client's part deliberately: cancels the execution if this client started it and it
   * still runs, then detaches. While its start is under way it first waits for the answer: a cancel
   * sent sooner would find no execution, which would then run on for its detach grace.
   */
  close(): Promise<void> {
    return this.#close(new ConnectionError('Detached from the execution', 'closed-by-client'))
  }

  async #close(reason: unknown): Promise<void> {
    if (this.#finished) return
    if (this.owned && this.state === 'starting') await this.#started.catch(() => {})
    if (this.owned && !this.#finished && this.state !== 'exited') await this.cancel().catch(() => {})
    this.#fail(reason)
  }

  get finished(): boolean {
    return this.#finished
  }

  // ---- the link ----

  async #connect(mode: LinkMode): Promise<void> {
    // One event of overlap: had the last one been the completion, nothing would follow after_seq, and
    // the run would wait for ever. The repeated event is dropped by seq (a completion ends the run).
    if (mode.kind === 'attach' && mode.afterSeq > 0) mode = { kind: 'attach', afterSeq: mode.afterSeq - 1 }
    const generation = ++this.#generation
    const target: LinkTarget = {
      id: this.id,
      onMessage: (message) => (generation === this.#generation ? this.#onMessage(message) : undefined),
    }
    const { link, started, state } = await this.#context.link(target, mode)
    if (this.#finished || generation !== this.#generation) {
      const reason = new ConnectionError('Superseded link', 'protocol')
      link.close(reason)
      if (this.#finished) return
      throw reason
    }
    this.#link = link
    if (started) {
      this.#acknowledged = true
      this.pid = started.pid
      this.pgid = started.pgid
      if (this.state === 'starting') this.state = 'running'
      this.#resolveStarted()
    }
    if (state && this.state !== 'exited') this.state = state
    if (this.connection === 'reconnecting') this.reconnects += 1
    this.connection = 'connected'
  }

  #watch(initial?: ConnectionError): void {
    this.#supervise(initial).catch((error: unknown) => this.#fail(error))
  }

  /** Follows the execution to its end, replacing each link that breaks or goes silent. */
  async #supervise(initial?: ConnectionError): Promise<void> {
    let reason: Error | undefined = initial
    for (;;) {
      // A short execution may be over before its link is even set (ws delivers a burst of frames at once).
      if (this.#finished) return
      if (reason === undefined) {
        if (!this.#link) return
        reason = await this.#link.closed
      }
      if (this.#finished) return
      this.connection = 'reconnecting'
      this.#lostSince ??= Date.now()
      this.#failures += 1
      this.#context.reconnected?.({ execution_id: this.id, attempt: this.#failures, error: reason })
      // The first retry is immediate; then 100 ms doubling to 3 s. Messages reset the count.
      const delay = reconnectDelayMs(this.#failures, 100, 3000)
      if (delay > 0) await sleep(delay)
      if (this.#finished) return
      try {
        await this.#connect(this.#resumeMode())
        reason = undefined
      } catch (error) {
        if (this.#finished) return
        if (isFatal(error)) return this.#fail(error)
        if (Date.now() - this.#lostSince > this.#context.reconnectTimeoutMs) {
          const seconds = Math.round(this.#context.reconnectTimeoutMs / 1000)
          return this.#fail(
            new ConnectionError(`Lost the connection to the server and could not reconnect within ${seconds} s: ${(error as Error).message}`, 'failed', {
              cause: error,
            }),
          )
        }
        reason = error as Error
      }
    }
  }

  #resumeMode(): LinkMode {
    if (!this.#acknowledged && this.#start) return { kind: 'execute-or-attach', ...this.#start }
    return { kind: 'attach', afterSeq: this.lastSeq }
  }

  #onMessage(message: Message): void | Promise<void> {
    const now = Date.now()
    this.lastMessageAt = now
    this.#failures = 0
    this.#lostSince = undefined
    if (message.method === 'heartbeat') {
      this.lastHeartbeatAt = now
      if (message.params) this.#context.heartbeat(message.params)
      return
    }
    const params = message.params
    if (!params || params.execution_id !== this.id || this.#finished) return
    if (message.method === 'process.status') {
      this.lastStatus = params
      if (this.state !== 'exited') this.state = params.status
      return
    }
    if (message.method === 'process.gap') {
      // The server no longer has these events: say so (those we do not hold), and carry on after them.
      if (params.to_seq <= this.lastSeq) return
      const gap = { ...(message as GapEvent), params: { ...params, from_seq: Math.max(params.from_seq, this.lastSeq + 1) } }
      this.lastSeq = params.to_seq
      this.#buffer.push(gap)
      return
    }
    const seq = params.seq
    if (typeof seq !== 'number') return
    if (seq <= this.lastSeq) {
      // Seen already (the overlap of an attach); a completion still ends the run, without being repeated.
      if (message.method === 'process.completed') this.#finish(params)
      return
    }
    if (seq !== this.lastSeq + 1) {
      // Never a silent hole: drop this link, and the next one resumes after the last seq we hold.
      this.#generation += 1
      this.#link?.close(new ConnectionError(`Events ${this.lastSeq + 1}-${seq - 1} are missing; resuming after ${this.lastSeq}`, 'protocol'))
      return
    }
    this.lastSeq = seq
    this.#acknowledged = true
    const event = message as ExecutionEvent
    switch (event.method) {
      case 'process.started':
        this.pid = event.params.pid
        this.pgid = event.params.pgid
        this.command = event.params.command
        if (this.state === 'starting') this.state = 'running'
        this.#resolveStarted()
        break
      case 'process.paused':
        this.state = 'paused'
        break
      case 'process.resumed':
        this.state = 'running'
        break
      case 'process.completed':
        this.#buffer.push(event)
        this.#finish(event.params)
        return
    }
    this.#buffer.push(event)
    return this.#buffer.room()
  }

  #finish(params: CompletedParams): void {
    this.#finished = true
    this.state = 'exited'
    this.connection = 'closed'
    this.#buffer.end()
    this.#resolveStarted()
    this.#resolveCompleted(params)
    this.#link?.close()
    this.#context.forget(this)
  }

  #fail(error: unknown): void {
    if (this.#finished) return
    this.#finished = true
    this.connection = 'closed'
    this.#buffer.fail(error)
    this.#rejectStarted(error)
    this.#rejectCompleted(error)
    this.#link?.close()
    this.#context.forget(this)
  }
}
