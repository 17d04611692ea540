/**
 * @module console/page/api — the server as the page talks to it: fetch on /v1 (with the token as
 * `Authorization: Bearer`), the list watch (an NDJSON stream), and one JSON-RPC WebSocket at /ws/mcp
 * (the token as a subprotocol, protocol/bearer-protocol) for attach, control, input and verify.
 */
import { bearerProtocols } from '../../protocol/bearer-protocol.ts'

const TOKEN_KEY = 'cc-executor-token'
export const base = document.querySelector<HTMLMetaElement>('meta[name="cc-executor-base"]')?.content ?? '/'

/** The wire record, as the server defines it (a type only: of the server, only the token's wire form is bundled). */
export type { ExecutionRecord } from '../../protocol/records.ts'

export interface Notification {
  method: string
  params: any
}

/** The server refused the token (401: none given, 403: a wrong one). */
export class AuthError extends Error {
  constructor(readonly status: number) {
    super(status === 401 ? 'This server needs a token.' : 'The server refused this token (403). Check it and enter it again.')
  }
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: number,
  ) {
    super(message)
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const t = token.get()
  return t ? { ...extra, authorization: `Bearer ${t}` } : extra
}

async function check(response: Response): Promise<Response> {
  if (response.status === 401 || response.status === 403) throw new AuthError(response.status)
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`
    let code: number | undefined
    try {
      const body = await response.json()
      message = body?.error?.message ?? message
      code = body?.error?.code
    } catch {
      // Not JSON: the status line says enough.
    }
    throw new ApiError(message, response.status, code)
  }
  return response
}

export async function get<T>(path: string): Promise<T> {
  return (await check(await fetch(base + path, { headers: headers() }))).json()
}

export async function post<T>(path: string, body: unknown): Promise<T> {
  const response = await fetch(base + path, { method: 'POST', headers: headers({ 'content-type': 'application/json' }), body: JSON.stringify(body) })
  return (await check(response)).json()
}

/** Reads an NDJSON stream line by line until it ends or `signal` aborts. */
export async function stream(path: string, onLine: (message: Notification) => void, signal: AbortSignal): Promise<void> {
  const response = await check(await fetch(base + path, { headers: headers({ accept: 'application/x-ndjson' }), signal }))
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  let rest = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    rest += value
    let newline
    while ((newline = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, newline)
      rest = rest.slice(newline + 1)
      if (line.trim()) onLine(JSON.parse(line))
    }
  }
}

type Pending = { resolve: (value: any) => void; reject: (error: Error) => void }

/** One JSON-RPC session; notifications go to the listener of their execution_id. */
export class Rpc {
  readonly #socket: WebSocket
  readonly #pending = new Map<number, Pending>()
  readonly #listeners = new Map<string, (message: Notification) => void>()
  readonly opened: Promise<void>
  #next = 1
  onClose: ((event: CloseEvent) => void) | undefined

  constructor() {
    const url = new URL(`${base}ws/mcp`, location.href)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    const t = token.get()
    this.#socket = new WebSocket(url, t ? bearerProtocols(t) : [])
    this.opened = new Promise((resolve, reject) => {
      this.#socket.addEventListener('open', () => resolve(), { once: true })
      this.#socket.addEventListener('error', () => reject(new Error('Not connected to the server: the WebSocket connection failed')), { once: true })
      this.#socket.addEventListener('close', () => reject(new Error('Not connected to the server: the connection closed')), { once: true })
    })
    // Awaited by calls; one that nobody awaits is no error of the page's.
    this.opened.catch(() => {})
    this.#socket.addEventListener('message', (event) => this.#receive(String(event.data)))
    this.#socket.addEventListener('close', (event) => {
      for (const p of this.#pending.values()) p.reject(new Error('The connection closed before the server answered'))
      this.#pending.clear()
      this.onClose?.(event)
    })
  }

  /**
   * Sends a request and resolves with its result. On a socket still connecting it waits for the
   * connection; on a closed one it fails at once (a send there would be dropped, unanswered).
   */
  async call<T = any>(method: string, params: unknown = {}): Promise<T> {
    if (this.#socket.readyState === WebSocket.CONNECTING) await this.opened
    if (this.#socket.readyState !== WebSocket.OPEN) throw new Error('Not connected to the server: the connection closed')
    const id = this.#next++
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#socket.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
    })
  }

  listen(executionId: string, listener: (message: Notification) => void): () => void {
    this.#listeners.set(executionId, listener)
    return () => this.#listeners.delete(executionId)
  }

  close(): void {
    this.#socket.close()
  }

  #receive(text: string): void {
    const message = JSON.parse(text)
    if (message.id !== undefined && message.id !== null && (message.result !== undefined || message.error)) {
      const pending = this.#pending.get(message.id)
      this.#pending.delete(message.id)
      if (message.error) pending?.reject(new ApiError(message.error.message, 0, message.error.code))
      else pending?.resolve(message.result)
      return
    }
    const id = message.params?.execution_id
    if (typeof id === 'string') this.#listeners.get(id)?.(message)
  }
}
