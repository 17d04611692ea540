/**
 * @module console/page/execution — one execution: its record, controls (Cancel, Pause, Resume,
 * Verify, stdin), its output in xterm, and for a Claude task the conversation beside it.
 *
 * Output is attached over the WebSocket from seq 0, or, when that would be a lot, from near the end
 * (the tail shows within a moment; a note says that earlier output was not loaded). Text is queued
 * and written to xterm in batches, one per animation frame and only once xterm has parsed the last;
 * the queue is bounded, and what overflows it is skipped with a note, so a fast producer can never
 * make the tab buffer without end (the transcript on the server keeps every byte).
 */
import { FitAddon } from '@xterm/addon-fit'
import { Terminal } from '@xterm/xterm'
import { ApiError, AuthError, get, Rpc, type ExecutionRecord, type Notification } from './api.ts'
import { clear, cost, duration, h, shorten, when } from './dom.ts'
import { askToken, hrefs, link, store } from './main.ts'
import { badge, elapsed, exitOf, kindBadge, summaryOf } from './views.ts'

/** Output bytes (about) that a first load replays; more than that and only the tail is loaded. */
const TAIL_BYTES = 2 * 1024 * 1024
/** Events replayed of a running execution whose output size is not known yet. */
const TAIL_EVENTS = 400
/** Text queued for xterm at most; beyond it the oldest queued text is skipped. */
const MAX_QUEUED = 1024 * 1024
/** Text handed to xterm per write. */
const WRITE_BATCH = 256 * 1024

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

/** Queues text for the terminal and writes it in batches (see the module comment). */
class TerminalWriter {
  #queue: string[] = []
  #queued = 0
  #skipped = 0
  #writing = false
  #frame = 0
  follow = true
  constructor(readonly terminal: Terminal) {}

  write(text: string): void {
    this.#queue.push(text)
    this.#queued += text.length
    while (this.#queued > MAX_QUEUED && this.#queue.length > 1) {
      const dropped = this.#queue.shift()!
      this.#queued -= dropped.length
      this.#skipped += dropped.length
    }
    this.#schedule()
  }

  #schedule(): void {
    if (this.#writing || this.#frame) return
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0
      this.#flush()
    })
  }

  #flush(): void {
    if (this.#queue.length === 0) return
    let text = ''
    if (this.#skipped > 0) {
      text = `\r\n${SGR.yellow}[console: ${this.#skipped.toLocaleString()} characters skipped to keep up; the transcript has them]${SGR.reset}\r\n`
      this.#skipped = 0
    }
    while (this.#queue.length > 0 && text.length < WRITE_BATCH) {
      text += this.#queue.shift()
    }
    this.#queued = this.#queue.reduce((n, t) => n + t.length, 0)
    this.#writing = true
    this.terminal.write(text, () => {
      this.#writing = false
      if (this.follow) this.terminal.scrollToBottom()
      this.#schedule()
    })
  }

  dispose(): void {
    cancelAnimationFrame(this.#frame)
  }
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
  let closed = false
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
        await rpc!.call('control', { execution_id: id, type })
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
        h('div', { class: 'spacer' }),
        h('label', { class: 'check', for: 'follow' }, follow, 'Follow'),
      ),
      notice,
      checks,
      stdinForm,
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
    const fit = new FitAddon()
    terminal.loadAddon(fit)
    terminal.open(termBox)
    fit.fit()
    resize = new ResizeObserver(() => fit.fit())
    resize.observe(termBox)
    writer = new TerminalWriter(terminal)
    follow.addEventListener('change', () => {
      writer!.follow = follow.checked
      if (follow.checked) terminal!.scrollToBottom()
    })
    window.ccConsole = { terminal, executionId: id }

    let seen = 0
    const onEvent = (message: Notification) => {
      const p = message.params
      if (typeof p.seq === 'number') {
        if (p.seq <= seen) return
        seen = p.seq
      }
      switch (message.method) {
        case 'process.output': {
          const data = String(p.data ?? '')
          writer!.write(p.type === 'stderr' ? `${SGR.red}${data}${SGR.reset}` : data)
          break
        }
        case 'claude.event':
          conversation?.add(p)
          break
        case 'process.gap':
          writer!.write(`\r\n${SGR.yellow}[events ${p.from_seq}–${p.to_seq} are no longer retained]${SGR.reset}\r\n`)
          break
        case 'process.dropped':
          writer!.write(`\r\n${SGR.yellow}[${p.bytes} bytes (${p.lines} lines) of ${p.type} dropped by the drop policy]${SGR.reset}\r\n`)
          break
        case 'process.completed': {
          const how = p.exit_code !== null && p.exit_code !== undefined ? `exit ${p.exit_code}` : p.signal ?? ''
          writer!.write(`\r\n${SGR.dim}[${p.status}${how ? `, ${how}` : ''}, ${duration(p.execution_time ?? null)}]${SGR.reset}\r\n`)
          if (p.claude && conversation) conversation.result(p.claude)
          break
        }
        case 'process.error':
          writer!.write(`\r\n${SGR.red}[server: ${p.error}]${SGR.reset}\r\n`)
          break
      }
    }

    async function attach(afterSeq: number) {
      seen = afterSeq
      terminal!.reset()
      loadAll.hidden = afterSeq === 0
      if (afterSeq > 0) writer!.write(`${SGR.dim}[earlier output not loaded: events 1–${afterSeq}; “Load all output” fetches it]${SGR.reset}\r\n`)
      try {
        await rpc!.call('attach', { execution_id: id, after_seq: afterSeq })
      } catch (error) {
        say(`attach: ${(error as Error).message}`, true)
      }
    }

    rpc = new Rpc()
    rpc.listen(id, onEvent)
    rpc.onClose = (event) => {
      if (!closed) say(event.code === 1008 ? 'The server closed the connection (session limit).' : 'Disconnected from the server; reload to follow this execution again.', true)
    }
    void attach(startSeq(record))

    store.listeners.add((changed) => {
      if (changed?.id !== id) return
      record = changed
      renderMeta()
    })
    ticker = setInterval(() => {
      if (record.state !== 'exited') renderMeta()
    }, 1000)
  }

  return () => {
    closed = true
    clearInterval(ticker)
    resize?.disconnect()
    writer?.dispose()
    rpc?.close()
    terminal?.dispose()
    if (window.ccConsole?.executionId === id) window.ccConsole = undefined
  }
}
