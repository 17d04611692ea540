/**
 * @module http/event-stream — an execution's events as a streamed HTTP body: NDJSON (one
 * notification per line) or SSE (`id: <seq>` per event). Each line is the very notification a
 * WebSocket client gets. The reader's pace is the back-pressure: one that does not read holds
 * this subscriber back like a full socket.
 */
import type { Execution, ExecutionRegistry, ExecutionRecord, Subscriber } from '../executions/registry.ts'
import type { Frame } from '../protocol/frame.ts'
import { isFiltered, matchesFilter, type ListFilter } from '../protocol/list-filter.ts'
import { notification } from '../protocol/jsonrpc.ts'

export type StreamFormat = 'ndjson' | 'sse'

export const CONTENT_TYPE: Record<StreamFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  sse: 'text/event-stream; charset=utf-8',
}

export interface EventStreamOptions {
  format: StreamFormat
  /** Deliver events with seq > afterSeq. */
  afterSeq: number
  /** Milliseconds between heartbeat lines, so that idle-cutting proxies keep the stream. */
  heartbeatMs: number
  /** Bytes of lines the body may hold for its reader before this subscriber waits. */
  highWaterMark?: number
  /** Called once when the stream ends: its last event was taken, or the reader went away. */
  onEnd?: () => void
  /** The server shuts down: the stream ends at once, after the whole lines it holds. */
  until?: Shutdown
}

/**
 * The app's shutdown as its streams see it: callbacks called once when it begins. Not an
 * AbortSignal: Workers bind one to the request that made it, and every request's stream waits here.
 */
export class Shutdown {
  #begun = false
  readonly #listeners = new Set<() => void>()

  /** Calls `listener` when the shutdown begins (at once if it has); returns what removes it. */
  on(listener: () => void): () => void {
    if (this.#begun) {
      listener()
      return () => {}
    }
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  begin(): void {
    if (this.#begun) return
    this.#begun = true
    for (const listener of [...this.#listeners]) listener()
    this.#listeners.clear()
  }
}

/** A chunk at least this long (in bytes) is bulk output: the next one waits a timer tick to gather more. */
const BULK_CHUNK = 16_384

const encoder = new TextEncoder()
const SSE_END = encoder.encode('\n\n')

/**
 * Subscribes to `execution` and returns the body; cancelling the body unsubscribes.
 *
 * A chunk is made when the reader asks for one, of every line that arrived since the last: a reader
 * that keeps up gets each event at once, a busy one gets fewer, larger chunks. After a large chunk
 * (bulk output) the next waits one timer tick to gather more, because the reader asks again at once.
 * A gateway in workerd pays per chunk, so fewer, larger chunks cost it less CPU under bulk output.
 */
export function eventStream(
  execution: Execution,
  { format, afterSeq, heartbeatMs, highWaterMark = 1_048_576, onEnd, until }: EventStreamOptions,
): ReadableStream<Uint8Array> {
  const streamId = crypto.randomUUID()
  /** One NDJSON line or SSE event, as the parts of its bytes (an event's are its frame's, unencoded). */
  const line = (message: string | Frame, seq?: number): Uint8Array[] => {
    if (format === 'ndjson') return [typeof message === 'string' ? encoder.encode(`${message}\n`) : message.line]
    const bytes = typeof message === 'string' ? encoder.encode(message) : message.bytes
    return [encoder.encode(seq === undefined ? 'data: ' : `id: ${seq}\ndata: `), bytes, SSE_END]
  }
  let heartbeat: ReturnType<typeof setInterval> | undefined
  let controller!: ReadableStreamDefaultController<Uint8Array>
  /** Lines not yet handed to the reader, and their length. */
  let batch: Uint8Array[] = []
  let batched = 0
  /** The reader is waiting for a chunk and none is queued. */
  let asked = false
  /** The subscriber waits for the batch to be taken. */
  let taken: (() => void) | undefined
  let finished = false
  let subscriber: Subscriber

  /** Set for a timer tick after a large chunk: what follows it is gathered meanwhile. */
  let gathering: ReturnType<typeof setTimeout> | undefined
  const flush = () => {
    if (batch.length === 0) return
    const chunk = new Uint8Array(batched)
    let at = 0
    for (const part of batch) {
      chunk.set(part, at)
      at += part.byteLength
    }
    batch = []
    batched = 0
    asked = false
    controller.enqueue(chunk)
    taken?.()
    taken = undefined
    clearTimeout(gathering)
    gathering = undefined
    if (chunk.byteLength >= BULK_CHUNK && !finished) {
      gathering = setTimeout(() => {
        gathering = undefined
        if (asked) flush()
      }, 0)
    }
  }
  const send = (parts: Uint8Array[]) => {
    if (finished) return
    for (const part of parts) {
      batch.push(part)
      batched += part.byteLength
    }
    if (asked && gathering === undefined) flush()
  }
  const stop = () => {
    finished = true
    clearInterval(heartbeat)
    clearTimeout(gathering)
    taken?.()
    unlisten?.()
    execution.unsubscribe(subscriber)
    onEnd?.()
  }
  const cut = () => subscriber.end!()
  let unlisten: (() => void) | undefined

  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c
        subscriber = {
          deliver(event, frame) {
            send(line(frame, event.params.seq))
            if (batched > highWaterMark) return new Promise<void>((resolve) => (taken = resolve))
          },
          notify: (text) => send(line(text)),
          end() {
            if (finished) return
            flush()
            stop()
            controller.close()
          },
        }
        heartbeat = setInterval(
          () => send(line(notification('heartbeat', { timestamp: Date.now() / 1000, session_id: streamId, status: 'alive' }))),
          heartbeatMs,
        )
        unlisten = until?.on(cut)
        if (finished) return
        execution.subscribe(subscriber, afterSeq)
      },
      pull() {
        asked = true
        if (gathering === undefined) flush()
      },
      cancel() {
        if (!finished) stop()
      },
    },
    // No queue of its own: a chunk is made when the reader asks for one.
    { highWaterMark: 0 },
  )
}

/** Changes a list watcher may hold for a reader that does not read; beyond it the stream ends (the reader lists again). */
const WATCH_BACKLOG = 10_000

/**
 * The list of executions, then its changes: first `executions.list {executions, total, matching,
 * labels}` (the newest `limit` records that match `filter`, as `list` returns them; how many
 * executions there are in all, and how many match; the labels of all of them), then
 * `execution.changed {execution, total, matching, matches}` with the whole record each time any
 * execution starts, pauses, resumes or ends (`matches`: whether it matches the filter now, so that
 * a reader drops one that no longer does), and heartbeats while nothing happens. So a reader can
 * hold a bounded list of the newest matching executions and still count them truly.
 * A reader that falls WATCH_BACKLOG changes behind is cut off rather than buffered for.
 */
export function watchStream(
  registry: ExecutionRegistry,
  { format, limit, filter = {}, heartbeatMs, onEnd, until }: { format: StreamFormat; limit: number; filter?: ListFilter; heartbeatMs: number; onEnd?: () => void; until?: Shutdown },
): ReadableStream<Uint8Array> {
  const filtered = isFiltered(filter)
  const counts = () => {
    const total = registry.size
    return { total, matching: filtered ? registry.count(filter) : total }
  }
  const streamId = crypto.randomUUID()
  const encode = (method: string, params: unknown) => {
    const text = notification(method, params)
    return encoder.encode(format === 'ndjson' ? `${text}\n` : `data: ${text}\n\n`)
  }
  let unwatch = () => {}
  let heartbeat: ReturnType<typeof setInterval> | undefined
  let ended = false
  let cut = () => {}
  let unlisten: (() => void) | undefined
  const stop = () => {
    if (ended) return
    ended = true
    unwatch()
    clearInterval(heartbeat)
    unlisten?.()
    onEnd?.()
  }
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        cut = () => {
          if (ended) return
          stop()
          controller.close()
        }
        unlisten = until?.on(cut)
        if (ended) return
        controller.enqueue(encode('executions.list', { executions: registry.list(limit, filter), ...counts(), labels: registry.labelNames() }))
        unwatch = registry.watch((record: ExecutionRecord) => {
          if (ended) return
          if ((controller.desiredSize ?? 0) <= -WATCH_BACKLOG) {
            stop()
            controller.close()
            return
          }
          controller.enqueue(encode('execution.changed', { execution: record, ...counts(), matches: matchesFilter(record, filter) }))
        })
        heartbeat = setInterval(
          () => controller.enqueue(encode('heartbeat', { timestamp: Date.now() / 1000, session_id: streamId, status: 'alive' })),
          heartbeatMs,
        )
      },
      cancel: stop,
    },
    // Counted in chunks: one per change.
    { highWaterMark: 1 },
  )
}
