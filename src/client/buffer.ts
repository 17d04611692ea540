/**
 * @module client/buffer — an execution's received events, read by any number of views (the event
 * iterator, stdout, stderr), each at its own cursor. An event is dropped once every open view has
 * read it; until the first view opens, everything is kept, so a view opened right after `execute()`
 * sees the execution from its first event. `room()` tells the transport to wait while a view is
 * more than `highWater` characters behind.
 */

export interface View<T> {
  cursor: number
  /** Weight of the events ahead of the cursor that this view wants. */
  pending: number
  wants: (event: T) => boolean
}

export class EventBuffer<T> {
  #entries: T[] = []
  /** The absolute index of #entries[0]. */
  #base = 0
  #views = new Set<View<T>>()
  #ended = false
  #error: unknown
  #hasError = false
  #readers: (() => void)[] = []
  #roomWaiters: (() => void)[] = []
  readonly #weight: (event: T) => number
  readonly #highWater: number

  constructor(weight: (event: T) => number, highWater: number) {
    this.#weight = weight
    this.#highWater = highWater
  }

  push(event: T): void {
    if (this.#ended) return
    this.#entries.push(event)
    for (const view of this.#views) if (view.wants(event)) view.pending += this.#weight(event)
    this.#wake()
  }

  /** No more events: readers finish once they have read what is there. */
  end(): void {
    this.#ended = true
    this.#wake()
    this.#release()
  }

  /** No more events, and readers get `error` once they have read what is there. */
  fail(error: unknown): void {
    if (this.#ended) return
    this.#error = error
    this.#hasError = true
    this.end()
  }

  open(wants: (event: T) => boolean): View<T> {
    const view: View<T> = { cursor: this.#base, pending: 0, wants }
    for (const event of this.#entries) if (wants(event)) view.pending += this.#weight(event)
    this.#views.add(view)
    return view
  }

  close(view: View<T>): void {
    if (!this.#views.delete(view)) return
    this.#trim()
    this.#release()
    this.#wake()
  }

  /** The view's next event, waiting for one; undefined at the end; throws the failure, if any. */
  async next(view: View<T>): Promise<T | undefined> {
    for (;;) {
      while (view.cursor < this.#base + this.#entries.length) {
        const event = this.#entries[view.cursor - this.#base]
        view.cursor += 1
        if (view.wants(event)) {
          view.pending -= this.#weight(event)
          this.#trim()
          this.#release()
          return event
        }
      }
      this.#trim()
      this.#release()
      if (!this.#views.has(view)) return undefined
      if (this.#ended) {
        if (this.#hasError) throw this.#error
        return undefined
      }
      await new Promise<void>((resolve) => this.#readers.push(resolve))
    }
  }

  /** A promise while some open view is more than highWater behind, else undefined. */
  room(): Promise<void> | undefined {
    if (this.#hasRoom()) return undefined
    return new Promise<void>((resolve) => this.#roomWaiters.push(resolve))
  }

  #hasRoom(): boolean {
    if (this.#ended) return true
    for (const view of this.#views) if (view.pending > this.#highWater) return false
    return true
  }

  #release(): void {
    if (this.#roomWaiters.length === 0 || !this.#hasRoom()) return
    for (const resolve of this.#roomWaiters.splice(0)) resolve()
  }

  #wake(): void {
    for (const resolve of this.#readers.splice(0)) resolve()
  }

  #trim(): void {
    if (this.#views.size === 0) return
    let oldest = Infinity
    for (const view of this.#views) oldest = Math.min(oldest, view.cursor)
    const drop = oldest - this.#base
    // Splice in batches: shifting one by one is quadratic on long outputs.
    if (drop > 0 && (drop >= 256 || drop === this.#entries.length)) {
      this.#entries.splice(0, drop)
      this.#base = oldest
    }
  }
}
