/**
 * @module http/event-stream — an execution's events as a streamed HTTP body: NDJSON (one
 * notification per line) or SSE (`id: <seq>` per event). Each line is the very notification a
 * WebSocket client gets. The body's own queue is the back-pressure: a reader that does not pull
 * holds this subscriber back like a full socket.
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
  /** Bytes the body may queue before this subscriber waits for the reader. */
  highWaterMark?: number
}

/** Subscribes to `execution` and returns the body; cancelling the body unsubscribes. */
export function eventStream(
  execution: Execution,
  { format, afterSeq, heartbeatMs, highWaterMark = 1_048_576 }: EventStreamOptions,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  const streamId = crypto.randomUUID()
  const line = (text: string, seq?: number) =>
    encoder.encode(format === 'ndjson' ? `${text}\n` : seq === undefined ? `data: ${text}\n\n` : `id: ${seq}\ndata: ${text}\n\n`)
  let heartbeat: ReturnType<typeof setInterval> | undefined
  let wanted: (() => void) | undefined
  let finished = false
  let subscriber: Subscriber

  const stop = () => {
    finished = true
    clearInterval(heartbeat)
    wanted?.()
    execution.unsubscribe(subscriber)
  }

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const send = (bytes: Uint8Array) => {
          if (!finished) controller.enqueue(bytes)
        }
        subscriber = {
          deliver(event, text) {
            send(line(text, event.params.seq))
            if ((controller.desiredSize ?? 1) <= 0) return new Promise<void>((resolve) => (wanted = resolve))
          },
          notify: (text) => send(line(text)),
          end() {
            if (finished) return
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
        wanted?.()
        wanted = undefined
      },
      cancel() {
        if (!finished) stop()
      },
    },
    { highWaterMark, size: (chunk) => chunk.byteLength },
  )
}
