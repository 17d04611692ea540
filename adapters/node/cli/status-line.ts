/**
 * @module adapters/node/cli/status-line — one line at the bottom of the terminal, on stderr, redrawn
 * in place. It is drawn only when the cursor is at the start of a line (never over a prompt the
 * command printed without a newline), cleared before any output is written to the terminal, and
 * cleared for good before the CLI exits. stdout never receives a byte of it.
 */

const CLEAR = '\r\x1b[2K'

export interface StatusLineOptions {
  stderr: NodeJS.WriteStream
  /** Whether stdout shows on the same terminal (then its writes move the cursor too). */
  stdoutIsTTY: boolean
  /** Draw at all (stderr is a TTY and the user did not turn it off). */
  enabled: boolean
  render: () => string
  intervalMs?: number
}

export class StatusLine {
  readonly #options: StatusLineOptions
  #shown = false
  #atLineStart = true
  #paused = false
  #timer: ReturnType<typeof setInterval> | undefined

  constructor(options: StatusLineOptions) {
    this.#options = options
  }

  get enabled(): boolean {
    return this.#options.enabled
  }

  start(): void {
    if (!this.#options.enabled || this.#timer) return
    this.draw()
    this.#timer = setInterval(() => this.draw(), this.#options.intervalMs ?? 250)
    this.#timer.unref()
  }

  draw(): void {
    if (!this.#options.enabled || this.#paused || !this.#atLineStart) return
    const columns = this.#options.stderr.columns || 80
    let text = this.#options.render()
    // A line that wraps cannot be cleared with \r: keep it within the terminal's width.
    if (text.length > columns - 1) text = text.slice(0, Math.max(0, columns - 2)) + '…'
    this.#options.stderr.write(`${CLEAR}\x1b[2m${text}\x1b[0m`)
    this.#shown = true
  }

  clear(): void {
    if (!this.#shown) return
    this.#options.stderr.write(CLEAR)
    this.#shown = false
  }

  /** Stops drawing (and clears) until resume(): while the CLI is stopped with Ctrl-Z. */
  pause(): void {
    this.#paused = true
    this.clear()
  }

  resume(): void {
    this.#paused = false
    this.draw()
  }

  /** Call before writing output to `stream`: a write that lands on the terminal clears the line first. */
  beforeWrite(stream: 'stdout' | 'stderr'): void {
    if (stream === 'stderr' || this.#options.stdoutIsTTY) this.clear()
  }

  /** Call after writing `bytes` to `stream`: the line is drawn again only once the output ended a line. */
  afterWrite(stream: 'stdout' | 'stderr', bytes: Uint8Array): void {
    if (bytes.length === 0 || !(stream === 'stderr' || this.#options.stdoutIsTTY)) return
    this.#atLineStart = bytes[bytes.length - 1] === 0x0a
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.clear()
  }
}
