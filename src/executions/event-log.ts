/**
 * @module executions/event-log — one execution's recent events, in seq order, each serialised once.
 * Readers keep their own cursor; the log keeps what the slowest reader still needs plus a bounded
 * window of history for replay (`attach`, `/events?after_seq=`).
 */
import type { ExecutionEvent } from '../protocol/schemas.ts'

export interface LogEntry {
  seq: number
  event: ExecutionEvent
  /** The JSON text, made once and sent to every subscriber. */
  text: string
  /** Characters of all earlier entries: lag is measured as a difference of offsets. */
  offset: number
}

export class EventLog {
  readonly #entries: LogEntry[] = []
  /** Index of the oldest live entry in #entries (shifting arrays is O(n); compact occasionally). */
  #head = 0
  /** Characters held now, and appended ever. */
  #chars = 0
  #total = 0
  /** The seq of the newest evicted entry. */
  #evictedThrough = 0
  #waiters: (() => void)[] = []
  #ended = false

  /** The seq of the newest event (0 before the first). */
  get lastSeq(): number {
    return this.#entries.length > this.#head ? this.#entries[this.#entries.length - 1].seq : this.#evictedThrough
  }

  /** The oldest seq still held (lastSeq + 1 when empty). */
  get firstSeq(): number {
    return this.#entries.length > this.#head ? this.#entries[this.#head].seq : this.lastSeq + 1
  }

  get ended(): boolean {
    return this.#ended
  }

  append(event: ExecutionEvent): LogEntry {
    const text = JSON.stringify(event)
    const entry = { seq: event.params.seq, event, text, offset: this.#total }
    this.#entries.push(entry)
    this.#chars += text.length
    this.#total += text.length
    this.#wake()
    return entry
  }

  /** No event will follow (the completion was appended, or the source failed). */
  end(): void {
    this.#ended = true
    this.#wake()
  }

  /** The entry with this seq, or undefined when it was evicted or has not happened yet. */
  get(seq: number): LogEntry | undefined {
    const index = this.#head + (seq - this.firstSeq)
    return index >= this.#head && index < this.#entries.length ? this.#entries[index] : undefined
  }

  /** Characters from `seq` to the newest: what a reader whose cursor is at `seq` has yet to send. */
  charsFrom(seq: number): number {
    const entry = this.get(seq)
    return entry ? this.#total - entry.offset : 0
  }

  /** Drops the oldest entries beyond `budget` characters, never one at or after `keepFrom`. */
  trim(keepFrom: number, budget: number): void {
    while (this.#entries.length > this.#head && this.#chars > budget && this.#entries[this.#head].seq < keepFrom) {
      const entry = this.#entries[this.#head]
      this.#chars -= entry.text.length
      this.#evictedThrough = entry.seq
      this.#head += 1
    }
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries.splice(0, this.#head)
      this.#head = 0
    }
  }

  /** Resolves at the next append or end. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  #wake(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }
}
