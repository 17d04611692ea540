/**
 * @module executions/output-framer — turns a child's raw pipe bytes into process.output messages:
 * UTF-8 decoded (invalid bytes replaced), many lines per message, a partial line held at most
 * `flushMs`, and a line longer than `maxChunk` split into numbered chunks.
 */

export interface OutputPiece {
  data: string
  chunk_index: number
  total_chunks: number
  truncated: boolean
}

/** A streaming UTF-8 decoder: keeps an incomplete sequence for the next call; `end` flushes it as U+FFFD. */
export interface Utf8Decoder {
  write(bytes: Uint8Array): string
  end(): string
}

/** The portable decoder. Runtimes with a faster native one (Node's StringDecoder) inject it. */
export function textDecoder(): Utf8Decoder {
  const decoder = new TextDecoder('utf-8', { fatal: false })
  return { write: (bytes) => decoder.decode(bytes, { stream: true }), end: () => decoder.decode() }
}

export interface OutputFramerOptions {
  /** Creates the UTF-8 decoder, one per stream. */
  createDecoder?: () => Utf8Decoder
  /** Longest `data` in one message, in UTF-16 code units (PROTOCOL's MAX_CHUNK_SIZE). */
  maxChunk?: number
  /** How long a partial line (no newline yet) may wait for the rest of it. */
  flushMs?: number
  /** A partial line longer than this is sent at once rather than held (bounds memory). */
  holdLimit?: number
}

/** Frames one stream (stdout or stderr). `emit` receives each message in order. */
export class OutputFramer {
  readonly #emit: (piece: OutputPiece) => void
  readonly #decoder: Utf8Decoder
  readonly #maxChunk: number
  readonly #flushMs: number
  readonly #holdLimit: number
  #pending = ''
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    emit: (piece: OutputPiece) => void,
    { createDecoder = textDecoder, maxChunk = 65_536, flushMs = 50, holdLimit = 1_048_576 }: OutputFramerOptions = {},
  ) {
    this.#emit = emit
    this.#decoder = createDecoder()
    this.#maxChunk = maxChunk
    this.#flushMs = flushMs
    this.#holdLimit = Math.max(holdLimit, maxChunk)
  }

  /**
   * Adds bytes read from the pipe; complete lines are emitted now, a trailing partial line soon.
   * When the lines fill more than one message, the full messages go now and the lines left over
   * wait one timer tick for the next read to fill their message too: a pipe read in bulk becomes
   * messages of ~maxChunk instead of one full and one tiny message per read.
   */
  write(bytes: Uint8Array): void {
    const text = this.#decoder.write(bytes)
    if (text === '') return
    const hadPending = this.#pending !== ''
    const all = hadPending ? this.#pending + text : text
    // Most reads end with their line's newline: a look at the last character spares the search.
    const lastNewline = all.charCodeAt(all.length - 1) === NEWLINE ? all.length - 1 : all.lastIndexOf('\n')
    if (lastNewline === -1) {
      this.#pending = all
      if (all.length > this.#holdLimit) this.flush(true)
      else if (!hadPending) this.#arm(this.#flushMs)
      return
    }
    const rest = all.slice(lastNewline + 1)
    const leftOver = this.#send(lastNewline + 1 === all.length ? all : all.slice(0, lastNewline + 1), true)
    this.#pending = leftOver === '' ? rest : leftOver + rest
    this.#disarm()
    if (leftOver !== '') this.#arm(0)
    else if (rest !== '') this.#arm(this.#flushMs)
  }

  /** Sends whatever is held. `continues` marks a line that goes on in a later message. */
  flush(continues = false): void {
    this.#disarm()
    const held = this.#pending
    this.#pending = ''
    if (held === '') return
    // A line cut short by holdLimit (the only flush with `continues`) goes on in the next message.
    if (continues) this.#sendLongLine(held, true)
    else this.#send(held)
  }

  /** The stream ended: decode what is left (an incomplete UTF-8 sequence becomes U+FFFD) and send it. */
  end(): void {
    const tail = this.#decoder.end()
    if (tail !== '') this.#pending += tail
    this.flush()
  }

  /** Held complete lines go after `ms` = 0 (one tick); a held partial line alone after flushMs. */
  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      const held = this.#pending
      const lastNewline = ms === 0 ? held.lastIndexOf('\n') : -1
      if (lastNewline === -1 || lastNewline + 1 === held.length) return this.flush()
      // Complete lines go now; the partial line after them waits for its newline as usual.
      this.#pending = held.slice(lastNewline + 1)
      this.#send(held.slice(0, lastNewline + 1))
      this.#arm(this.#flushMs)
    }, ms)
  }

  #disarm(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
  }

  /**
   * Packs whole lines into messages of at most maxChunk; splits only lines that are longer. With
   * `holdTail`, lines left after at least one full message are returned rather than sent.
   */
  #send(text: string, holdTail = false): string {
    const max = this.#maxChunk
    let start = 0
    while (text.length - start > max) {
      const cut = text.lastIndexOf('\n', start + max - 1)
      if (cut >= start) {
        this.#emit({ data: text.slice(start, cut + 1), chunk_index: 0, total_chunks: 1, truncated: false })
        start = cut + 1
        continue
      }
      const newline = text.indexOf('\n', start)
      const lineEnd = newline === -1 ? text.length : newline + 1
      this.#sendLongLine(text.slice(start, lineEnd), false)
      start = lineEnd
    }
    if (start < text.length) {
      if (holdTail && start > 0) return text.slice(start)
      this.#emit({ data: start === 0 ? text : text.slice(start), chunk_index: 0, total_chunks: 1, truncated: false })
    }
    return ''
  }

  /** One line longer than maxChunk: chunk_index/total_chunks, truncated on all but the last piece. */
  #sendLongLine(line: string, continues: boolean): void {
    const pieces: string[] = []
    let at = 0
    while (at < line.length) {
      let end = Math.min(at + this.#maxChunk, line.length)
      // Never split a surrogate pair: both halves would decode as U+FFFD.
      if (end < line.length && isHighSurrogate(line.charCodeAt(end - 1))) end -= 1
      pieces.push(line.slice(at, end))
      at = end
    }
    pieces.forEach((data, i) => {
      const last = i === pieces.length - 1
      this.#emit({ data, chunk_index: i, total_chunks: pieces.length, truncated: !last || continues })
    })
  }
}

const NEWLINE = 10

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff
