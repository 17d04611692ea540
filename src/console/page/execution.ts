/**
 * @module console/page/execution — one execution: its record, controls (Cancel, Pause, Resume,
 * Verify, stdin), its output in xterm, and for a Claude task the conversation beside it.
 *
 * Output is attached over the WebSocket from seq 0, or, when that would be a lot, from near the end
 * (the tail shows within a moment; a note says that earlier output was not loaded). The message
 * handler only queues the text; a TerminalWriter writes it to xterm in throttled batches and skips
 * the part of a fast stream that the terminal could not keep anyway, with a note. So the page takes
 * output as fast as the browser delivers it (the server paces a lossless execution to its fastest
 * subscriber), its memory stays bounded, and "Download output" saves every byte from the transcript.
 */
import { FitAddon } from '@xterm/addon-fit'
import { Terminal } from '@xterm/xterm'
import { ApiError, AuthError, get, Rpc, stream, type ExecutionRecord, type Notification } from './api.ts'
import { clear, cost, duration, h, shorten, when } from './dom.ts'
import { askToken, hrefs, link, store } from './main.ts'
import { badge, elapsed, exitOf, kindBadge, summaryOf } from './views.ts'

/** Output bytes (about) that a first load replays; more than that and only the tail is loaded. */
const TAIL_BYTES = 2 * 1024 * 1024
/**
 * Events replayed of a running execution, whose output size is not known yet (its record has none
 * until it ends): a few hundred lines, or at most this many MAX_CHUNK_SIZE events of a fast stream.
 * docs/console.md says so.
 */
const TAIL_EVENTS = 400
/** Text handed to xterm per write, about. */
const WRITE_BATCH = 256 * 1024
/**
 * Milliseconds from one write to xterm to the next, at least. Each write makes xterm render its
 * screen, and in chromium that (the DOM rows, then style, layout and paint) costs more main-thread
 * time than parsing the text: written at every animation frame, a fast stream came in at about half
 * the rate of a page that only counts the messages. Ten writes a second still look live, and
 * output after a quiet spell is written at the next frame.
 */
const WRITE_INTERVAL_MS = 100
/** Notes (gaps, drops) kept from skipped output, the newest. */
const SKIPPED_NOTES = 10

const SGR = { red: '\x1b[31m', yellow: '\x1b[33m', dim: '\x1b[2m', reset: '\x1b[0m' }

declare global {
  interface Window {
    /** The open execution's terminal, for tests and the curious (read its buffer). */
    ccConsole?: { terminal: Terminal; executionId: string }
  }
}

/** Where to start replaying: 0, or a late seq when the whole output would be too much to load. */
function startSeq(record: ExecutionRecord): number {
  if (record.kind === 'claude' && record.last_seq < 20_000) return 0
  const bytes = (record.stdout_bytes ?? 0) + (record.stderr_bytes ?? 0)
  if (record.state === 'exited' && record.stdout_bytes !== null) {
    if (bytes <= TAIL_BYTES || record.last_seq === 0) return 0
    const perEvent = bytes / record.last_seq
    return Math.max(0, Math.floor(record.last_seq - TAIL_BYTES / perEvent))
  }
  return record.last_seq > TAIL_EVENTS * 2 ? record.last_seq - TAIL_EVENTS : 0
}

function newlines(text: string): number {
  let n = 0
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++
  return n
}

/** Output (stdout or stderr) or a note of the console's own, waiting for the terminal. */
interface Piece {
  text: string
  kind: 'stdout' | 'stderr' | 'note'
  lines: number
}

/**
 * Holds output for the terminal and writes it in batches, at most one per WRITE_INTERVAL_MS, at an
 * animation frame and only once xterm has parsed the last. Taking output costs only a push:
 * however fast it comes, the page reads its socket at the speed the browser delivers it. What waits is bounded by what the terminal could
 * show anyway: once the waiting output holds more lines than the scrollback and the screen (or
 * twice as many characters as those rows have cells; escape sequences take none), its oldest
 * pieces are skipped, and a note in the terminal says how much. Notes (gaps, drops, the end) are
 * kept. Nothing is lost on the server: its transcript has every byte ("Download output").
 */
class TerminalWriter {
  #pieces: Piece[] = []
  #head = 0
  /** Newlines and characters of the waiting output. */
  #lines = 0
  #chars = 0
  #skipped = { lines: 0, chars: 0, notes: [] as string[], earlierNotes: 0 }
  #writing = false
  #resetting = false
  #frame = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #lastWrite = -Infinity
  /** Output skipped since the last reset, in all: the terminal's notes of it scroll away, this does not. */
  #skippedTotal = { lines: 0, chars: 0 }
  follow = true
  /**
   * @param onSkipped told the running total of skipped output each time more is skipped, and
   *   (0, 0) on a reset; the page keeps it in sight outside the terminal.
   */
  constructor(
    readonly terminal: Terminal,
    readonly onSkipped: (lines: number, chars: number) => void = () => {},
  ) {}

  output(text: string, stderr: boolean): void {
    this.#push({ text, kind: stderr ? 'stderr' : 'stdout', lines: newlines(text) })
  }

  note(text: string): void {
    this.#push({ text, kind: 'note', lines: 0 })
  }

  /**
   * Empties the terminal and forgets what waits. xterm's own reset() still parses a write it has
   * not parsed yet, so during a write the reset waits for it: nothing written before shows after.
   */
  reset(): void {
    this.#pieces = []
    this.#head = this.#lines = this.#chars = 0
    this.#skipped = { lines: 0, chars: 0, notes: [], earlierNotes: 0 }
    this.#skippedTotal = { lines: 0, chars: 0 }
    this.onSkipped(0, 0)
    if (this.#writing) this.#resetting = true
    else this.terminal.reset()
  }

  #push(piece: Piece): void {
    this.#pieces.push(piece)
    this.#lines += piece.lines
    this.#chars += piece.text.length
    this.#trim()
    this.#schedule()
  }

  #trim(): void {
    const rows = (this.terminal.options.scrollback ?? 1000) + this.terminal.rows
    const cells = 2 * rows * this.terminal.cols
    while (this.#head < this.#pieces.length) {
      const first = this.#pieces[this.#head]
      if (first.kind !== 'note' && this.#lines - first.lines < rows && this.#chars - first.text.length < cells) break
      this.#head++
      this.#lines -= first.lines
      this.#chars -= first.text.length
      const skipped = this.#skipped
      if (first.kind === 'note') {
        // Written where it stands, before the output that follows it.
        skipped.notes.push(first.text)
        if (skipped.notes.length > SKIPPED_NOTES) {
          skipped.notes.shift()
          skipped.earlierNotes++
        }
      } else {
        skipped.lines += first.lines
        skipped.chars += first.text.length
      }
    }
    if (this.#head > 1024 && this.#head * 2 > this.#pieces.length) {
      this.#pieces = this.#pieces.slice(this.#head)
      this.#head = 0
    }
  }

  #schedule(): void {
    if (this.#writing || this.#frame || this.#timer !== undefined) return
    const frame = () => {
      this.#timer = undefined
      this.#frame = requestAnimationFrame(() => {
        this.#frame = 0
        this.#flush()
      })
    }
    const wait = this.#lastWrite + WRITE_INTERVAL_MS - performance.now()
    if (wait > 0) this.#timer = setTimeout(frame, wait)
    else frame()
  }

  #flush(): void {
    let text = ''
    const skipped = this.#skipped
    if (skipped.chars > 0) {
      this.#skippedTotal.lines += skipped.lines
      this.#skippedTotal.chars += skipped.chars
      this.onSkipped(this.#skippedTotal.lines, this.#skippedTotal.chars)
      text += `\r\n${SGR.yellow}[console: ${skipped.lines.toLocaleString()} lines (${skipped.chars.toLocaleString()} characters) skipped to keep up, more than the terminal keeps; “Download output” has all of it]${SGR.reset}\r\n`
    }
    if (skipped.earlierNotes > 0) text += `${SGR.yellow}[console: ${skipped.earlierNotes} earlier notes skipped]${SGR.reset}\r\n`
    text += skipped.notes.join('')
    this.#skipped = { lines: 0, chars: 0, notes: [], earlierNotes: 0 }
    while (this.#head < this.#pieces.length && text.length < WRITE_BATCH) {
      const piece = this.#pieces[this.#head++]
      this.#lines -= piece.lines
      this.#chars -= piece.text.length
      text += piece.kind === 'stderr' ? `${SGR.red}${piece.text}${SGR.reset}` : piece.text
    }
    if (this.#head === this.#pieces.length) this.#pieces.length = this.#head = 0
    if (text === '') return
    this.#writing = true
    this.#lastWrite = performance.now()
    this.terminal.write(text, () => {
      this.#writing = false
      if (this.#resetting) {
        this.#resetting = false
        this.terminal.reset()
      }
      if (this.follow) this.terminal.scrollToBottom()
      this.#schedule()
    })
  }

  dispose(): void {
    cancelAnimationFrame(this.#frame)
    clearTimeout(this.#timer)
  }
}

/** Output parts gathered before they go into the Blob (so the heap holds about this much of them). */
const DOWNLOAD_PART = 4 * 1024 * 1024

/**
 * The whole output (stdout and stderr as they came), read from the transcript, as a Blob: the
 * browser keeps a Blob's bytes out of the tab's heap, so this holds a few MB at a time however big.
 */
async function outputBlob(id: string, progress: (characters: number) => void, signal: AbortSignal): Promise<Blob> {
  let blob = new Blob([])
  let parts: string[] = []
  let gathered = 0
  let total = 0
  await stream(
    `v1/executions/${encodeURIComponent(id)}/transcript`,
    (message) => {
      if (message.method !== 'process.output') return
      const data = String(message.params.data ?? '')
      parts.push(data)
      gathered += data.length
      total += data.length
      if (gathered < DOWNLOAD_PART) return
      blob = new Blob([blob, ...parts])
      parts = []
      gathered = 0
      progress(total)
    },
    signal,
  )
  return new Blob([blob, ...parts], { type: 'text/plain;charset=utf-8' })
}

/** A Claude task's conversation: text, tool calls (collapsible, filled in by their results), the result card. */
class Conversation {
  readonly element = h('section', { class: 'conversation', 'aria-label': 'Conversation' })
  readonly #list = h('ol', { class: 'turns' })
  readonly #tools = new Map<string, HTMLElement>()
  #result: HTMLElement | undefined
  constructor() {
    this.element.append(h('h2', {}, 'Conversation'), this.#list)
  }

  add(event: any): void {
    const near = this.element.scrollHeight - this.element.scrollTop - this.element.clientHeight < 40
    switch (event.kind) {
      case 'init':
        this.#list.append(h('li', { class: 'init muted' }, `Session ${event.session_id ?? '?'} · ${event.model ?? 'model ?'} · ${(event.tools ?? []).length} tools`))
        break
      case 'text':
        this.#list.append(h('li', { class: 'text' }, h('span', { class: 'who' }, 'Claude'), h('div', { class: 'said' }, String(event.text ?? ''))))
        break
      case 'tool_use': {
        const input = JSON.stringify(event.input ?? {}, null, 2)
        const brief = typeof event.input?.command === 'string' ? event.input.command : typeof event.input?.file_path === 'string' ? event.input.file_path : JSON.stringify(event.input ?? {})
        const result = h('div', { class: 'tool-result pending' }, 'running…')
        const row = h(
          'li',
          { class: 'tool', 'data-tool-id': String(event.id ?? '') },
          h(
            'details',
            {},
            h('summary', {}, h('span', { class: 'tool-name' }, String(event.name ?? 'tool')), h('code', { class: 'tool-brief' }, shorten(brief, 120)), h('span', { class: 'tool-state' }, '…')),
            h('div', { class: 'tool-body' }, h('div', { class: 'muted small' }, 'Input'), h('pre', {}, input), h('div', { class: 'muted small' }, 'Result'), result),
          ),
        )
        this.#tools.set(String(event.id), row)
        this.#list.append(row)
        break
      }
      case 'tool_result': {
        const row = this.#tools.get(String(event.tool_use_id))
        const content = typeof event.content === 'string' ? event.content : JSON.stringify(event.content, null, 2)
        if (!row) break
        const result = row.querySelector('.tool-result')!
        result.className = `tool-result ${event.is_error ? 'bad' : ''}`
        result.replaceChildren(h('pre', {}, content))
        const state = row.querySelector('.tool-state')!
        state.textContent = event.is_error ? 'error' : 'ok'
        state.className = `tool-state ${event.is_error ? 'bad' : 'good'}`
        break
      }
      case 'retry':
        this.#list.append(h('li', { class: 'note warn' }, `API retry ${event.attempt ?? ''} (status ${event.error_status ?? '?'}), next in ${event.retry_delay_ms ?? '?'} ms`))
        break
      case 'rate_limit':
        this.#list.append(h('li', { class: 'note warn' }, `Rate limit: ${event.status ?? ''}`))
        break
      case 'result':
        this.result(event)
        break
    }
    if (near) this.element.scrollTop = this.element.scrollHeight
  }

  result(summary: any): void {
    this.#result?.remove()
    const item = (name: string, value: string, cls = '') => h('div', { class: `stat ${cls}` }, h('dt', {}, name), h('dd', {}, value))
    this.#result = h(
      'li',
      { class: `result-card ${summary.is_error ? 'is-error' : ''}`, 'aria-label': 'Result' },
      h('h3', {}, summary.is_error ? 'Ended with an error' : 'Result'),
      summary.result ? h('p', { class: 'said' }, String(summary.result)) : null,
      h(
        'dl',
        {},
        item('Turns', String(summary.num_turns ?? '—')),
        item('Cost', cost(summary.total_cost_usd) || '—'),
        item('Duration', typeof summary.duration_ms === 'number' ? duration(summary.duration_ms / 1000) : '—'),
        item('is_error', String(summary.is_error ?? '—'), summary.is_error ? 'bad' : 'good'),
        item('Session', String(summary.session_id ?? '—'), 'mono wide'),
      ),
    )
    this.#list.append(this.#result)
  }
}

export function executionView(main: HTMLElement, id: string): () => void {
  let rpc: Rpc | undefined
  let terminal: Terminal | undefined
  let writer: TerminalWriter | undefined
  let resize: ResizeObserver | undefined
  let ticker: ReturnType<typeof setInterval> | undefined
  let retry: ReturnType<typeof setTimeout> | undefined
  let closed = false
  const downloads = new AbortController()
  main.append(h('p', { class: 'muted' }, 'Loading…'))

  const notFound = () => {
    clear(main)
    main.append(
      h(
        'div',
        { class: 'card not-found', role: 'alert' },
        h('h1', {}, 'Execution not found'),
        h('p', {}, 'No execution has the id ', h('code', {}, id), '. It may have been deleted by retention, or the link is wrong.'),
        link(hrefs.list(), { class: 'button' }, 'All executions'),
      ),
    )
  }

  void (async () => {
    let record: ExecutionRecord
    try {
      record = await get<ExecutionRecord>(`v1/executions/${encodeURIComponent(id)}`)
    } catch (error) {
      if (closed) return
      if (error instanceof AuthError) return askToken(error.message)
      if (error instanceof ApiError && error.status === 404) return notFound()
      clear(main)
      main.append(h('p', { class: 'error', role: 'alert' }, `Cannot load execution ${id}: ${(error as Error).message}`))
      return
    }
    if (closed) return
    build(record)
  })()

  function build(initial: ExecutionRecord) {
    let record = initial
    clear(main)
    const summary = summaryOf(record)
    const stateBadge = h('span', {}, badge(record.status))
    const meta = h('dl', { class: 'meta' })
    const renderMeta = () => {
      stateBadge.replaceChildren(badge(record.status))
      const item = (name: string, value: string | Node) => h('div', {}, h('dt', {}, name), h('dd', {}, value))
      meta.replaceChildren(
        ...[
        item('Label', record.label ?? '—'),
        item('Started', when(record.started_at)),
        item('Duration', duration(elapsed(record))),
        item('Exit', exitOf(record) || '—'),
        item('PID', record.pid === null ? '—' : String(record.pid)),
        // Behind a gateway over a pool: the executor that runs it (where its PID means something).
        record.executor ? item('Executor', record.executor) : null,
        record.kind === 'claude' && record.claude ? item('Cost', cost(record.claude.total_cost_usd)) : null,
        ].filter((n): n is HTMLDivElement => n !== null),
      )
      const live = record.state !== 'exited'
      cancel.disabled = !live
      pause.disabled = record.state !== 'running'
      resume.disabled = record.state !== 'paused'
      stdinForm.hidden = !(live && record.stdin === 'pipe')
    }
    const notice = h('p', { class: 'notice', role: 'status', hidden: true })
    const say = (text: string, bad = false) => {
      notice.hidden = false
      notice.className = bad ? 'notice error' : 'notice'
      notice.textContent = text
    }
    const control = (type: string) => async () => {
      try {
        const result = await rpc!.call<{ status?: string; message?: string }>('control', { execution_id: id, type })
        // A gateway that could not reach the executor keeps a CANCEL and sends it later: say so.
        if (result?.status === 'pending') say(`${type} pending: ${result.message ?? 'not delivered yet'}`)
      } catch (error) {
        say(`${type}: ${(error as Error).message}`, true)
      }
    }
    const cancel = h('button', { type: 'button', class: 'danger', onclick: control('CANCEL') }, 'Cancel')
    const pause = h('button', { type: 'button', onclick: control('PAUSE') }, 'Pause')
    const resume = h('button', { type: 'button', onclick: control('RESUME') }, 'Resume')
    const checks = h('section', { class: 'checks', 'aria-label': 'Verification', hidden: true })
    const verify = h(
      'button',
      {
        type: 'button',
        onclick: async () => {
          checks.hidden = false
          checks.replaceChildren(h('p', { class: 'muted' }, 'Verifying…'))
          try {
            const result = await rpc!.call<{ verified: boolean; checks: { name: string; ok: boolean; detail: string }[] }>('verify', { execution_id: id })
            checks.replaceChildren(
              h('h2', {}, result.verified ? '✓ Verified' : '✗ Not verified'),
              h('ul', {}, ...result.checks.map((c) => h('li', { class: c.ok ? 'good' : 'bad' }, h('strong', {}, `${c.ok ? '✓' : '✗'} ${c.name}`), ' ', h('span', { class: 'muted' }, c.detail)))),
            )
            checks.className = `checks ${result.verified ? 'ok' : 'failed'}`
          } catch (error) {
            checks.replaceChildren(h('p', { class: 'error' }, `Verify: ${(error as Error).message}`))
          }
        },
      },
      'Verify',
    )
    const follow = h('input', { type: 'checkbox', id: 'follow', checked: true })
    const stdinInput = h('input', { id: 'stdin', name: 'stdin', autocomplete: 'off', placeholder: 'a line for its stdin', 'aria-label': 'stdin' })
    const stdinForm = h(
      'form',
      {
        class: 'stdin',
        hidden: true,
        onsubmit: async (event: SubmitEvent) => {
          event.preventDefault()
          const data = `${stdinInput.value}\n`
          stdinInput.value = ''
          try {
            await rpc!.call('input', { execution_id: id, data })
          } catch (error) {
            say(`stdin: ${(error as Error).message}`, true)
          }
        },
      },
      h('span', { class: 'prompt', 'aria-hidden': 'true' }, '›'),
      stdinInput,
      h('button', { type: 'submit' }, 'Send'),
      h(
        'button',
        {
          type: 'button',
          onclick: async () => {
            try {
              await rpc!.call('input', { execution_id: id, data: '', eof: true })
            } catch (error) {
              say(`stdin: ${(error as Error).message}`, true)
            }
          },
        },
        'Close stdin',
      ),
    )
    const loadAll = h('button', { type: 'button', hidden: true, onclick: () => attach(0) }, 'Load all output')
    const download = h(
      'button',
      {
        type: 'button',
        title: 'Save the whole output (stdout and stderr) from the transcript',
        onclick: async () => {
          download.disabled = true
          try {
            const blob = await outputBlob(id, (n) => (download.textContent = `Downloading… ${(n / 1e6).toFixed(0)} M characters`), downloads.signal)
            const a = h('a', { href: URL.createObjectURL(blob), download: `${id}.log`, hidden: true })
            document.body.append(a)
            a.click()
            a.remove()
            setTimeout(() => URL.revokeObjectURL(a.href), 60_000)
          } catch (error) {
            if (error instanceof AuthError) return askToken(error.message)
            if (!downloads.signal.aborted) say(`Download: ${(error as Error).message}`, true)
          } finally {
            download.disabled = false
            download.textContent = 'Download output'
          }
        },
      },
      'Download output',
    )
    // Beside the terminal's own notes, which later output pushes out of its scrollback.
    const skippedNote = h('p', { class: 'notice skipped', role: 'status', hidden: true })
    const showSkipped = (lines: number, chars: number) => {
      skippedNote.hidden = chars === 0
      skippedNote.textContent = `${lines.toLocaleString()} lines (${chars.toLocaleString()} characters) of this output were skipped to keep up, more than the terminal keeps: it shows the newest. “Download output” has all of it.`
    }
    const termBox = h('div', { class: 'terminal', 'aria-label': 'Output' })
    const conversation = record.kind === 'claude' ? new Conversation() : undefined

    main.append(
      h(
        'section',
        { class: 'exec-head' },
        h('div', { class: 'crumbs' }, link(hrefs.list(), {}, '← Executions')),
        h('div', { class: 'title-row' }, kindBadge(record.kind), h('h1', { class: 'mono', title: record.id }, record.id), stateBadge),
        h('pre', { class: 'command-text', title: record.kind === 'claude' ? 'Prompt' : 'Command' }, summary),
        meta,
      ),
      h(
        'section',
        { class: 'controls', 'aria-label': 'Controls' },
        cancel,
        pause,
        resume,
        verify,
        loadAll,
        download,
        h('div', { class: 'spacer' }),
        h('label', { class: 'check', for: 'follow' }, follow, 'Follow'),
      ),
      notice,
      checks,
      stdinForm,
      skippedNote,
      h('div', { class: conversation ? 'panes two' : 'panes' }, conversation?.element, termBox),
    )
    renderMeta()

    terminal = new Terminal({
      convertEol: true,
      scrollback: 10_000,
      disableStdin: true,
      cursorBlink: false,
      fontSize: 13,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace',
      theme: { background: '#0f1419', foreground: '#d6dde6', cursor: '#0f1419', selectionBackground: '#33415580' },
    })
    // Its input is disabled, so Tab (with Shift or not) is not a key for the command: the browser's
    // own, moving the focus on, for keyboard users (xterm would keep it, as a tab character).
    terminal.attachCustomKeyEventHandler((event) => !(event.key === 'Tab' && !event.ctrlKey && !event.altKey && !event.metaKey))
    const fit = new FitAddon()
    terminal.loadAddon(fit)
    terminal.open(termBox)
    fit.fit()
    resize = new ResizeObserver(() => fit.fit())
    resize.observe(termBox)
    writer = new TerminalWriter(terminal, showSkipped)
    follow.addEventListener('change', () => {
      writer!.follow = follow.checked
      if (follow.checked) terminal!.scrollToBottom()
    })
    window.ccConsole = { terminal, executionId: id }

    // The events of the stream last attached, after `seen`. Re-attaching restarts the stream, and
    // until its answer comes the events are still those of the stream it replaces: they are left
    // out, since the new one replays them (protocol.md, "attach": the answer comes before them).
    let seen = 0
    let taking = false
    let attaching = 0
    const onEvent = (message: Notification) => {
      if (!taking) return
      const p = message.params
      if (typeof p.seq === 'number') {
        if (p.seq <= seen) return
        seen = p.seq
      }
      switch (message.method) {
        case 'process.output': {
          writer!.output(String(p.data ?? ''), p.type === 'stderr')
          break
        }
        case 'claude.event':
          conversation?.add(p)
          break
        case 'process.gap':
          writer!.note(`\r\n${SGR.yellow}[events ${p.from_seq}–${p.to_seq} are no longer retained]${SGR.reset}\r\n`)
          break
        case 'process.dropped':
          writer!.note(`\r\n${SGR.yellow}[${p.bytes} bytes (${p.lines} lines) of ${p.type} dropped by the drop policy]${SGR.reset}\r\n`)
          break
        case 'process.completed': {
          const how = p.exit_code !== null && p.exit_code !== undefined ? `exit ${p.exit_code}` : p.signal ?? ''
          writer!.note(`\r\n${SGR.dim}[${p.status}${how ? `, ${how}` : ''}, ${duration(p.execution_time ?? null)}]${SGR.reset}\r\n`)
          if (p.claude && conversation) conversation.result(p.claude)
          break
        }
        case 'process.error':
          writer!.note(`\r\n${SGR.red}[server: ${p.error}]${SGR.reset}\r\n`)
          break
      }
    }

    /** Attaches from `afterSeq`: afresh (the terminal emptied), or to go on after a reconnect. */
    async function attach(afterSeq: number, fresh = true): Promise<boolean> {
      const mine = ++attaching
      taking = false
      if (fresh) {
        writer!.reset()
        loadAll.hidden = afterSeq === 0
        if (afterSeq > 0) writer!.note(`${SGR.dim}[earlier output not loaded: events 1–${afterSeq}; “Load all output” fetches it]${SGR.reset}\r\n`)
      }
      try {
        await rpc!.call('attach', { execution_id: id, after_seq: afterSeq })
        // This runs before the socket's next message is handled (a microtask of the answer's).
        if (mine === attaching) seen = afterSeq
        return true
      } catch (error) {
        say(`attach: ${(error as Error).message}`, true)
        return false
      } finally {
        if (mine === attaching) taking = true
      }
    }

    // A socket that closes is replaced, sooner and then later, and the output goes on after the last
    // event seen; meanwhile a call fails at once, saying so.
    let attempts = 0
    const connect = (first: boolean) => {
      const socket = (rpc = new Rpc())
      socket.listen(id, onEvent)
      socket.onClose = (event) => {
        if (closed || rpc !== socket) return
        say(event.code === 1008 ? 'The server closed the connection (session limit); reconnecting…' : 'Disconnected from the server; reconnecting…', true)
        retry = setTimeout(() => connect(false), Math.min(5000, 250 * 2 ** attempts++))
      }
      if (first) void attach(startSeq(record))
      else {
        void socket.opened.then(
          async () => {
            attempts = 0
            if (await attach(seen, false)) say('Reconnected.')
          },
          () => {},
        )
      }
    }
    connect(true)

    store.listeners.add((changed) => {
      if (changed === null) {
        // Listed afresh (the watch reconnected): it may have changed unseen meanwhile.
        const listed = store.executions.get(id)
        if (listed) {
          record = listed
          renderMeta()
        } else if (store.connected) {
          // Older than the executions the page holds: asked for.
          get<ExecutionRecord>(`v1/executions/${encodeURIComponent(id)}`).then(
            (fresh) => {
              if (closed || store.executions.has(id)) return
              record = fresh
              renderMeta()
            },
            () => {},
          )
        }
        return
      }
      if (changed.id !== id) return
      record = changed
      renderMeta()
    })
    ticker = setInterval(() => {
      if (record.state !== 'exited') renderMeta()
    }, 1000)
  }

  return () => {
    closed = true
    downloads.abort()
    clearInterval(ticker)
    clearTimeout(retry)
    resize?.disconnect()
    writer?.dispose()
    rpc?.close()
    terminal?.dispose()
    if (window.ccConsole?.executionId === id) window.ccConsole = undefined
  }
}
