/**
 * @module protocol/frame — one event as it goes on the wire, made once and shared by the transcript
 * and every subscriber: its JSON text and that text's UTF-8 bytes. Bulk output is made as bytes
 * (protocol/plain-json), everything else as text; the other form is derived when first asked for,
 * at most once. A Node socket and the transcript take bytes, a Web-standard WebSocket takes text.
 */
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class Frame {
  #text: string | undefined
  #bytes: Uint8Array | undefined
  /**
   * How much it holds, for back-pressure and history budgets: its UTF-8 bytes when made as bytes,
   * else its text's UTF-16 code units (the same number for ASCII, and close enough for a budget).
   */
  readonly size: number

  private constructor(text: string | undefined, bytes: Uint8Array | undefined) {
    this.#text = text
    this.#bytes = bytes
    this.size = bytes ? bytes.byteLength : text!.length
  }

  static ofText(text: string): Frame {
    return new Frame(text, undefined)
  }

  /** `bytes` must be valid UTF-8 and must not change afterwards. */
  static ofBytes(bytes: Uint8Array): Frame {
    return new Frame(undefined, bytes)
  }

  get text(): string {
    return (this.#text ??= decoder.decode(this.#bytes))
  }

  get bytes(): Uint8Array {
    return (this.#bytes ??= encoder.encode(this.#text))
  }
}
