/** @module executions/registry — the executions this server knows: start, look up, list, shut down. */
import { claudeArgv, type ClaudeParams } from '../claude/params.ts'
import { claudeTask } from '../claude/task.ts'
import { verifyExecution, type VerifyResult } from '../claude/verify.ts'
import { SHUTTING_DOWN, type ExecutionHandle, type Executor, type LaunchOptions } from '../executor/executor.ts'
import { ErrorCode, RpcError } from '../protocol/errors.ts'
import { isFiltered, matchesFilter, type ListFilter } from '../protocol/list-filter.ts'
import type { Observer } from '../observer.ts'
import type { ControlType, ExecuteParams } from '../protocol/schemas.ts'
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
  /** How this host runs Claude Code; without it (and without an executor that runs Claude tasks itself) `claude` is refused. */
  claude?: ClaudeRuntime
}

/** What the host knows of Claude Code: the CLI to run, and where it keeps its own session transcripts. */
export interface ClaudeRuntime {
  /** The CLI (CLAUDE_BIN): a name looked up on PATH, or a path. */
  bin: string
  /** Claude Code's transcript of a session run in `cwd` with `env` over the server's environment. */
  transcriptPath(session: { session_id: string; cwd?: string; env?: Record<string, string> }): string
  /** A file's text as this host sees it; null when it does not exist. */
  readText(path: string): Promise<string | null>
  /**
   * Where the session of a transcriptPath that holds no file is, if anywhere: Claude Code names its
   * project directories by rules of its own, so a file of that name in another one of the same
   * config dir. Null when there is none.
   */
  findTranscript?(path: string): Promise<string | null>
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

type Launch = (params: ExecuteParams & { execution_id: string }, options: LaunchOptions) => Promise<ExecutionHandle>

/** A label's tally: finished executions that completed, and those that failed, timed out or were killed. */
export interface LabelStats {
  label: string
  successes: number
  failures: number
  /** successes / failures; successes itself while there is no failure. */
  ratio: number
  /** successes >= 10 x failures, with at least 10 successes (the seeds' 10:1 rule). */
  graduated: boolean
}

/** What a list watcher hears: an execution started, changed state (paused, resumed) or ended. */
export type ListWatcher = (record: ExecutionRecord) => void

/** How a finished execution counts for its label: a success, a failure, or (canceled, still running) not at all. */
export function labelOutcome(status: ExecutionRecord['status']): 'success' | 'failure' | undefined {
  if (status === 'completed') return 'success'
  if (status === 'failed' || status === 'timeout' || status === 'killed') return 'failure'
  return undefined
}

/** Seconds a refused client is told to wait (Retry-After) when the server is at capacity. */
export const RETRY_AFTER = 1

/** History a finished execution keeps in memory for a late replay. */
const FINISHED_RETAIN = 64 * 1024

/**
 * How many of the executions held there are of each label and status, kept as they come, change
 * and go: a filtered count (a filtered watch takes one at every change) sums a few entries instead
 * of scanning every execution held.
 */
class HeldCounts {
  /** By label and status: how many. */
  readonly #counts = new Map<string, { label: string | null; status: string; count: number }>()
  /** By execution id: the entry it is counted in. */
  readonly #counted = new Map<string, string>()

  /** The execution `id` is now held with this label and status, or (undefined) is not held any more. */
  set(id: string, held: { label: string | null; status: string } | undefined): void {
    const key = held && `${held.status}\u0000${held.label ?? ''}\u0000${held.label === null ? 'n' : 'l'}`
    const before = this.#counted.get(id)
    if (before === key) return
    if (before !== undefined) {
      const entry = this.#counts.get(before)!
      if (--entry.count === 0) this.#counts.delete(before)
      this.#counted.delete(id)
    }
    if (held && key) {
      const entry = this.#counts.get(key)
      if (entry) entry.count += 1
      else this.#counts.set(key, { label: held.label, status: held.status, count: 1 })
      this.#counted.set(id, key)
    }
  }

  count(filter: ListFilter): number {
    let matching = 0
    for (const entry of this.#counts.values()) if (matchesFilter(entry, filter)) matching += entry.count
    return matching
  }
}

/** All executions of this server: start, look up, list, and end them all on shutdown. */
export class ExecutionRegistry {
  readonly #executor: Executor
  readonly #live = new Map<string, Execution>()
  readonly #starting = new Set<string>()
  /** Executions being adopted (see find), so that concurrent requests for one follow it once. */
  readonly #adopting = new Map<string, Promise<Execution>>()
  readonly #finished = new Map<string, Execution>()
  /** Finished executions beyond keepFinished, served from the store: records, no history in memory. */
  readonly #archived = new Map<string, Execution>()
  /** Those three's executions by label and status (see #recount). */
  readonly #held = new HeldCounts()
  readonly #activityMs: number
  readonly #detachGrace: number
  readonly #keepFinished: number
  readonly #bufferBytes: number
  readonly #store: ExecutionStore | undefined
  readonly #allowList: AllowList | undefined
  readonly #limits: ExecutionLimits
  readonly #observer: Observer
  readonly #claude: ClaudeRuntime | undefined
  /** Start times within the last minute, per token. */
  readonly #starts = new Map<string, number[]>()
  readonly #watchers = new Set<ListWatcher>()
  /** Per label: successes and failures, from the restored records and every execution ended since. */
  readonly #labels = new Map<string, { successes: number; failures: number }>()
  /** Shutting down (see shutdown): nothing starts any more. */
  #closing = false

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
    claude,
  }: RegistryOptions) {
    this.#executor = executor
    this.#claude = claude
    this.#store = store
    this.#allowList = allowList
    this.#limits = { ...NO_LIMITS, ...limits }
    this.#observer = observer
    this.#bufferBytes = bufferBytes
    this.#activityMs = activityTimeout * 1000
    this.#detachGrace = detachGrace
    this.#keepFinished = keepFinished
  }

  /** Executions that may run at once (MAX_EXECUTIONS); Infinity without a limit. */
  get capacity(): number {
    return this.#limits.maxExecutions
  }

  get running(): number {
    this.#letGo()
    return this.#live.size + this.#starting.size
  }

  /**
   * Starts an execution; call `open()` on the result once the caller's reply is on its way.
   * Refusals (allow-list -32001, limits -32005, a taken id -32602) start nothing.
   */
  start(requested: ExecuteParams, options: StartOptions = {}): Promise<Execution> {
    return this.#launch(requested, options, { kind: 'command', checked: true, launch: (params, launched) => this.#executor.start(params, launched) })
  }

  /**
   * Starts a Claude task: the Claude Code CLI with stream-json output, its events parsed (see
   * claude/task). `continue` names an earlier execution whose session is resumed. The allow-list
   * applies to the CLI; an executor that runs Claude tasks itself (a gateway's) applies its own.
   */
  async startClaude(requested: ClaudeParams, options: StartOptions = {}): Promise<Execution> {
    const runtime = this.#claude
    const native = this.#executor.startClaude?.bind(this.#executor)
    if (!runtime && !native) throw new RpcError(ErrorCode.METHOD_NOT_FOUND, 'This server runs no Claude tasks (no Claude Code configured)')
    const earlier = requested.continue === undefined ? undefined : await this.#sessionOf(requested.continue)
    const session = earlier ? earlier.session : requested.resume
    // Claude Code keeps a session under its project directory: a continued one is found only from the same cwd.
    const cwd = requested.cwd ?? earlier?.cwd ?? undefined
    const { env, timeout, idle_timeout, execution_id, detach_grace, label } = requested
    const bin = runtime?.bin ?? 'claude'
    const params: ExecuteParams = { argv: claudeArgv(bin, requested, session), cwd, env, timeout, idle_timeout, execution_id, detach_grace, label }
    // The cwd Claude Code reported is the path it keyed the session by; the one asked for is the fallback.
    const transcriptPath = runtime && ((session_id: string, claudeCwd: string | null) => runtime.transcriptPath({ session_id, cwd: claudeCwd ?? cwd, env }))
    if (native) {
      const forwarded = { ...requested, continue: undefined, resume: session, cwd }
      // Where the continued task ran: its session's files are there.
      if (requested.continue !== undefined && execution_id === undefined && this.#executor.newId) params.execution_id = await this.#executor.newId(requested.continue)
      return this.#launch(params, options, { kind: 'claude', checked: false, transcriptPath, launch: ({ execution_id }, launched) => native({ ...forwarded, execution_id }, launched) })
    }
    const launch: Launch = async (p, launched) => {
      const handle = await this.#executor.start(p, launched).catch((error: unknown) => {
        if (!(error instanceof RpcError) || error.code !== ErrorCode.INTERNAL_ERROR) throw error
        throw new RpcError(ErrorCode.INTERNAL_ERROR, `Claude Code cannot be started (CLAUDE_BIN=${bin}): ${error.message}`, error.data)
      })
      return claudeTask(handle)
    }
    return this.#launch(params, options, { kind: 'claude', checked: true, transcriptPath, launch })
  }

  /** Checks an execution against its transcripts (claude/verify); an executor that keeps them elsewhere checks it there. */
  async verify(id: string): Promise<VerifyResult> {
    const execution = await this.find(id)
    if (this.#executor.verify) return this.#executor.verify(id)
    return verifyExecution(execution, { store: this.#store, claude: this.#claude })
  }

  /** The Claude session of an earlier Claude task, and the cwd it ran in, for `continue`. */
  async #sessionOf(executionId: string): Promise<{ session: string; cwd: string | null }> {
    const record = (await this.find(executionId)).record()
    const session = record.claude?.session_id
    if (record.kind !== 'claude') throw new RpcError(ErrorCode.INVALID_PARAMS, `Invalid params: continue: execution ${executionId} is not a Claude task`)
    if (!session) throw new RpcError(ErrorCode.INVALID_PARAMS, `Invalid params: continue: execution ${executionId} has no Claude session (yet)`)
    // Records of older versions lack cwd.
    return { session, cwd: record.cwd ?? null }
  }

  async #launch(
    requested: ExecuteParams,
    { detached = false, startedBy = 'http', tokenId = null }: StartOptions,
    how: { kind: 'command' | 'claude'; checked: boolean; launch: Launch; transcriptPath?: (sessionId: string, claudeCwd: string | null) => string },
  ): Promise<Execution> {
    const refused = (check: () => void) => {
      try {
        check()
      } catch (error) {
        if (error instanceof RpcError) this.#observer.refused?.({ code: error.code, reason: error.message, token_id: tokenId })
        throw error
      }
    }
    if (this.#closing) throw new RpcError(ErrorCode.SESSION_LIMIT, 'The server is shutting down', { retry_after: RETRY_AFTER })
    let params = requested
    refused(() => {
      if (this.#allowList && how.checked) params = { ...requested, command: undefined, argv: this.#allowList.check(requested) }
    })
    // A pool's id (which places the execution) is awaited before the limits are checked: from that
    // check to the id's reservation below nothing may yield, or concurrent starts would all pass it.
    const id = params.execution_id ?? (this.#executor.newId ? await this.#executor.newId() : crypto.randomUUID())
    refused(() => this.#checkLimits(tokenId))
    // Also an id whose record is on disk: its transcript must never get a second execution's events.
    if (this.get(id) || this.#starting.has(id) || this.#store?.has(id)) {
      throw new RpcError(ErrorCode.INVALID_PARAMS, `execution_id ${id} is already in use`)
    }
    // Reserve the id (and a place among the running) until the execution is live, across every
    // await, so that two concurrent starts can neither both take it nor both pass the limits.
    this.#starting.add(id)
    let execution: Execution
    try {
      const handle = await how.launch({ ...params, execution_id: id }, { detached })
      execution = new Execution(handle, {
        detachGraceMs: detached ? Infinity : (params.detach_grace ?? this.#detachGrace) * 1000,
        activityMs: this.#activityMs,
        maxLag: this.#bufferBytes / 4,
        retain: this.#bufferBytes / 8,
        startedBy,
        tokenId,
        store: this.#store ?? handle.history,
        kind: how.kind,
        label: params.label ?? null,
        cwd: params.cwd ?? null,
        stdin: params.stdin === 'pipe' ? 'pipe' : 'close',
        claudeTranscript: how.transcriptPath,
        onChange: () => this.#changed(execution),
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
    } finally {
      this.#starting.delete(id)
    }
    this.#live.set(id, execution)
    // Started upstream while this gateway began to shut down: left there like the others.
    if (this.#closing && this.#executor.remote) execution.release()
    this.#observer.executionStarted?.(execution.record(), requested)
    this.#changed(execution)
    void execution.done.then(() => {
      this.#retire(execution)
      const record = execution.record()
      this.#count(record)
      this.#observer.executionEnded?.(record)
      this.#changed(execution)
    })
    return execution
  }

  /** Loads the records of earlier runs from the store (call once, before serving). */
  async restore(): Promise<void> {
    if (!this.#store) return
    for (const record of await this.#store.records()) {
      if (this.get(record.id)) continue
      this.#remember(Execution.restore(record, this.#store))
      this.#count(record)
    }
  }

  /**
   * Calls `watcher` with the record of every execution that starts, pauses, resumes or ends, until
   * the returned function is called. A watcher must not throw.
   */
  watch(watcher: ListWatcher): () => void {
    this.#watchers.add(watcher)
    return () => this.#watchers.delete(watcher)
  }

  /** Every label's tally, by label. */
  labels(): LabelStats[] {
    return [...this.#labels]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([label, { successes, failures }]) => ({
        label,
        successes,
        failures,
        ratio: failures === 0 ? successes : successes / failures,
        graduated: successes >= 10 && successes >= 10 * failures,
      }))
  }

  #count(record: ExecutionRecord): void {
    const outcome = labelOutcome(record.status)
    if (!record.label || outcome === undefined) return
    const tally = this.#labels.get(record.label) ?? { successes: 0, failures: 0 }
    if (outcome === 'success') tally.successes += 1
    else tally.failures += 1
    this.#labels.set(record.label, tally)
  }

  #changed(execution: Execution): void {
    this.#recount(execution)
    if (this.#watchers.size === 0) return
    const record = execution.record()
    for (const watcher of this.#watchers) watcher(record)
  }

  /** Drops a finished execution whose record and transcript were deleted (a running one stays). */
  forget(id: string): void {
    if (this.#live.has(id)) return
    this.#finished.delete(id)
    this.#archived.delete(id)
    this.#held.set(id, undefined)
  }

  get(id: string): Execution | undefined {
    return this.#live.get(id) ?? this.#finished.get(id) ?? this.#archived.get(id)
  }

  /**
   * An execution a client names, for requests by id: one held here, or (with an executor that can
   * adopt, a pool's) one found where it runs, followed from then on. -32002 when there is none,
   * -32003 naming its executor when that is down.
   */
  async find(id: string): Promise<Execution> {
    this.#letGo()
    const held = this.get(id)
    if (held && (!this.#executor.vouch || (await this.#executor.vouch(id)))) return held
    if (held?.ended) this.forget(id)
    else if (held) return held
    const adopt = this.#executor.adopt?.bind(this.#executor)
    if (!adopt) throw new RpcError(ErrorCode.NO_SUCH_PROCESS, `No execution ${id}`)
    let adopting = this.#adopting.get(id)
    if (!adopting) {
      adopting = this.#adopt(id, adopt).finally(() => this.#adopting.delete(id))
      this.#adopting.set(id, adopting)
    }
    return adopting
  }

  /**
   * A control of the execution `id` (see find). A CANCEL or KILL of one whose executor is
   * unavailable is handed to an executor that can keep it (Executor.defer: a pool's), whose
   * pending result is the answer.
   */
  async control(id: string, type: ControlType, reason?: string): Promise<{ status: string }> {
    let execution: Execution
    try {
      execution = await this.find(id)
    } catch (error) {
      if ((type === 'CANCEL' || type === 'KILL') && this.#executor.defer) return this.#executor.defer(id, type, reason, error)
      throw error
    }
    return execution.running().control(type, reason)
  }

  async #adopt(id: string, adopt: NonNullable<Executor['adopt']>): Promise<Execution> {
    const adopted = await adopt(id)
    const record = adopted.record
    if ('history' in adopted) {
      // Ended: its record as its executor has it, its events read from there when someone asks.
      const ended = Execution.restore(record, adopted.history)
      this.#remember(ended)
      return ended
    }
    const handle = adopted.handle
    const execution = new Execution(
      handle,
      {
        // Not started here: whoever watches it or not, its lifetime is its starter's business.
        detachGraceMs: Infinity,
        activityMs: this.#activityMs,
        maxLag: this.#bufferBytes / 4,
        retain: this.#bufferBytes / 8,
        startedBy: record.started_by,
        tokenId: record.token_id,
        store: handle.history,
        kind: record.kind,
        label: record.label,
        cwd: record.cwd,
        stdin: record.stdin,
        onChange: () => this.#changed(execution),
      },
      new Date(record.started_at),
    )
    this.#live.set(id, execution)
    this.#recount(execution)
    execution.open()
    void execution.done.then(() => {
      this.#retire(execution)
      this.#changed(execution)
    })
    return execution
  }

  /**
   * The newest `limit` records that match `filter`, oldest first: of every executor when the
   * executor is a pool (with those that did not answer).
   */
  async listAll(limit = Infinity, filter: ListFilter = {}): Promise<{ executions: ExecutionRecord[]; unavailable?: string[] }> {
    return this.#executor.list ? this.#executor.list(limit, filter) : { executions: this.list(limit, filter) }
  }

  /** Like get, but throws the protocol's -32002 for an unknown id. */
  lookup(id: string): Execution {
    const execution = this.get(id)
    if (!execution) throw new RpcError(ErrorCode.NO_SUCH_PROCESS, `No execution ${id}`)
    return execution
  }

  /** How many executions `list` draws from: all that this registry holds. */
  get size(): number {
    return this.#archived.size + this.#finished.size + this.#live.size
  }

  /** The labels of every execution held (not only the newest), sorted. */
  labelNames(): string[] {
    const names = new Set<string>()
    for (const map of [this.#archived, this.#finished, this.#live]) {
      for (const execution of map.values()) if (execution.label) names.add(execution.label)
    }
    return [...names].sort()
  }

  /** The records of the newest `limit` executions that match `filter` (all, without one), oldest first. */
  list(limit = Infinity, filter: ListFilter = {}): ExecutionRecord[] {
    const all = this.#matching(filter)
    return all.slice(Math.max(0, all.length - limit)).map((e) => e.record())
  }

  /** How many of the executions held match `filter`: `size`, without one. */
  count(filter: ListFilter = {}): number {
    return isFiltered(filter) ? this.#held.count(filter) : this.size
  }

  /**
   * Counts `execution` as it is now: its status, and whether it is still held (a copy let go or an
   * execution forgotten is not). Called wherever one is added, changes or goes.
   */
  #recount(execution: Execution): void {
    const held = this.#live.get(execution.id) ?? this.#finished.get(execution.id) ?? this.#archived.get(execution.id)
    if (held === execution) this.#held.set(execution.id, execution)
    else if (held === undefined) this.#held.set(execution.id, undefined)
  }

  /** Every execution held that matches `filter`, oldest first (archived, finished, then running). */
  #matching(filter: ListFilter): Execution[] {
    const all = [...this.#archived.values(), ...this.#finished.values(), ...this.#live.values()]
    return isFiltered(filter) ? all.filter((e) => matchesFilter(e, filter)) : all
  }

  /**
   * Shutdown; nothing starts from now on (-32003). An executor that runs the executions itself
   * (the Node server's): every running one is cancelled, and waited for until it has completed (its
   * group is gone) and its subscribers have its completion. A remote one (Executor.remote, a
   * gateway's pool): they are left running where they run, for their clients to attach to again
   * within their detach grace there; this registry stops following them (their event streams
   * end), and waits for nothing.
   * The part before the first await happens at once: by the time the host stops its server (and
   * its sockets close), no execution is cancelled for losing its subscribers.
   */
  async shutdown(): Promise<void> {
    this.#closing = true
    const live = [...this.#live.values()]
    if (this.#executor.remote) {
      for (const e of live) e.release()
      await this.#executor.close?.()
      return
    }
    for (const e of live) e.open()
    await Promise.all(live.map((e) => e.handle.control('CANCEL', SHUTTING_DOWN).catch(() => {})))
    // Subscribers hear of the completion before their sockets close.
    await Promise.all(live.map((e) => e.delivered()))
    await this.#executor.close?.()
  }

  #checkLimits(tokenId: string | null): void {
    const { maxExecutions, maxExecutionsPerToken, startsPerMinute } = this.#limits
    // Full is not misuse: -32003 (HTTP 503 with Retry-After) tells a client or a pool to try later or elsewhere.
    // (`running` lets go first of what a request-scoped executor no longer follows: the count below is of the rest.)
    if (this.running >= maxExecutions) throw new RpcError(ErrorCode.SESSION_LIMIT, `At capacity: ${maxExecutions} executions are running`, { retry_after: RETRY_AFTER })
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

  /**
   * An executor whose streams end with the request that opened them (Executor.requestScoped): a
   * running execution that nobody follows any more is let go, so that the next request that names it
   * finds it where it runs, rather than a copy whose stream may have stopped with its request.
   */
  #letGo(): void {
    if (!this.#executor.requestScoped) return
    for (const [id, execution] of this.#live) {
      if (execution.subscriberCount > 0 || execution.ended) continue
      this.#live.delete(id)
      this.#held.set(id, undefined)
    }
  }

  #retire(execution: Execution): void {
    // A copy let go (#letGo) is not remembered when it ends: its record is its executor's, and
    // another copy may be on its way in already (the next request that names it adopts it afresh).
    if (this.#live.get(execution.id) !== execution) return
    this.#live.delete(execution.id)
    execution.shrink(FINISHED_RETAIN)
    this.#remember(execution)
  }

  #remember(execution: Execution): void {
    this.#finished.set(execution.id, execution)
    this.#recount(execution)
    for (const [id, oldest] of this.#finished) {
      if (this.#finished.size <= this.#keepFinished) break
      this.#finished.delete(id)
      if (!this.#store) {
        this.#held.set(id, undefined)
        continue
      }
      oldest.shrink(0)
      this.#archived.set(id, oldest)
    }
  }
}
