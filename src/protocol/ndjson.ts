/** @module protocol/ndjson — newline-delimited JSON as a small TransformStream (text in, values out). */

/**
 * Parses NDJSON text into values: one JSON value per line, blank lines skipped, a trailing line
 * without newline parsed on flush. A malformed line errors the stream.
 *
 * @example
 * response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new NdjsonParseStream())
 */
export class NdjsonParseStream extends TransformStream<string, unknown> {
  /** `parse` turns one line into its value (default JSON.parse). */
  constructor(parse: (line: string) => unknown = JSON.parse) {
    // The start of the line in progress, in pieces: a line longer than a chunk is joined once,
    // rather than the buffer being copied and searched again at every chunk.
    let pending: string[] = []
    const emit = (line: string, controller: TransformStreamDefaultController<unknown>) => {
      if (line.length > 0 && (line.charCodeAt(0) > 0x20 || line.trim() !== '')) controller.enqueue(parse(line))
    }
    super({
      transform(chunk, controller) {
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
        emit(pending.join(''), controller)
      },
    })
  }
}
