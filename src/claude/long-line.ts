/**
 * @module claude/long-line — a stream-json line too long to hold whole (a tool result of
 * megabytes), read piece by piece into its skeleton: the same JSON text with every string longer
 * than `keep` characters cut to its first `keep`, and the real length of each cut string noted.
 * A claude.event carries at most MAX_EVENT_TEXT characters of any string, so the skeleton yields
 * the same events as the whole line while holding a bounded part of it, instead of the line, its
 * joined copy and its parsed copy at once.
 */

/** What a long line reads as: its skeleton's text, and the full length of each string cut in it. */
export interface Skeleton {
  text: string
  /** Keyed by the cut string's first `keep` characters, as JSON.parse of the skeleton gives them. */
  cutLengths: Map<string, number>
}

/** Kept pieces joined into one after this many, so that slices do not keep whole output chunks alive. */
const FLATTEN_EVERY = 256

export class LongLine {
  readonly #keep: number
  readonly #maxSize: number
  #out: string[] = []
  #size = 0
  #overflow = false
  #inString = false
  /** Where the current string's kept text starts in #out. */
  #stringStart = 0
  /** UTF-16 code units of the current string so far (an escape is one). */
  #units = 0
  /** An escape sequence split across pieces, completed by the next one. */
  #carry = ''
  readonly #cutLengths = new Map<string, number>()

  /** `keep`: characters kept of each string; `maxSize`: the skeleton's largest size, past it the line is given up. */
  constructor(keep: number, maxSize: number) {
    this.#keep = keep
    this.#maxSize = maxSize
  }

  /** The next piece of the line (no newline in it: in JSON a newline is never inside a string). */
  write(piece: string): void {
    if (this.#overflow) return
    const text = this.#carry === '' ? piece : this.#carry + piece
    this.#carry = ''
    const n = text.length
    let quote = -1
    let slash = -1
    let i = 0
    while (i < n) {
      if (quote < i) quote = text.indexOf('"', i)
      if (!this.#inString) {
        if (quote === -1) {
          this.#emit(text.slice(i))
          return
        }
        this.#emit(text.slice(i, quote + 1))
        this.#inString = true
        this.#units = 0
        this.#stringStart = this.#out.length
        i = quote + 1
        continue
      }
      if (slash < i && slash !== n) slash = text.indexOf('\\', i)
      if (slash === -1) slash = n
      const end = quote === -1 ? n : quote
      const stop = Math.min(end, slash)
      this.#chars(text, i, stop)
      if (stop === n) return
      if (stop === quote) {
        this.#closeString()
        i = quote + 1
        continue
      }
      // An escape: \uXXXX or a backslash and one character, one code unit either way.
      const length = text.charCodeAt(stop + 1) === 117 /* u */ ? 6 : 2
      if (stop + length > n) {
        this.#carry = text.slice(stop)
        return
      }
      if (this.#units < this.#keep) this.#emit(text.slice(stop, stop + length))
      this.#units += 1
      i = stop + length
    }
  }

  /** The skeleton, or undefined when it outgrew `maxSize` (the line is then only output). */
  end(): Skeleton | undefined {
    if (this.#overflow) return undefined
    return { text: this.#out.join(''), cutLengths: this.#cutLengths }
  }

  #chars(text: string, from: number, to: number): void {
    const count = to - from
    if (count === 0) return
    if (this.#units < this.#keep) this.#emit(text.slice(from, from + Math.min(count, this.#keep - this.#units)))
    this.#units += count
  }

  #closeString(): void {
    if (this.#units > this.#keep) {
      const kept = JSON.parse(`"${this.#out.slice(this.#stringStart).join('')}"`) as string
      this.#cutLengths.set(kept, this.#units)
    }
    this.#inString = false
    this.#emit('"')
  }

  #emit(text: string): void {
    if (text === '' || this.#overflow) return
    this.#size += text.length
    if (this.#size > this.#maxSize) {
      this.#overflow = true
      this.#out = []
      return
    }
    this.#out.push(text)
    if (this.#out.length >= FLATTEN_EVERY && !this.#inString) this.#out = [this.#out.join('')]
  }
}
