/** @module console/page/views — the executions list, the labels table and the "New" form. */
import { isFiltered, listQuery, matchesFilter, RECORD_STATUSES, type ListFilter, type RecordStatus } from '../../protocol/list-filter.ts'
import { get, post, ApiError, type ExecutionRecord } from './api.ts'
import { clear, cost, duration, h, shorten, when } from './dom.ts'
import { go, hrefs, link, setFilter, store } from './main.ts'

/** What a row shows as its command: a Claude task's prompt (the CLI's last argument, after `--`) rather than its argv. */
export function summaryOf(record: ExecutionRecord): string {
  if (record.kind !== 'claude') return record.command
  const match = /\s--\s+('(?:[^']|'\\'')*'|[^\s']+)$/.exec(record.command)
  if (!match) return record.command
  const quoted = match[1]
  return quoted.startsWith("'") ? quoted.slice(1, -1).replaceAll("'\\''", "'") : quoted
}

export function elapsed(record: ExecutionRecord): number | null {
  if (record.execution_time !== null) return record.execution_time
  if (record.state === 'exited') return null
  return (Date.now() - Date.parse(record.started_at)) / 1000
}

export const badge = (status: string) => h('span', { class: `badge status-${status}` }, status)
export const kindBadge = (kind: string) => h('span', { class: `kind kind-${kind}` }, kind)

export function exitOf(record: ExecutionRecord): string {
  if (record.exit_code !== null) return String(record.exit_code)
  if (record.signal) return record.signal
  return record.state === 'exited' ? '—' : ''
}

function emptyState(text: string, action?: Node) {
  return h('div', { class: 'empty' }, h('p', {}, text), action)
}

export function listView(main: HTMLElement): () => void {
  const params = new URLSearchParams(location.search)
  const stateFilter = h('select', { id: 'filter-state', name: 'state' }, h('option', { value: '' }, 'All states'), ...RECORD_STATUSES.map((s) => h('option', { value: s }, s)))
  const labelFilter = h('select', { id: 'filter-label', name: 'label' }, h('option', { value: '' }, 'All labels'))
  stateFilter.value = params.get('state') ?? ''
  // The label chosen, from the URL at first and then from the select: offered even before (or
  // without) an execution of it being listed, so that the URL's filter holds and can be cleared.
  let chosenLabel = params.get('label') ?? ''
  // What the server lists by: the state chosen (a state the select does not offer is none) and the label.
  const filter = (): ListFilter => ({ label: chosenLabel || undefined, status: (stateFilter.value || undefined) as RecordStatus | undefined })
  setFilter(filter())
  const count = h('span', { class: 'muted count' })
  const body = h('tbody')
  const table = h(
    'table',
    { class: 'executions', 'aria-label': 'Executions' },
    h(
      'thead',
      {},
      h('tr', {}, ...['ID', 'Kind', 'Command / prompt', 'State', 'Label', 'Started', 'Duration', 'Exit', 'Cost'].map((t, i) => h('th', { scope: 'col', class: `col-${i}` }, t))),
    ),
    body,
  )
  const holder = h('div', { class: 'table-wrap' }, table)
  main.append(
    h(
      'section',
      { class: 'toolbar' },
      h('h1', {}, 'Executions'),
      count,
      h('div', { class: 'spacer' }),
      h('label', { class: 'sr-only', for: 'filter-state' }, 'Filter by state'),
      stateFilter,
      h('label', { class: 'sr-only', for: 'filter-label' }, 'Filter by label'),
      labelFilter,
    ),
    holder,
  )

  const rows = new Map<string, HTMLTableRowElement>()
  const rowOf = (record: ExecutionRecord) => {
    const summary = summaryOf(record)
    const tr = h(
      'tr',
      { 'data-id': record.id, 'data-status': record.status, class: `row status-row-${record.status}` },
      h('td', { class: 'col-0 mono' }, link(hrefs.execution(record.id), { title: record.id }, record.id.slice(0, 8))),
      h('td', { class: 'col-1' }, kindBadge(record.kind)),
      h('td', { class: 'col-2 mono command', title: summary }, shorten(summary, 90)),
      h('td', { class: 'col-3' }, badge(record.status)),
      h('td', { class: 'col-4' }, record.label ? h('span', { class: 'label-chip' }, record.label) : ''),
      h('td', { class: 'col-5 muted', title: record.started_at }, when(record.started_at)),
      h('td', { class: 'col-6 num', 'data-duration': '' }, duration(elapsed(record))),
      h('td', { class: `col-7 num ${record.exit_code ? 'bad' : ''}` }, exitOf(record)),
      h('td', { class: 'col-8 num' }, record.kind === 'claude' ? cost(record.claude?.total_cost_usd) : ''),
    )
    tr.addEventListener('click', (event) => {
      if ((event.target as Element).closest('a')) return
      go(hrefs.execution(record.id))
    })
    return tr
  }

  let scheduled = false
  const renderAll = () => {
    scheduled = false
    // The server's labels, of all its executions (the list holds only the newest).
    const labels = [...new Set([...store.labels].concat(chosenLabel ? [chosenLabel] : []))].sort()
    labelFilter.replaceChildren(h('option', { value: '' }, 'All labels'), ...labels.map((l) => h('option', { value: l }, l)))
    labelFilter.value = chosenLabel
    const current = filter()
    // The server's list of this filter; until it comes (the filter just changed), what is held of it.
    const listed = store.listed === listQuery(current)
    const records = [...store.executions.values()]
      .filter((r) => matchesFilter(r, current))
      .sort((a, b) => (a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : 0))
    rows.clear()
    clear(body)
    for (const record of records) {
      const tr = rowOf(record)
      rows.set(record.id, tr)
      body.append(tr)
    }
    // Of all the server's executions (the server filters them): how many are listed, or match, of
    // how many there are; and when more match than the page holds, that it lists the newest.
    const total = store.total.toLocaleString()
    const beyond = (matching: number) => (matching > records.length ? ` (the newest ${records.length.toLocaleString()} are listed)` : '')
    if (!listed) count.textContent = !store.connected ? '' : isFiltered(current) ? `Filtering ${total}…` : `Listing ${total}…`
    else if (isFiltered(current)) count.textContent = `${store.matching.toLocaleString()} of ${total} match${beyond(store.matching)}`
    else count.textContent = `${records.length.toLocaleString()} of ${total}${beyond(store.total)}`
    holder.querySelector('.empty')?.remove()
    if (records.length === 0) {
      holder.append(
        store.refused
          ? emptyState(`The server refused this filter: ${store.refused}`)
          : !store.connected || !listed
            ? emptyState('Loading…')
            : isFiltered(current)
              ? emptyState('No execution matches these filters.')
              : emptyState('No executions yet.', link(hrefs.create(), { class: 'button primary' }, 'Start one')),
      )
    }
  }
  // Many changes at once (a burst of starts) cost one render per frame.
  const schedule = () => {
    if (scheduled) return
    scheduled = true
    requestAnimationFrame(renderAll)
  }
  const filtersChanged = () => {
    chosenLabel = labelFilter.value
    const query = new URLSearchParams()
    if (stateFilter.value) query.set('state', stateFilter.value)
    if (labelFilter.value) query.set('label', labelFilter.value)
    history.replaceState(null, '', `${location.pathname}${query.size ? `?${query}` : ''}`)
    // Listed anew by the server, which holds them all; meanwhile the page shows what it holds of them.
    setFilter(filter())
    renderAll()
  }
  stateFilter.addEventListener('change', filtersChanged)
  labelFilter.addEventListener('change', filtersChanged)
  store.listeners.add(schedule)
  renderAll()
  // Running rows' durations tick here, in the page: nothing is fetched for them.
  const ticker = setInterval(() => {
    for (const [id, tr] of rows) {
      const record = store.executions.get(id)
      if (record && record.state !== 'exited') tr.querySelector('[data-duration]')!.textContent = duration(elapsed(record))
    }
  }, 1000)
  return () => clearInterval(ticker)
}

interface LabelRow {
  label: string
  successes: number
  failures: number
  ratio: number
  graduated: boolean
}

export function labelsView(main: HTMLElement): () => void {
  const body = h('tbody')
  const note = h('p', { class: 'muted' }, 'Finished executions per label: "completed" is a success; "failed", "timeout" and "killed" are failures (canceled ones count neither way). A label graduates at 10 successes per failure, with at least 10 successes.')
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  main.append(
    h('section', { class: 'toolbar' }, h('h1', {}, 'Labels')),
    note,
    error,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'labels', 'aria-label': 'Labels' },
        h('thead', {}, h('tr', {}, ...['Label', 'Successes', 'Failures', 'Ratio', ''].map((t) => h('th', { scope: 'col' }, t)))),
        body,
      ),
    ),
  )
  let stale = true
  const load = async () => {
    stale = false
    try {
      const { labels } = await get<{ labels: LabelRow[] }>('v1/labels')
      clear(body)
      if (labels.length === 0) body.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No labelled execution has finished yet. Give executions a label to count them.')))
      for (const row of labels) {
        const total = row.successes + row.failures
        body.append(
          h(
            'tr',
            { 'data-label': row.label },
            h('td', {}, h('a', { href: `${hrefs.list()}?label=${encodeURIComponent(row.label)}`, class: 'label-chip' }, row.label)),
            h('td', { class: 'num good' }, row.successes),
            h('td', { class: `num ${row.failures ? 'bad' : ''}` }, row.failures),
            h(
              'td',
              { class: 'num ratio' },
              h('span', {}, row.failures === 0 ? `${row.successes} : 0` : `${row.ratio.toFixed(1)} : 1`),
              h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span', { style: `width:${total ? (100 * row.successes) / total : 0}%` })),
            ),
            h('td', {}, row.graduated ? h('span', { class: 'badge graduated' }, 'graduated') : h('span', { class: 'muted' }, `${Math.max(0, Math.max(10, 10 * row.failures) - row.successes)} to go`)),
          ),
        )
      }
      error.hidden = true
    } catch (e) {
      error.hidden = false
      error.textContent = `Cannot load the labels: ${(e as Error).message}`
    }
  }
  // Counts change when a labelled execution ends; the watch stream says when.
  store.listeners.add((changed) => {
    if (changed && (changed.state !== 'exited' || !changed.label)) return
    if (stale) return
    stale = true
    setTimeout(load, 100)
  })
  void load()
  return () => {}
}

export function newView(main: HTMLElement): () => void {
  const kind = (value: string, text: string, checked: boolean) =>
    h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'kind', value, checked, onchange: update }), text)
  const what = h('textarea', { id: 'new-what', name: 'what', rows: 3, required: true, spellcheck: false })
  const whatLabel = h('label', { for: 'new-what' }, 'Command')
  const label = h('input', { id: 'new-label', name: 'label', placeholder: 'e.g. nightly-build' })
  const cwd = h('input', { id: 'new-cwd', name: 'cwd', placeholder: 'the server’s directory' })
  const timeout = h('input', { id: 'new-timeout', name: 'timeout', type: 'number', min: 1, step: 'any', placeholder: 'none' })
  const stdin = h('input', { id: 'new-stdin', name: 'stdin', type: 'checkbox' })
  const stdinRow = h('div', { class: 'check' }, stdin, h('label', { for: 'new-stdin' }, 'Keep stdin open (type into it from the page)'))
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Start')
  function update() {
    const claude = form.querySelector<HTMLInputElement>('input[name=kind]:checked')?.value === 'claude'
    whatLabel.textContent = claude ? 'Prompt' : 'Command'
    stdinRow.hidden = claude
  }
  const form: HTMLFormElement = h(
    'form',
    {
      class: 'card new-form',
      'aria-label': 'New execution',
      onsubmit: async (event: SubmitEvent) => {
        event.preventDefault()
        const claude = form.querySelector<HTMLInputElement>('input[name=kind]:checked')?.value === 'claude'
        const body: Record<string, unknown> = { detach: true }
        if (claude) body.prompt = what.value
        else body.command = what.value
        if (label.value.trim()) body.label = label.value.trim()
        if (cwd.value.trim()) body.cwd = cwd.value.trim()
        if (timeout.value) body.timeout = Number(timeout.value)
        if (!claude && stdin.checked) body.stdin = 'pipe'
        submit.disabled = true
        try {
          const { execution_id } = await post<{ execution_id: string }>(claude ? 'v1/claude' : 'v1/executions', body)
          go(hrefs.execution(execution_id))
        } catch (e) {
          error.hidden = false
          error.textContent = e instanceof ApiError ? e.message : `Cannot start it: ${(e as Error).message}`
          submit.disabled = false
        }
      },
    },
    h('h1', {}, 'New execution'),
    h('fieldset', { class: 'kinds' }, h('legend', { class: 'sr-only' }, 'Kind'), kind('command', 'Command', true), kind('claude', 'Claude prompt', false)),
    whatLabel,
    what,
    h(
      'div',
      { class: 'grid3' },
      h('div', {}, h('label', { for: 'new-label' }, 'Label'), label),
      h('div', {}, h('label', { for: 'new-cwd' }, 'Working directory'), cwd),
      h('div', {}, h('label', { for: 'new-timeout' }, 'Timeout (s)'), timeout),
    ),
    stdinRow,
    error,
    h('div', { class: 'actions' }, link(hrefs.list(), { class: 'button' }, 'Back'), submit),
  )
  main.append(form)
  what.focus()
  return () => {}
}
