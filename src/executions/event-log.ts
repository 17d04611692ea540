/**
 * @module executions/event-log — one execution's recent events, in seq order, each serialised once.
 * Readers keep their own cursor; the log keeps what the slowest reader still needs plus a bounded
 * window of history for replay (`attach`, `/events?after_seq=`).
 */
import type { Frame } from '../protocol/frame.ts'
import type { ExecutionEvent } from '../protocol/schemas.ts'

export interface LogEntry {
  seq: number
  event: ExecutionEvent
  /** Its wire form, made once and sent to every subscriber. */
  frame: Frame
  /** Sizes of all earlier entries: lag is measured as a difference of offsets. */
  offset: number
}

export class EventLog {
  /** Consecutive seqs; evicted entries are shifted out at once so their strings can be collected. */
  readonly #entries: LogEntry[] = []
  /** Frame sizes held now, and appended ever. */
  #held = 0
  #total = 0
  /** The seq of the newest evicted entry. */
  #evictedThrough = 0
  #waiters: (() => void)[] = []
  #ended = false

  /** Frame sizes held now. */
  get held(): number {
    return this.#held
  }

  /** The seq of the newest event (0 before the first). */
  get lastSeq(): number {
    return this.#entries.at(-1)?.seq ?? this.#evictedThrough
  }

  /** The oldest seq still held (lastSeq + 1 when empty). */
  get firstSeq(): number {
    return this.#evictedThrough + 1
  }

  get ended(): boolean {
    return this.#ended
  }

  /** `frame` is the event's wire form (protocol/jsonrpc's eventFrame), made once by the caller. */
  append(event: ExecutionEvent, frame: Frame): LogEntry {
    const entry = { seq: event.params.seq, event, frame, offset: this.#total }
    this.#entries.push(entry)
    this.#held += frame.size
    this.#total += frame.size
    this.#wake()
    return entry
  }

  /** Starts an empty log at `seq`: the events up to it exist only elsewhere (a transcript). */
  skipTo(seq: number): void {
    this.#evictedThrough = seq
  }

  /** No event will follow (the completion was appended, or the source failed). */
  end(): void {
    this.#ended = true
    this.#wake()
  }

  /** The entry with this seq, or undefined when it was evicted or has not happened yet. */
  get(seq: number): LogEntry | undefined {
    return seq > this.#evictedThrough ? this.#entries[seq - this.#evictedThrough - 1] : undefined
  }

  /** Frame sizes from `seq` to the newest: what a reader whose cursor is at `seq` has yet to send. */
  sizeFrom(seq: number): number {
    const entry = this.get(seq)
    return entry ? this.#total - entry.offset : 0
  }

  /** Drops the oldest entries beyond `budget` (of frame sizes), never one at or after `keepFrom`. */
  trim(keepFrom: number, budget: number): void {
    while (this.#held > budget && this.#entries.length > 0 && this.#entries[0].seq < keepFrom) {
      const entry = this.#entries.shift()!
      this.#held -= entry.frame.size
      this.#evictedThrough = entry.seq
    }
  }

  /** Resolves at the next append or end. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  #wake(): void {
    if (this.#waiters.length === 0) return
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }
}
