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
    let buffered = ''
    const emit = (line: string, controller: TransformStreamDefaultController<unknown>) => {
      if (line.trim() !== '') controller.enqueue(parse(line))
    }
    super({
      transform(chunk, controller) {
        buffered += chunk
        let newline: number
        while ((newline = buffered.indexOf('\n')) !== -1) {
          emit(buffered.slice(0, newline), controller)
          buffered = buffered.slice(newline + 1)
        }
      },
      flush(controller) {
        emit(buffered, controller)
      },
    })
  }
}
