/**
 * @module executions/recorder — builds one execution's event record for an executor that reads a
 * real process: seq numbers, output framing, byte counts, transcript hashes and the single
 * completion. Its `events` stream applies back-pressure: `output()` returns false once the
 * consumer has fallen `queueBytes` behind, and `onDemand` fires when it has room again.
 */
import type { CompletedEvent, CompletedParams, ExecutionEvent, StreamType } from '../protocol/schemas.ts'
import { OutputFramer, type OutputFramerOptions, type OutputPiece } from './output-framer.ts'

/** An incremental hash (SHA-256 hex); injected because the portable core has no streaming digest. */
export interface Hasher {
  update(text: string): void
  digest(): string
}

export interface RecorderOptions extends OutputFramerOptions {
  executionId: string
  command: string
  /** How many characters of output may wait for the consumer before the child's pipes are paused. */
  queueBytes?: number
  createHasher?: () => Hasher
  /** Called when the consumer wants more events (resume reading the pipes). */
  onDemand?: () => void
}

export type CompletionFields = Pick<CompletedParams, 'status' | 'exit_code' | 'signal' | 'reason' | 'pid' | 'pgid'>

export class ExecutionRecorder {
  readonly events: ReadableStream<ExecutionEvent>
  readonly #id: string
  readonly #command: string
  readonly #startedAt = performance.now()
  readonly #framers: Record<StreamType, OutputFramer>
  readonly #hashers: Record<StreamType, Hasher> | undefined
  readonly #bytes: Record<StreamType, number> = { stdout: 0, stderr: 0 }
  #controller!: ReadableStreamDefaultController<ExecutionEvent>
  #seq = 0
  #done = false
  #consumerGone = false
  #completion: CompletedEvent | undefined

  constructor({ executionId, command, queueBytes = 2_097_152, createHasher, onDemand, ...framing }: RecorderOptions) {
    this.#id = executionId
    this.#command = command
    this.events = new ReadableStream<ExecutionEvent>(
      {
        start: (controller) => {
          this.#controller = controller
        },
        pull: () => onDemand?.(),
        cancel: () => {
          this.#consumerGone = true
          onDemand?.()
        },
      },
      { highWaterMark: queueBytes, size: (e) => (e.method === 'process.output' ? e.params.data.length + 128 : 128) },
    )
    this.#framers = {
      stdout: new OutputFramer((p) => this.#output('stdout', p), framing),
      stderr: new OutputFramer((p) => this.#output('stderr', p), framing),
    }
    this.#hashers = createHasher && { stdout: createHasher(), stderr: createHasher() }
  }

  get seq(): number {
    return this.#seq
  }

  get elapsedSeconds(): number {
    return (performance.now() - this.#startedAt) / 1000
  }

  started(pid: number | null, pgid: number | null): void {
    this.#push({
      jsonrpc: '2.0',
      method: 'process.started',
      params: { execution_id: this.#id, seq: this.#nextSeq(), status: 'started', pid, pgid, command: this.#command },
    })
  }

  /** Raw bytes from the child. Returns whether the consumer still has room (false: pause the pipe). */
  output(type: StreamType, bytes: Uint8Array): boolean {
    this.#bytes[type] += bytes.byteLength
    this.#framers[type].write(bytes)
    return this.hasRoom
  }

  get hasRoom(): boolean {
    return this.#consumerGone || this.#done || (this.#controller.desiredSize ?? 0) > 0
  }

  /** The pipe closed: send the rest of a partial line and any incomplete UTF-8 sequence. */
  endOutput(type: StreamType): void {
    this.#framers[type].end()
  }

  marker(method: 'process.paused' | 'process.resumed' | 'process.canceled'): void {
    this.#push({ jsonrpc: '2.0', method, params: { execution_id: this.#id, seq: this.#nextSeq() } })
  }

  error(message: string): void {
    this.#push({ jsonrpc: '2.0', method: 'process.error', params: { execution_id: this.#id, seq: this.#nextSeq(), error: message } })
  }

  /** Records the one completion (later calls return the first) and closes the event stream. */
  complete(fields: CompletionFields): CompletedEvent {
    if (this.#completion) return this.#completion
    this.#framers.stdout.end()
    this.#framers.stderr.end()
    const event: CompletedEvent = {
      jsonrpc: '2.0',
      method: 'process.completed',
      params: {
        execution_id: this.#id,
        seq: this.#nextSeq(),
        ...fields,
        execution_time: Math.round(this.elapsedSeconds * 1e6) / 1e6,
        stdout_bytes: this.#bytes.stdout,
        stderr_bytes: this.#bytes.stderr,
        dropped_bytes: 0,
        transcript_sha256: this.#hashers ? { stdout: this.#hashers.stdout.digest(), stderr: this.#hashers.stderr.digest() } : null,
      },
    }
    this.#push(event)
    this.#done = true
    this.#completion = event
    if (!this.#consumerGone) this.#controller.close()
    return event
  }

  #output(type: StreamType, piece: OutputPiece): void {
    this.#hashers?.[type].update(piece.data)
    this.#push({
      jsonrpc: '2.0',
      method: 'process.output',
      params: { execution_id: this.#id, seq: this.#nextSeq(), type, ...piece },
    })
  }

  #nextSeq(): number {
    this.#seq += 1
    return this.#seq
  }

  #push(event: ExecutionEvent): void {
    if (this.#done || this.#consumerGone) return
    this.#controller.enqueue(event)
  }
}
