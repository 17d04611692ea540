/**
 * @module gateway/pool — an Executor over several cc-executors, one RemoteExecutor each: a new
 * execution goes to the healthy one with the most free capacity, and everything addressed by id
 * goes to the one that runs it. Ids the pool makes name their executor (`<tag>.<uuid>`, the tag a
 * hash of its URL), so any gateway routes them without a table; an id a client chose is found by
 * asking every executor, once. The rest of the app (WebSocket, /v1, MCP, console) sees one Executor.
 */
import type { ClaudeParams } from '../claude/params.ts'
import { ExecutorError } from '../client/errors.ts'
import { eventReader } from '../client/http.ts'
import type { ExecutionHandle, Executor, LaunchOptions, PendingControl } from '../executor/executor.ts'
import { RemoteExecutor, type RemoteExecutorOptions } from '../executor/remote-executor.ts'
import { ErrorCode, RpcError } from '../protocol/errors.ts'
import { listQuery, matchesFilter, type ListFilter } from '../protocol/list-filter.ts'
import type { ExecutionStore } from '../executions/store.ts'
import type { ExecutionRecord, VerifyResult } from '../protocol/records.ts'
import { v1Path } from '../protocol/routes.ts'
import type { ControlType, ExecuteParams } from '../protocol/schemas.ts'
import type { PoolMemberConfig } from './config.ts'
import { MemoryPoolState, type Counter, type HealthReport, type MemberState, type PoolState } from './pool-state.ts'

export interface PoolOptions {
  members: readonly PoolMemberConfig[]
  /** Health, load and counters shared by the gateways of the pool; in memory by default. */
  state?: PoolState
  fetch?: typeof fetch
  /** How old an executor's health may be before it is asked again (also how soon an unhealthy one is retried). */
  healthIntervalMs?: number
  /** An executor whose /health has not answered in this long is unhealthy. */
  healthTimeoutMs?: number
  /** An executor that has not begun to answer a request in this long is unhealthy (its streams may then last for ever). */
  requestTimeoutMs?: number
  /**
   * true on Workers, where a request's I/O ends with it and no promise may be shared between
   * requests: each request waits for the health checks it starts (at most healthTimeoutMs), and the
   * result reaches other requests through the state; and the app holds no running execution that no
   * subscriber follows (Executor.requestScoped). false (default): a stale health check runs in the
   * background, shared by the requests that need it.
   */
  requestScoped?: boolean
  /** Passed to each RemoteExecutor (reconnection attempts, upstream grace, the executors' heartbeat interval, kept controls' retries and their report). */
  remote?: Pick<RemoteExecutorOptions, 'retries' | 'retryDelayMs' | 'upstreamGrace' | 'heartbeatInterval' | 'controlRetry' | 'onControlDropped'>
}

/** Seconds a client told "every executor is full" or "its executor is down" is told to wait. */
const RETRY_AFTER = 1
/** Ids a client chose, and where they were found: a cache (losing it costs one more round of asking). */
const LOCATED_MAX = 10_000
/** A placement refused as full or down checks again the executors last checked longer ago than this. */
const RECHECK_MS = 250
/** How a RemoteExecution's made-up completion begins when its executor never came back. */
const LOST = 'lost the connection to the executor'
const OWNED_ID = /^([0-9a-f]{8})\.[0-9a-f]{8}-/

interface Upstream extends PoolMemberConfig {
  remote: RemoteExecutor
  polled: number
  polling?: Promise<void>
}

type Failure = 'full' | 'down' | 'timeout' | 'garbage' | 'refused'

/**
 * What went wrong, from what the RemoteExecutor threw. An error body of the executor's own (an
 * ExecutorError) is its answer to the request: full, or refused, also a -32603 such as a program
 * that cannot be started (ENOENT), which says nothing about the executor's health.
 */
function classify(error: unknown): Failure {
  if (!(error instanceof RpcError)) return 'garbage'
  if (error.code === ErrorCode.SESSION_LIMIT) return 'full'
  if (error.code !== ErrorCode.INTERNAL_ERROR || error instanceof ExecutorError) return 'refused'
  const cause = String((error.data as { cause?: unknown } | undefined)?.cause ?? '')
  if (/no answer within/.test(cause)) return 'timeout'
  return /unreachable|cannot be reached/.test(error.message) ? 'down' : 'garbage'
}

/** fetch that gives up when no response has begun within `ms` (a started stream is not timed). */
function timedFetch(fetchFn: typeof fetch, ms: number): typeof fetch {
  return (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, ms)
    const outer = init.signal
    if (outer) outer.aborted ? controller.abort(outer.reason) : outer.addEventListener('abort', () => controller.abort(outer.reason), { once: true })
    try {
      return await fetchFn(input, { ...init, signal: controller.signal })
    } catch (error) {
      throw timedOut ? new Error(`no answer within ${ms} ms`) : error
    } finally {
      clearTimeout(timer)
    }
  }) as typeof fetch
}

export class ExecutorPool implements Executor {
  readonly #members: Upstream[]
  readonly #byTag = new Map<string, Upstream>()
  readonly #state: PoolState
  readonly #view = new Map<string, MemberState>()
  readonly #fetch: typeof fetch
  readonly #healthIntervalMs: number
  readonly #healthTimeoutMs: number
  readonly requestScoped: boolean
  /** Its executions run on its executors: a gateway shutting down leaves them running there. */
  readonly remote = true
  /** Ids made by newId, until their start: the executor placed for them. */
  readonly #reserved = new Map<string, string>()
  /** Executions whose id does not name their executor: where they are. */
  readonly #located = new Map<string, string>()
  /**
   * Executions whose stream from their executor broke for good: the app's copy ends "lost the
   * connection", a guess; once the executor is back, its own record is read instead.
   */
  readonly #lost = new Set<string>()

  constructor({ members, state = new MemoryPoolState(), fetch: fetchFn = globalThis.fetch.bind(globalThis), healthIntervalMs = 2000, healthTimeoutMs = 2000, requestTimeoutMs = 10_000, requestScoped = false, remote = {} }: PoolOptions) {
    this.requestScoped = requestScoped
    if (members.length === 0) throw new Error('a pool needs at least one executor')
    this.#state = state
    this.#healthIntervalMs = healthIntervalMs
    this.#healthTimeoutMs = healthTimeoutMs
    this.#fetch = fetchFn
    const requestFetch = timedFetch(fetchFn, requestTimeoutMs)
    this.#members = members.map((m) => ({ ...m, remote: new RemoteExecutor({ ...remote, url: m.url, token: m.token, fetch: requestFetch }), polled: 0 }))
    for (const m of this.#members) this.#byTag.set(m.tag, m)
  }

  /** The executors as last seen (health, load, counters), in configuration order. */
  async members(): Promise<MemberState[]> {
    await this.#fresh()
    this.#see(await this.#state.snapshot())
    return this.#members.map((m) => this.#view.get(m.tag) ?? { tag: m.tag, url: m.url, healthy: null, running: 0, max: null, error: null, checkedAt: 0, placements: 0, failures: 0, unavailable: 0 })
  }

  async newId(near?: string): Promise<string> {
    const owner = near === undefined ? undefined : this.#ownerOf(near)
    const tag = await this.#place(owner ? this.#members.filter((m) => m !== owner).map((m) => m.tag) : [])
    const id = `${tag}.${crypto.randomUUID()}`
    this.#reserved.set(id, tag)
    return id
  }

  start(params: ExecuteParams & { execution_id: string }, options?: LaunchOptions): Promise<ExecutionHandle> {
    return this.#start(params.execution_id, (m) => m.remote.start(params, options))
  }

  startClaude(params: ClaudeParams & { execution_id: string }, options?: LaunchOptions): Promise<ExecutionHandle> {
    return this.#start(params.execution_id, (m) => m.remote.startClaude(params, options))
  }

  async verify(id: string): Promise<VerifyResult> {
    const member = this.#ownerOf(id) ?? (await this.#locate(id)).member
    return this.#guard(member, id, () => member.remote.verify(id))
  }

  async vouch(id: string): Promise<boolean> {
    const member = this.#ownerOf(id)
    if (member && (await this.#health(member)) === false) throw this.#unavailable(member, id)
    return !this.#lost.has(id)
  }

  async adopt(id: string): Promise<{ record: ExecutionRecord } & ({ handle: ExecutionHandle } | { history: ExecutionStore })> {
    const { member, record } = await this.#locate(id)
    this.#lost.delete(id)
    if (record.state === 'exited') return { record: { ...record, executor: member.url }, history: this.#history(member) }
    const handle = await this.#guard(member, id, () => member.remote.attach(id))
    return { handle: this.#wrap(handle, member), record }
  }

  /** An ended execution's events, read from its executor's transcript as they are asked for. */
  #history(member: Upstream): ExecutionStore {
    const guard = this.#guard.bind(this)
    return {
      has: () => true,
      create: () => Promise.reject(new Error('an adopted execution is recorded by its executor')),
      records: async () => [],
      async *read(id, fromSeq, toSeq = Infinity) {
        const response = await guard(member, id, () => member.remote.request('GET', v1Path.events(id, fromSeq - 1)))
        // Each line as its text: the store hands out transcript lines, which the app parses itself.
        const lines = eventReader<string>(response, (line) => line)
        try {
          for (let next = await lines.read(); !next.done; next = await lines.read()) {
            const seq = (JSON.parse(next.value) as { params?: { seq?: unknown } }).params?.seq
            // Heartbeats and other unnumbered lines are the stream's, not the transcript's.
            if (typeof seq !== 'number') continue
            if (seq > toSeq) break
            yield next.value
          }
        } finally {
          await lines.cancel().catch(() => {})
        }
      },
    }
  }

  async list(limit: number, filter: ListFilter = {}): Promise<{ executions: ExecutionRecord[]; unavailable: string[] }> {
    await this.#fresh(this.#members)
    const query = listQuery({ limit, ...filter })
    const unavailable: string[] = []
    const lists = await Promise.all(
      this.#members.map(async (m) => {
        if (this.#view.get(m.tag)?.healthy === false) {
          unavailable.push(m.url)
          return []
        }
        try {
          const { executions } = (await (await m.remote.request('GET', `${v1Path.executions()}${query}`)).json()) as { executions: ExecutionRecord[] }
          if (!Array.isArray(executions)) throw new Error('no executions array')
          // An executor of an older version lists unfiltered: what it sent is filtered here too.
          return executions.filter((r) => matchesFilter(r, filter)).map((r) => ({ ...r, executor: m.url }))
        } catch (error) {
          unavailable.push(m.url)
          await this.#failed(m, error)
          return []
        }
      }),
    )
    const all = lists.flat().sort((a, b) => (a.started_at < b.started_at ? -1 : a.started_at > b.started_at ? 1 : 0))
    return { executions: all.slice(Math.max(0, all.length - limit)), unavailable: this.#members.map((m) => m.url).filter((u) => unavailable.includes(u)) }
  }

  /**
   * A CANCEL or KILL whose execution could not be looked up because its executor is unavailable:
   * kept by that executor's RemoteExecutor (see RemoteExecutor.keep). Not on Workers
   * (requestScoped), whose timers and I/O end with the request: there the error stands.
   */
  async defer(id: string, type: ControlType, reason: string | undefined, error: unknown): Promise<PendingControl> {
    const member = this.#ownerOf(id)
    const executor = error instanceof RpcError && error.code === ErrorCode.SESSION_LIMIT ? (error.data as { executor?: unknown } | undefined)?.executor : undefined
    const kept = member && executor === member.url && !this.requestScoped ? member.remote.keep(id, type, reason, (error as Error).message) : undefined
    if (!kept) throw error
    return kept
  }

  /** CANCELs and KILLs kept for executors that did not get them yet, over the pool. */
  pendingControls(): number {
    return this.#members.reduce((n, m) => n + m.remote.pendingControls, 0)
  }

  /** Stops following every execution, which runs on where it runs (RemoteExecutor.close). */
  async close(): Promise<void> {
    await Promise.all(this.#members.map((m) => m.remote.close()))
  }

  async #start(id: string, launch: (member: Upstream) => Promise<ExecutionHandle>): Promise<ExecutionHandle> {
    let tag = this.#reserved.get(id)
    this.#reserved.delete(id)
    const tried: string[] = []
    let lastFailure: { member: Upstream; error: unknown } | undefined
    for (;;) {
      if (tag === undefined) {
        try {
          tag = await this.#place(tried)
        } catch (error) {
          // Nothing left to try: the last executor's own reason is the better answer.
          if (lastFailure && classify(lastFailure.error) !== 'full') throw this.#unavailable(lastFailure.member, id, lastFailure.error)
          throw error
        }
      }
      const member = this.#byTag.get(tag)!
      tried.push(tag)
      let handle: ExecutionHandle
      try {
        handle = await launch(member)
      } catch (error) {
        this.#see(await this.#state.settle(tag, false))
        const failure = classify(error)
        if (failure === 'refused') throw error
        if (failure !== 'full') await this.#failed(member, error)
        // No answer in time: it may have started there, so it is not started again elsewhere.
        if (failure === 'timeout') throw this.#unavailable(member, id, error)
        lastFailure = { member, error }
        tag = undefined
        continue
      }
      this.#see(await this.#state.settle(tag, true))
      if (OWNED_ID.exec(id)?.[1] !== tag) this.#remember(id, tag)
      const placed = tag
      void handle.completed.then(async () => this.#see(await this.#state.release(placed)))
      return this.#wrap(handle, member)
    }
  }

  /** An executor for a new execution; -32003 with Retry-After when every one is full or down. */
  async #place(exclude: string[]): Promise<string> {
    await this.#fresh()
    let { placement, members } = await this.#state.place(this.#members, exclude)
    this.#see(members)
    if (!('tag' in placement)) {
      // "Full" and "down" are worth a fresh look before a refusal: what ended since the last
      // check (the pool does not always see an execution end) or came back.
      await this.#fresh(this.#members, true)
      ;({ placement, members } = await this.#state.place(this.#members, exclude))
      this.#see(members)
    }
    if ('tag' in placement) return placement.tag
    if ('full' in placement) throw new RpcError(ErrorCode.SESSION_LIMIT, 'Every executor of the pool is at capacity', { retry_after: RETRY_AFTER })
    const down = this.#members.map((m) => `${m.url} (${this.#view.get(m.tag)?.error ?? 'unknown'})`)
    throw new RpcError(ErrorCode.SESSION_LIMIT, `No executor of the pool is available: ${down.join(', ')}`, { retry_after: RETRY_AFTER, unavailable: this.#members.map((m) => m.url) })
  }

  /** The executor an id names (or where it was found); undefined when it names none. */
  #ownerOf(id: string): Upstream | undefined {
    const tag = this.#located.get(id) ?? OWNED_ID.exec(id)?.[1]
    return tag === undefined ? undefined : this.#byTag.get(tag)
  }

  #remember(id: string, tag: string): void {
    this.#located.delete(id)
    this.#located.set(id, tag)
    if (this.#located.size > LOCATED_MAX) this.#located.delete(this.#located.keys().next().value!)
  }

  /**
   * Where an execution is, with its record: the executor its id names, else every executor. When
   * one that did not answer could have it, that is -32003 naming it, not "no such execution".
   */
  async #locate(id: string): Promise<{ member: Upstream; record: ExecutionRecord }> {
    await this.#fresh(this.#members)
    const owner = this.#ownerOf(id)
    if (owner) {
      if (this.#view.get(owner.tag)?.healthy === false) throw this.#unavailable(owner, id)
      const record = await this.#recordAt(owner, id)
      if (record) return { member: owner, record }
    }
    const silent: Upstream[] = []
    const found = await Promise.all(
      this.#members
        .filter((m) => m !== owner)
        .map(async (m) => {
          if (this.#view.get(m.tag)?.healthy === false) return void silent.push(m)
          try {
            const record = await this.#recordAt(m, id)
            return record && { member: m, record }
          } catch {
            silent.push(m)
          }
        }),
    )
    const hit = found.find((f) => f !== undefined)
    if (hit) {
      this.#remember(id, hit.member.tag)
      return hit
    }
    if (silent.length > 0) {
      const urls = silent.map((m) => m.url)
      throw new RpcError(ErrorCode.SESSION_LIMIT, `Execution ${id} is on none of the executors that answered; ${urls.join(', ')} did not answer and may hold it`, { retry_after: RETRY_AFTER, unavailable: urls })
    }
    const named = OWNED_ID.exec(id)?.[1]
    if (named !== undefined && !this.#byTag.has(named)) {
      throw new RpcError(ErrorCode.NO_SUCH_PROCESS, `No execution ${id}: its id names executor ${named}, which is not in this gateway's pool, and no executor of the pool has it`)
    }
    throw new RpcError(ErrorCode.NO_SUCH_PROCESS, `No execution ${id}`)
  }

  /** The record of `id` at one executor; undefined when it has none; -32003 when it does not answer sensibly. */
  async #recordAt(member: Upstream, id: string): Promise<ExecutionRecord | undefined> {
    try {
      const record = (await (await member.remote.request('GET', v1Path.execution(id))).json()) as ExecutionRecord
      if (record?.id !== id) throw new Error('not a record of this execution')
      return record
    } catch (error) {
      if (error instanceof RpcError && error.code === ErrorCode.NO_SUCH_PROCESS) return undefined
      await this.#failed(member, error)
      throw this.#unavailable(member, id, error)
    }
  }

  /** A handle that says where it runs and turns its executor's failures into -32003 naming it. */
  #wrap(handle: ExecutionHandle, member: Upstream): ExecutionHandle {
    const guard = <T>(call: () => Promise<T>) => this.#guard(member, handle.id, call)
    void handle.completed.then(({ params }) => {
      if (params.reason?.startsWith(LOST)) this.#lost.add(handle.id)
    })
    return {
      id: handle.id,
      pid: handle.pid,
      pgid: handle.pgid,
      command: handle.command,
      events: handle.events,
      completed: handle.completed,
      owner: member.url,
      // Its executor keeps every event: a late or slow subscriber reads there what the gateway no longer holds.
      history: this.#history(member),
      get state() {
        return handle.state
      },
      get activity() {
        return handle.activity
      },
      control: async (type: ControlType, reason?: string) => {
        try {
          return await guard(() => handle.control(type, reason))
        } catch (error) {
          // Its executor did not get it (down, no answer in time, not a sensible answer): a CANCEL or KILL is kept.
          return this.defer(handle.id, type, reason, error)
        }
      },
      write: (data: string, eof: boolean) => guard(() => handle.write(data, eof)),
    }
  }

  async #guard<T>(member: Upstream, id: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (error) {
      const failure = classify(error)
      if (failure === 'refused' || failure === 'full') throw error
      await this.#failed(member, error)
      throw this.#unavailable(member, id, error)
    }
  }

  #unavailable(member: Upstream, id: string, error?: unknown): RpcError {
    const why = error instanceof Error ? error.message : (this.#view.get(member.tag)?.error ?? 'it does not answer')
    return new RpcError(ErrorCode.SESSION_LIMIT, `The executor ${member.url}, which holds execution ${id}, is unavailable: ${why}`, { executor: member.url, retry_after: RETRY_AFTER })
  }

  /** An executor failed a request: it is unhealthy until its /health answers again. */
  async #failed(member: Upstream, error: unknown): Promise<void> {
    const cause = error instanceof RpcError ? String((error.data as { cause?: unknown } | undefined)?.cause ?? '') : ''
    const message = `${error instanceof Error ? error.message : String(error)}${cause ? `: ${cause}` : ''}`
    await this.#count(member, 'failures')
    this.#see(await this.#state.report(member, { healthy: false, error: message }))
    member.polled = Date.now()
  }

  async #count(member: Upstream, counter: Counter): Promise<void> {
    this.#see(await this.#state.count(member, counter))
  }

  #see(states: readonly MemberState[]): void {
    for (const s of states) if (this.#byTag.has(s.tag)) this.#view.set(s.tag, s)
  }

  /**
   * Asks the executors whose health is older than the interval, in the background; waits only for
   * those never seen (at the first request, so that a placement has something to go on) and, among
   * `waitFor`, the unhealthy ones: a request for one of those hears of its recovery at once.
   */
  async #fresh(waitFor: readonly Upstream[] = [], recheck = false): Promise<void> {
    const now = Date.now()
    // A recheck asks again what was asked more than a moment ago, and waits for every answer.
    if (recheck) for (const m of this.#members) if (!m.polling && now - m.polled > RECHECK_MS) m.polled = 0
    const waits: Promise<void>[] = []
    for (const m of this.#members) {
      // A check begun by a request that has ended may never finish (Workers stop a request's I/O with it).
      if (m.polling && now - m.polled > 2 * this.#healthTimeoutMs) m.polling = undefined
      if (!m.polling && now - m.polled >= this.#healthIntervalMs) {
        m.polled = now
        const check = this.#poll(m)
        if (this.requestScoped) {
          waits.push(check)
          continue
        }
        m.polling = check.finally(() => (m.polling = undefined))
      }
      const healthy = this.#view.get(m.tag)?.healthy
      if (m.polling && (recheck || healthy == null || (healthy === false && waitFor.includes(m)))) waits.push(m.polling)
    }
    if (waits.length === 0) return
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([Promise.all(waits), new Promise((resolve) => (timer = setTimeout(resolve, this.#healthTimeoutMs)))])
    clearTimeout(timer)
    // What other requests' checks found (Workers: through the Durable Object).
    if (this.requestScoped) this.#see(await this.#state.snapshot())
  }

  /** Whether an executor is healthy as far as is known (false after a failed check that a fresh one confirmed). */
  async #health(member: Upstream): Promise<boolean | null> {
    await this.#fresh([member])
    return this.#view.get(member.tag)?.healthy ?? null
  }

  async #poll(member: Upstream): Promise<void> {
    let report: HealthReport
    let timer: ReturnType<typeof setTimeout> | undefined
    // Aborted when late: a hung executor would otherwise keep every check's connection open for good.
    const abort = new AbortController()
    // The whole answer, body included: an executor that sends headers and then nothing is as unhealthy.
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort()
        reject(new Error(`/health gave no answer within ${this.#healthTimeoutMs} ms`))
      }, this.#healthTimeoutMs)
    })
    try {
      const headers: Record<string, string> = member.token ? { authorization: `Bearer ${member.token}` } : {}
      const response = await Promise.race([this.#fetch(`${member.url}/health`, { headers, signal: abort.signal }), late])
      if (!response.ok) throw new Error(`/health answered HTTP ${response.status}`)
      const health = (await Promise.race([response.json(), late])) as { status?: unknown; running_executions?: unknown; max_executions?: unknown }
      if (health?.status !== 'healthy' || typeof health.running_executions !== 'number') throw new Error('/health is not a cc-executor health report')
      report = { healthy: true, running: health.running_executions, max: typeof health.max_executions === 'number' ? health.max_executions : null }
    } catch (error) {
      report = { healthy: false, error: error instanceof SyntaxError ? '/health answered something that is not JSON' : (error as Error).message }
    } finally {
      clearTimeout(timer)
    }
    this.#see(await this.#state.report(member, report))
    // It answers: controls kept for it go now, not at their next retry.
    if (report.healthy) member.remote.resend()
  }
}
