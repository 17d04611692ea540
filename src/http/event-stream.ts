/**
 * @module http/event-stream — an execution's events as a streamed HTTP body: NDJSON (one
 * notification per line) or SSE (`id: <seq>` per event). Each line is the very notification a
 * WebSocket client gets. The reader's pace is the back-pressure: one that does not read holds
 * this subscriber back like a full socket.
 */
import type { Execution, Subscriber } from '../executions/registry.ts'
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
  /** Characters of lines the body may hold for its reader before this subscriber waits. */
  highWaterMark?: number
  /** Called once when the stream ends: its last event was taken, or the reader went away. */
  onEnd?: () => void
}

/** A chunk at least this long (in characters) is bulk output: the next one waits a timer tick to gather more. */
const BULK_CHUNK = 16_384

/**
 * Subscribes to `execution` and returns the body; cancelling the body unsubscribes.
 *
 * A chunk is made when the reader asks for one, of every line that arrived since the last: a reader
 * that keeps up gets each event at once, a busy one gets fewer, larger chunks. After a large chunk
 * (bulk output) the next waits one timer tick to gather more, because the reader asks again at once.
 * A gateway in workerd pays per chunk: this took about 14 % off its CPU time (bench section 8).
 */
export function eventStream(
  execution: Execution,
  { format, afterSeq, heartbeatMs, highWaterMark = 1_048_576, onEnd }: EventStreamOptions,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  const streamId = crypto.randomUUID()
  const line = (text: string, seq?: number) =>
    format === 'ndjson' ? `${text}\n` : seq === undefined ? `data: ${text}\n\n` : `id: ${seq}\ndata: ${text}\n\n`
  let heartbeat: ReturnType<typeof setInterval> | undefined
  let controller!: ReadableStreamDefaultController<Uint8Array>
  /** Lines not yet handed to the reader, and their length. */
  let batch: string[] = []
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
    const text = batch.length === 1 ? batch[0] : batch.join('')
    batch = []
    batched = 0
    asked = false
    controller.enqueue(encoder.encode(text))
    taken?.()
    taken = undefined
    clearTimeout(gathering)
    gathering = undefined
    if (text.length >= BULK_CHUNK && !finished) {
      gathering = setTimeout(() => {
        gathering = undefined
        if (asked) flush()
      }, 0)
    }
  }
  const send = (text: string) => {
    if (finished) return
    batch.push(text)
    batched += text.length
    if (asked && gathering === undefined) flush()
  }
  const stop = () => {
    finished = true
    clearInterval(heartbeat)
    clearTimeout(gathering)
    taken?.()
    execution.unsubscribe(subscriber)
    onEnd?.()
  }

  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c
        subscriber = {
          deliver(event, text) {
            send(line(text, event.params.seq))
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
