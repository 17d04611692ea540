/**
 * @module protocol/frame — one event as it goes on the wire, made once and shared by the transcript
 * and every subscriber: its JSON text, and that text's UTF-8 bytes followed by a newline (its NDJSON
 * line, which a transcript and an NDJSON stream write as it is, and a socket without its newline).
 * Bulk output is made as bytes (protocol/plain-json), everything else as text; the other form is
 * derived when first asked for, at most once. A Web-standard WebSocket takes text; a Node socket
 * and the transcript take whichever form the frame holds (`readyText`): Node writes a string's
 * UTF-8 in its native write, which costs a short line less than encoding it here first.
 */
const encoder = new TextEncoder()
const decoder = new TextDecoder()
const NEWLINE = 10

export class Frame {
  #text: string | undefined
  #line: Uint8Array | undefined
  #utf8Length: number | undefined
  /**
   * How much it holds, for back-pressure and history budgets: its UTF-8 bytes when made as bytes,
   * else its text's UTF-16 code units (the same number for ASCII, and close enough for a budget).
   */
  readonly size: number

  private constructor(text: string | undefined, line: Uint8Array | undefined) {
    this.#text = text
    this.#line = line
    this.size = line ? line.byteLength - 1 : text!.length
  }

  static ofText(text: string): Frame {
    return new Frame(text, undefined)
  }

  /** `line` must be valid UTF-8 ending in its one newline, and must not change afterwards. */
  static ofLine(line: Uint8Array): Frame {
    if (line.at(-1) !== NEWLINE) throw new Error('a frame made of bytes ends with a newline')
    return new Frame(undefined, line)
  }

  /** Its text, if it has it without decoding (made as text, or decoded before); else its bytes are the cheaper form. */
  get readyText(): string | undefined {
    return this.#text
  }

  get text(): string {
    return (this.#text ??= decoder.decode(this.bytes))
  }

  /** The text's UTF-8 bytes (a view of `line`). */
  get bytes(): Uint8Array {
    const line = this.line
    return line.subarray(0, line.byteLength - 1)
  }

  /**
   * Its text's UTF-8 length: from its bytes when it has them, else counted by `count` (a runtime's
   * native count, which needs no bytes) once, for the transcript and every socket it goes to.
   */
  utf8Length(count: (text: string) => number): number {
    return (this.#utf8Length ??= this.#line ? this.#line.byteLength - 1 : count(this.#text!))
  }

  /** The UTF-8 bytes and a newline: one line of a transcript or an NDJSON stream. */
  get line(): Uint8Array {
    return (this.#line ??= encoder.encode(`${this.#text}\n`))
  }
}
