/**
 * @module gateway/pool-state — what the gateways of one pool share: each executor's health and load
 * as last seen, and its counters. `PoolBook` holds it and places executions; a gateway in one process
 * (Deno, Bun) keeps one in memory (`MemoryPoolState`), the Workers gateway keeps one in a Durable
 * Object, so that its many isolates place as one.
 */

/** One executor as the pool sees it. `tag` names it in execution ids; `url` names it to people. */
export interface MemberState {
  tag: string
  url: string
  /** null until its /health has been read once. */
  healthy: boolean | null
  /** Executions running there: its last /health, plus what was placed since, minus what ended. */
  running: number
  /** Its MAX_EXECUTIONS; null: no limit. */
  max: number | null
  /** Why it is unhealthy (the last failure), else null. */
  error: string | null
  /** Date.now() of its last health report. */
  checkedAt: number
  placements: number
  failures: number
  unavailable: number
}

/** Where a new execution goes: an executor, or why none. */
export type Placement = { tag: string } | { full: true } | { down: true }

/** What a /health answer (or its absence) says. */
export type HealthReport = { healthy: true; running: number; max: number | null } | { healthy: false; error: string }

export type Counter = 'failures' | 'unavailable'

/** The shared state's operations; every answer comes with the members as they are now. */
export interface PoolState {
  /** Chooses an executor for a new execution (see PoolBook.place) and counts it as running there. */
  place(members: readonly Member[], exclude: readonly string[]): Promise<{ placement: Placement; members: MemberState[] }>
  /** A placement's start is over: `started` false takes it back. */
  settle(tag: string, started: boolean): Promise<MemberState[]>
  /** An execution placed there has ended. */
  release(tag: string): Promise<MemberState[]>
  report(member: Member, health: HealthReport): Promise<MemberState[]>
  count(member: Member, counter: Counter): Promise<MemberState[]>
  snapshot(): Promise<MemberState[]>
}

export interface Member {
  tag: string
  url: string
}

/**
 * The state itself, synchronous. Load is counted where placements are made, so that back-to-back
 * placements see each other; each health report corrects it to what the executor says, plus the
 * placements whose start has not returned yet (the executor cannot have counted those).
 */
export class PoolBook {
  readonly #members = new Map<string, MemberState & { pending: number }>()
  readonly #random: () => number

  constructor(random: () => number = Math.random) {
    this.#random = random
  }

  #entry({ tag, url }: Member): MemberState & { pending: number } {
    let entry = this.#members.get(tag)
    if (!entry) {
      entry = { tag, url, healthy: null, running: 0, max: null, error: null, checkedAt: 0, placements: 0, failures: 0, unavailable: 0, pending: 0 }
      this.#members.set(tag, entry)
    }
    return entry
  }

  /**
   * The healthy executor with the most free capacity (one without a limit has the most; among
   * those, the one running fewest), ties broken at random. `full` when every healthy one is at its
   * limit, `down` when none is healthy.
   */
  place(members: readonly Member[], exclude: readonly string[]): Placement {
    const candidates = members.map((m) => this.#entry(m)).filter((e) => e.healthy !== false && !exclude.includes(e.tag))
    if (candidates.length === 0) return { down: true }
    const free = (e: MemberState) => (e.max === null ? Infinity : e.max - e.running)
    const open = candidates.filter((e) => free(e) > 0)
    if (open.length === 0) return { full: true }
    // > 0: a is the better choice.
    const better = (a: MemberState, b: MemberState) => (free(a) !== free(b) ? free(a) - free(b) : free(a) === Infinity ? b.running - a.running : 0)
    let best = [open[0]]
    for (const e of open.slice(1)) {
      const d = better(e, best[0])
      if (d > 0) best = [e]
      else if (d === 0) best.push(e)
    }
    const chosen = best[Math.floor(this.#random() * best.length)]
    chosen.running += 1
    chosen.pending += 1
    chosen.placements += 1
    return { tag: chosen.tag }
  }

  settle(tag: string, started: boolean): void {
    const entry = this.#members.get(tag)
    if (!entry) return
    entry.pending = Math.max(0, entry.pending - 1)
    if (!started) entry.running = Math.max(0, entry.running - 1)
  }

  release(tag: string): void {
    const entry = this.#members.get(tag)
    if (entry) entry.running = Math.max(0, entry.running - 1)
  }

  report(member: Member, health: HealthReport, now = Date.now()): void {
    const entry = this.#entry(member)
    entry.checkedAt = now
    if (health.healthy) {
      Object.assign(entry, { healthy: true, error: null, running: health.running + entry.pending, max: health.max })
    } else {
      if (entry.healthy !== false) entry.unavailable += 1
      Object.assign(entry, { healthy: false, error: health.error })
    }
  }

  count(member: Member, counter: Counter): void {
    this.#entry(member)[counter] += 1
  }

  /** Every executor it knows (a Durable Object's may know those of more than one configuration). */
  snapshot(): MemberState[] {
    return [...this.#members.values()].map(({ pending: _, ...state }) => state)
  }
}

/** The PoolState of a gateway that is one process: a PoolBook in memory. */
export class MemoryPoolState implements PoolState {
  readonly #book = new PoolBook()

  async place(members: readonly Member[], exclude: readonly string[]) {
    const placement = this.#book.place(members, exclude)
    return { placement, members: this.#book.snapshot() }
  }

  async settle(tag: string, started: boolean) {
    this.#book.settle(tag, started)
    return this.#book.snapshot()
  }

  async release(tag: string) {
    this.#book.release(tag)
    return this.#book.snapshot()
  }

  async report(member: Member, health: HealthReport) {
    this.#book.report(member, health)
    return this.#book.snapshot()
  }

  async count(member: Member, counter: Counter) {
    this.#book.count(member, counter)
    return this.#book.snapshot()
  }

  async snapshot() {
    return this.#book.snapshot()
  }
}
