/** @module protocol/ndjson — newline-delimited JSON as a small TransformStream (text or UTF-8 bytes in, values out). */

/**
 * Parses NDJSON into values: one JSON value per line, blank lines skipped, a trailing line without
 * newline parsed on flush. A malformed line errors the stream. Bytes are decoded here (a UTF-8
 * sequence may be split across chunks), so a response body needs no TextDecoderStream stage of its
 * own: each stage is a hop per chunk, which a gateway pays on every event it relays.
 *
 * @example
 * response.body.pipeThrough(new NdjsonParseStream())
 */
export class NdjsonParseStream extends TransformStream<string | Uint8Array, unknown> {
  /** `parse` turns one line into its value (default JSON.parse). */
  constructor(parse: (line: string) => unknown = JSON.parse) {
    // The start of the line in progress, in pieces: a line longer than a chunk is joined once,
    // rather than the buffer being copied and searched again at every chunk.
    let pending: string[] = []
    const decoder = new TextDecoder()
    const emit = (line: string, controller: TransformStreamDefaultController<unknown>) => {
      if (line.length > 0 && (line.charCodeAt(0) > 0x20 || line.trim() !== '')) controller.enqueue(parse(line))
    }
    super({
      transform(input, controller) {
        const chunk = typeof input === 'string' ? input : decoder.decode(input, { stream: true })
        let start = 0
        let newline: number
        while ((newline = chunk.indexOf('\n', start)) !== -1) {
          const piece = chunk.slice(start, newline)
          if (pending.length === 0) emit(piece, controller)
          else {
            pending.push(piece)
            emit(pending.join(''), controller)
            pending = []
          }
          start = newline + 1
        }
        if (start < chunk.length) pending.push(chunk.slice(start))
      },
      flush(controller) {
        const tail = decoder.decode()
        if (tail !== '') pending.push(tail)
        emit(pending.join(''), controller)
      },
    })
  }
}
