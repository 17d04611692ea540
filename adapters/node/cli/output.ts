/** @module adapters/node/cli/output — writing to stdout/stderr with back-pressure, and leaving with everything flushed. */

/** Writes and waits while the stream's buffer is full; rejects if the stream fails (EPIPE). */
export function writeAll(stream: NodeJS.WriteStream, bytes: Uint8Array): Promise<void> | undefined {
  if (stream.write(bytes)) return undefined
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      stream.off('drain', onDrain)
      stream.off('error', onError)
      stream.off('close', onClose)
      if (error) reject(error)
      else resolve()
    }
    const onDrain = () => done()
    const onError = (error: Error) => done(error)
    const onClose = () => done(Object.assign(new Error('stream closed'), { code: 'EPIPE' }))
    stream.on('drain', onDrain)
    stream.on('error', onError)
    stream.on('close', onClose)
  })
}

/** Resolves once what was written to the stream so far has been handed to the OS. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableLength === 0) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 10_000)
    stream.write('', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** Exits with `code` once stdout and stderr are flushed. */
export async function exit(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)])
  process.exit(code)
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)))
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n'
}
