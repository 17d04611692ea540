/**
 * @module executions/recorder — builds one execution's event record for an executor that reads a
 * real process: output framing, seq numbers, byte counts, transcript hashes and the single
 * completion. Events wait in a queue of at most `queueBytes` characters of output until the
 * consumer takes them, and get their seq only then, so that dropping never leaves a seq gap:
 * - policy "block": `output()` returns false once the queue is full (pause the pipes), and
 *   `onDemand` fires when there is room again;
 * - policy "drop": the oldest queued output is dropped instead, and a process.dropped event takes
 *   its place, saying how many bytes and lines of which stream were lost.
 */
import type { CompletedEvent, CompletedParams, ExecutionEvent, OutputParams, StreamType } from '../protocol/schemas.ts'
import { OutputFields } from '../protocol/jsonrpc.ts'
import { MAX_BATCH, type EventFlow, type EventSink } from './executor.ts'
import { OutputFramer, type OutputFramerOptions, type OutputPiece } from './output-framer.ts'

/** An incremental hash (SHA-256 hex); injected because the portable core has no streaming digest. */
export interface Hasher {
  update(text: string): void
  digest(): string
}

export interface RecorderOptions extends OutputFramerOptions {
  executionId: string
  command: string
  /** Characters of output that may wait for the consumer. */
  queueBytes?: number
  /** What to do when the consumer falls behind: stop reading ("block") or drop the oldest output ("drop"). */
  policy?: 'block' | 'drop'
  createHasher?: () => Hasher
  /** Called when the consumer wants more events (resume reading the pipes). */
  onDemand?: () => void
}

export type CompletionFields = Pick<CompletedParams, 'status' | 'exit_code' | 'signal' | 'reason' | 'pid' | 'pgid'>

/** A queued event, waiting for its seq. */
type Pending =
  | { kind: 'output'; type: StreamType; piece: OutputPiece }
  | { kind: 'dropped'; type: StreamType; bytes: number; lines: number }
  | { kind: 'event'; make: (seq: number) => ExecutionEvent }

/** Output waits for its hash until this much of it is pending (see #flow). */
const HASH_BATCH_CHARS = 65_536
const HASH_BATCH_EVENTS = 1024

const encoder = new TextEncoder()
const utf8Length = (text: string) => encoder.encode(text).byteLength
const countLines = (text: string) => {
  let lines = 0
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines += 1
  return lines
}

/**
 * The consumer takes events either from `listen` (pushed in the call that produced them) or from
 * `events` (a ReadableStream over the same queue), one of the two.
 */
export class ExecutionRecorder {
  readonly #id: string
  readonly #command: string
  readonly #startedAt = performance.now()
  readonly #framers: Record<StreamType, OutputFramer>
  readonly #hashers: Record<StreamType, Hasher> | undefined
  /** Output handed over but not yet hashed: hashing waits until the consumer has it, and enough of it (see #flow). */
  readonly #unhashed: OutputParams[] = []
  #unhashedChars = 0
  readonly #bytes: Record<StreamType, number> = { stdout: 0, stderr: 0 }
  readonly #queueBytes: number
  readonly #policy: 'block' | 'drop'
  readonly #onDemand: (() => void) | undefined
  readonly #queue: Pending[] = []
  #queuedChars = 0
  #droppedBytes = 0
  #sink: EventSink | undefined
  #stream: ReadableStream<ExecutionEvent> | undefined
  /** The consumer has room for more events. */
  #wanted = false
  /** Inside #flow: an event added meanwhile (by the consumer's own call) is handed over by that loop. */
  #flowing = false
  #seq = 0
  #closing = false
  #consumerGone = false
  #completion: CompletedEvent | undefined

  constructor({ executionId, command, queueBytes = 2_097_152, policy = 'block', createHasher, onDemand, ...framing }: RecorderOptions) {
    this.#id = executionId
    this.#command = command
    this.#queueBytes = queueBytes
    this.#policy = policy
    this.#onDemand = onDemand
    this.#framers = {
      stdout: new OutputFramer((p) => this.#add({ kind: 'output', type: 'stdout', piece: p }), framing),
      stderr: new OutputFramer((p) => this.#add({ kind: 'output', type: 'stderr', piece: p }), framing),
    }
    this.#hashers = createHasher && { stdout: createHasher(), stderr: createHasher() }
  }

  /** Pushes the events to `sink` as they happen, from those queued now on. */
  listen(sink: EventSink): EventFlow {
    this.#attach(sink)
    const more = () => {
      this.#wanted = true
      this.#flow()
    }
    more()
    return { more }
  }

  /** The events as a stream; reading it is what takes them from the queue. */
  get events(): ReadableStream<ExecutionEvent> {
    this.#stream ??= new ReadableStream<ExecutionEvent>(
      {
        start: (controller) =>
          this.#attach({
            push: (events) => {
              for (const event of events) {
                controller.enqueue(event)
                if (event.method === 'process.completed') controller.close()
              }
              // Until the stream is read again (pull).
              return false
            },
          }),
        pull: () => {
          this.#wanted = true
          this.#flow()
        },
        cancel: () => {
          this.#consumerGone = true
          this.#queue.length = 0
          this.#queuedChars = 0
          this.#onDemand?.()
        },
      },
      { highWaterMark: 0 },
    )
    return this.#stream
  }

  #attach(sink: EventSink): void {
    if (this.#sink) throw new Error("an execution's events are taken once: by listen or by events, not both")
    this.#sink = sink
  }

  get elapsedSeconds(): number {
    return (performance.now() - this.#startedAt) / 1000
  }

  started(pid: number | null, pgid: number | null): void {
    this.#add({
      kind: 'event',
      make: (seq) => ({
        jsonrpc: '2.0',
        method: 'process.started',
        params: { execution_id: this.#id, seq, status: 'started', pid, pgid, command: this.#command },
      }),
    })
  }

  /** Raw bytes from the child. Returns whether to keep reading (false: pause the pipes until onDemand). */
  output(type: StreamType, bytes: Uint8Array): boolean {
    this.#bytes[type] += bytes.byteLength
    this.#framers[type].write(bytes)
    return this.hasRoom
  }

  get hasRoom(): boolean {
    return this.#policy === 'drop' || this.#consumerGone || this.#queuedChars < this.#queueBytes
  }

  /** The pipe closed: send the rest of a partial line and any incomplete UTF-8 sequence. */
  endOutput(type: StreamType): void {
    this.#framers[type].end()
  }

  marker(method: 'process.paused' | 'process.resumed' | 'process.canceled'): void {
    this.#add({ kind: 'event', make: (seq) => ({ jsonrpc: '2.0', method, params: { execution_id: this.#id, seq } }) })
  }

  error(message: string): void {
    this.#add({ kind: 'event', make: (seq) => ({ jsonrpc: '2.0', method: 'process.error', params: { execution_id: this.#id, seq, error: message } }) })
  }

  /** Records the one completion (later calls return the first); the stream closes once it is pulled. */
  complete(fields: CompletionFields): Promise<CompletedEvent> {
    if (this.#closing) return Promise.resolve(this.#completion!)
    this.#framers.stdout.end()
    this.#framers.stderr.end()
    this.#closing = true
    const executionTime = Math.round(this.elapsedSeconds * 1e6) / 1e6
    return new Promise((resolve) => {
      this.#add({
        kind: 'event',
        make: (seq) => {
          const event: CompletedEvent = {
            jsonrpc: '2.0',
            method: 'process.completed',
            params: {
              execution_id: this.#id,
              seq,
              ...fields,
              execution_time: executionTime,
              stdout_bytes: this.#bytes.stdout,
              stderr_bytes: this.#bytes.stderr,
              dropped_bytes: this.#droppedBytes,
              transcript_sha256: this.#hashers ? this.#digests() : null,
            },
          }
          this.#completion = event
          resolve(event)
          return event
        },
      })
      // Nobody reads any more: the completion is still made, for the record.
      if (this.#consumerGone) this.#flow()
    })
  }

  #add(item: Pending): void {
    if (this.#consumerGone && item.kind !== 'event') return
    this.#queue.push(item)
    if (item.kind === 'output') {
      this.#queuedChars += item.piece.data.length
      if (this.#policy === 'drop' && this.#queuedChars > this.#queueBytes) this.#dropOldest()
    }
    if (this.#wanted || this.#consumerGone) this.#flow()
  }

  /** Drop policy: the oldest queued output goes, and one process.dropped per stream stands in for it. */
  #dropOldest(): void {
    const dropped: Partial<Record<StreamType, Extract<Pending, { kind: 'dropped' }>>> = {}
    for (const item of this.#queue) if (item.kind === 'dropped') dropped[item.type] = item
    const kept: Pending[] = []
    for (const item of this.#queue) {
      if (item.kind === 'output' && this.#queuedChars > this.#queueBytes / 2) {
        this.#queuedChars -= item.piece.data.length
        const bytes = utf8Length(item.piece.data)
        this.#droppedBytes += bytes
        let marker = dropped[item.type]
        if (!marker) {
          marker = dropped[item.type] = { kind: 'dropped', type: item.type, bytes: 0, lines: 0 }
          kept.push(marker)
        }
        marker.bytes += bytes
        marker.lines += countLines(item.piece.data)
        continue
      }
      kept.push(item)
    }
    this.#queue.splice(0, this.#queue.length, ...kept)
  }

  /** Hands queued events to a consumer with room, numbering them now. */
  #flow(): void {
    if (this.#flowing) return
    this.#flowing = true
    try {
      while (this.#queue.length > 0 && (this.#wanted || this.#consumerGone)) {
        const batch: ExecutionEvent[] = []
        // One event waiting (a line on its way to a reader): pop, which costs less than shift.
        if (this.#queue.length === 1) batch.push(this.#make(this.#queue.pop()!))
        while (this.#queue.length > 0 && batch.length < MAX_BATCH) batch.push(this.#make(this.#queue.shift()!))
        if (this.#consumerGone) continue
        // A consumer that calls more() while it takes these has room, whatever push returns.
        this.#wanted = false
        if (this.#sink!.push(batch)) this.#wanted = true
      }
    } finally {
      this.#flowing = false
      // The hashes are read only by the completion (which hashes what is pending first). Taken after
      // the push, and for small output only once enough of it waits: work that follows a send in the
      // same turn delays its reader too, who is often woken on this CPU and waits for it.
      if (this.#unhashedChars >= HASH_BATCH_CHARS || this.#unhashed.length >= HASH_BATCH_EVENTS) this.#hash()
    }
    if (!this.#consumerGone && this.#queuedChars < this.#queueBytes) this.#onDemand?.()
  }

  #make(item: Pending): ExecutionEvent {
    this.#seq += 1
    const seq = this.#seq
    if (item.kind === 'event') return item.make(seq)
    if (item.kind === 'dropped') {
      return { jsonrpc: '2.0', method: 'process.dropped', params: { execution_id: this.#id, seq, type: item.type, bytes: item.bytes, lines: item.lines } }
    }
    this.#queuedChars -= item.piece.data.length
    const { piece } = item
    const params = new OutputFields(this.#id, seq, item.type, piece.chunk_index, piece.total_chunks, piece.truncated, piece.data)
    if (this.#hashers) {
      this.#unhashed.push(params)
      this.#unhashedChars += piece.data.length
    }
    return { jsonrpc: '2.0', method: 'process.output', params }
  }

  #hash(): void {
    if (!this.#hashers) return
    for (const { type, data } of this.#unhashed) this.#hashers[type].update(data)
    this.#unhashed.length = 0
    this.#unhashedChars = 0
  }

  #digests(): { stdout: string; stderr: string } {
    this.#hash()
    return { stdout: this.#hashers!.stdout.digest(), stderr: this.#hashers!.stderr.digest() }
  }
}
