/**
 * @module console/page/main — the console's shell: the token prompt, the header, the router
 * (`/` and `/console`: the list; `/executions/<id>`: one execution; `#labels`, `#new`), and the
 * one watch stream that keeps every view's list of executions current.
 */
import '@xterm/xterm/css/xterm.css'
import './style.css'
import { isFiltered, listQuery, type ListFilter } from '../../protocol/list-filter.ts'
import { ApiError, AuthError, base, get, stream, token, type ExecutionRecord, type Notification } from './api.ts'
import { executionView } from './execution.ts'
import { h } from './dom.ts'
import { labelsView, listView, newView } from './views.ts'

const root = document.getElementById('app')!

/** Executions the page holds: the newest that match the filter, as the watch lists them (the server counts all of them). */
export const LIST_LIMIT = 500

/**
 * The executions the watch stream has told of, by id, oldest first, at most LIST_LIMIT of them
 * (beyond that the oldest finished ones are let go); views re-render from it on change. The watch
 * lists by `filter` (the list view's, applied by the server); `listed` is the filter (its query)
 * that `executions` and `matching` are of, which lags `filter` until the server has listed anew.
 * `total` and `labels` are the server's, of all its executions; `matching` how many of them match.
 * `refused` is the server's message when it refused the filter.
 */
export const store = {
  executions: new Map<string, ExecutionRecord>(),
  total: 0,
  matching: 0,
  filter: {} as ListFilter,
  listed: undefined as string | undefined,
  refused: undefined as string | undefined,
  labels: new Set<string>(),
  listeners: new Set<(changed: ExecutionRecord | null) => void>(),
  connected: false,
  notify(changed: ExecutionRecord | null) {
    for (const listener of this.listeners) listener(changed)
  },
}

let watching: AbortController | undefined

/** Lists by `filter` from now on: a different one watches anew, for the server's list of it. */
export function setFilter(filter: ListFilter): void {
  if (listQuery(filter) === listQuery(store.filter)) return
  store.filter = filter
  if (watching && !watching.signal.aborted) void watch()
}

async function watch(): Promise<void> {
  watching?.abort()
  const controller = (watching = new AbortController())
  store.refused = undefined
  for (let attempt = 0; !controller.signal.aborted; attempt++) {
    const filter = store.filter
    try {
      await stream(
        `v1/executions/watch${listQuery({ limit: LIST_LIMIT, ...filter })}`,
        (message: Notification) => {
          // A line read before this watch was replaced is of the filter before.
          if (controller.signal.aborted) return
          if (message.method === 'executions.list') {
            const executions = message.params.executions as ExecutionRecord[]
            store.executions.clear()
            for (const record of executions) store.executions.set(record.id, record)
            // An older server sends neither: what it listed is all the page knows.
            store.total = message.params.total ?? executions.length
            store.matching = message.params.matching ?? (isFiltered(filter) ? executions.length : store.total)
            store.listed = listQuery(filter)
            store.labels = new Set(message.params.labels ?? executions.map((r) => r.label).filter(Boolean))
            store.connected = true
            attempt = 0
            store.notify(null)
          } else if (message.method === 'execution.changed') {
            const record = message.params.execution as ExecutionRecord
            if (record.label) store.labels.add(record.label)
            store.total = message.params.total ?? store.total + (store.executions.has(record.id) ? 0 : 1)
            store.matching = message.params.matching ?? store.matching
            // Told of every change: one that does not match (any more) is not held, but the views hear of it.
            if (message.params.matches === false) {
              store.executions.delete(record.id)
              store.notify(record)
              return
            }
            const added = !store.executions.has(record.id)
            if (added) {
              // Room for it: the oldest finished ones go (a running one stays, whatever its age).
              for (const [id, held] of store.executions) {
                if (store.executions.size < LIST_LIMIT) break
                if (held.state === 'exited') store.executions.delete(id)
              }
            }
            store.executions.set(record.id, record)
            store.notify(record)
          }
        },
        controller.signal,
      )
    } catch (error) {
      if (controller.signal.aborted) return
      if (error instanceof AuthError) return askToken(error.message)
      // A filter the server refuses (a label from the URL it does not take) is not asked for again.
      if (error instanceof ApiError && error.status === 400) {
        store.refused = error.message
        store.notify(null)
        return
      }
    }
    store.connected = false
    store.notify(null)
    // The stream ended (server restart, a proxy's idle cut): list again, soon.
    await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempt)))
  }
}

type Route = { view: 'list' } | { view: 'labels' } | { view: 'new' } | { view: 'execution'; id: string }

function route(): Route {
  const path = location.pathname.startsWith(base) ? location.pathname.slice(base.length) : location.pathname
  const match = /^executions\/([^/]+)\/?$/.exec(path)
  if (match) return { view: 'execution', id: decodeURIComponent(match[1]) }
  if (location.hash === '#labels') return { view: 'labels' }
  if (location.hash === '#new') return { view: 'new' }
  return { view: 'list' }
}

/** Navigates inside the page (links and forms call this instead of loading a page). */
export function go(href: string): void {
  history.pushState(null, '', href)
  render()
}

export const hrefs = {
  list: () => `${base}`,
  labels: () => `${base}#labels`,
  create: () => `${base}#new`,
  execution: (id: string) => `${base}executions/${encodeURIComponent(id)}`,
}

/** A link that navigates inside the page; one with role=button also goes on Space, as a button does. */
export function link(href: string, attributes: Record<string, string>, ...children: (Node | string)[]): HTMLAnchorElement {
  const space = (event: KeyboardEvent) => event.key === ' ' && !event.repeat && !event.metaKey && !event.ctrlKey && !event.altKey
  const button = attributes.role === 'button'
  return h(
    'a',
    {
      ...attributes,
      href,
      onclick: (event: MouseEvent) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return
        event.preventDefault()
        go(href)
      },
      // A button acts on Space's release; its press would scroll the page.
      onkeydown: button
        ? (event: KeyboardEvent) => {
            if (space(event)) event.preventDefault()
          }
        : undefined,
      onkeyup: button
        ? (event: KeyboardEvent) => {
            if (!space(event)) return
            event.preventDefault()
            go(href)
          }
        : undefined,
    },
    ...children,
  )
}

let teardown: (() => void) | undefined

function header(current: Route['view']): HTMLElement {
  const item = (label: string, href: string, view: Route['view']) =>
    link(href, { class: current === view ? 'nav-item current' : 'nav-item', ...(current === view ? { 'aria-current': 'page' } : {}) }, label)
  const status = h('span', { class: store.connected ? 'live on' : 'live', title: store.connected ? 'Live: the list updates as executions change' : 'Reconnecting' }, store.connected ? 'live' : 'offline')
  store.listeners.add(() => {
    status.className = store.connected ? 'live on' : 'live'
    status.textContent = store.connected ? 'live' : 'offline'
  })
  return h(
    'header',
    { class: 'topbar' },
    link(hrefs.list(), { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, '▶'), 'cc-executor'),
    h('nav', { 'aria-label': 'Main' }, item('Executions', hrefs.list(), 'list'), item('Labels', hrefs.labels(), 'labels')),
    h('div', { class: 'spacer' }),
    status,
    link(hrefs.create(), { class: 'button primary', role: 'button' }, 'New'),
  )
}

function render(): void {
  teardown?.()
  teardown = undefined
  store.listeners.clear()
  const current = route()
  const main = h('main', { id: 'main' })
  root.replaceChildren(header(current.view), main)
  if (current.view === 'list') teardown = listView(main)
  else if (current.view === 'labels') teardown = labelsView(main)
  else if (current.view === 'new') teardown = newView(main)
  else teardown = executionView(main, current.id)
  document.title = current.view === 'execution' ? `${current.id.slice(0, 8)} · cc-executor` : 'cc-executor console'
}

/** Asks for the token (again, with `message` when one was refused), then starts over. */
export function askToken(message?: string): void {
  teardown?.()
  teardown = undefined
  watching?.abort()
  const input = h('input', { id: 'token', type: 'password', name: 'token', autocomplete: 'current-password', required: true, 'aria-describedby': 'token-help' })
  const form = h(
    'form',
    {
      class: 'card token-card',
      onsubmit: (event: SubmitEvent) => {
        event.preventDefault()
        token.set(input.value.trim())
        void start()
      },
    },
    h('h1', {}, 'Sign in'),
    h('p', { id: 'token-help', class: 'muted' }, 'This cc-executor needs its API token. It is kept for this tab only (sessionStorage).'),
    message && token.get() ? h('p', { class: 'error', role: 'alert' }, message) : null,
    h('label', { for: 'token' }, 'Token'),
    input,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
  )
  root.replaceChildren(h('main', { id: 'main', class: 'centered' }, form))
  input.focus()
}

async function start(): Promise<void> {
  try {
    // One cheap request tells whether a token is needed, and whether the one kept is right.
    await get('v1/executions?limit=1')
  } catch (error) {
    if (error instanceof AuthError) return askToken(error.message)
  }
  render()
  void watch()
}

window.addEventListener('popstate', render)
window.addEventListener('hashchange', render)
void start()
