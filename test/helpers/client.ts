/** A small JSON-RPC WebSocket client for tests: collects every frame, waits for the ones asked for. */
import WebSocket from 'ws'

export type Frame = { jsonrpc: '2.0'; id?: string | number | null; method?: string; params?: any; result?: any; error?: { code: number; message: string; data?: unknown } }

export class TestClient {
  readonly ws: WebSocket
  readonly frames: Frame[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  #waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = []
  #nextId = 1

  private constructor(ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data) => this.#onFrame(JSON.parse(String(data))))
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })))
  }

  static async connect(url: string, options?: WebSocket.ClientOptions): Promise<TestClient> {
    const ws = new WebSocket(url, options)
    const client = new TestClient(ws)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    return client
  }

  /** Connects and waits for the `connected` frame. */
  static async open(url: string, options?: WebSocket.ClientOptions): Promise<TestClient> {
    const client = await TestClient.connect(url, options)
    await client.waitFor((f) => f.method === 'connected')
    return client
  }

  #onFrame(frame: Frame): void {
    this.frames.push(frame)
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(frame)) return true
      w.resolve(frame)
      return false
    })
  }

  /** The first frame (already received or future) that matches. */
  waitFor(match: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const seen = this.frames.find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting; last frames: ${JSON.stringify(this.frames.slice(-3))}`)), timeoutMs)
      this.#waiters.push({ match, resolve: (f) => (clearTimeout(timer), resolve(f)) })
    })
  }

  sendRaw(text: string | Buffer): void {
    this.ws.send(text)
  }

  /** Sends a request and resolves with its response frame (result or error). */
  request(method: string, params?: unknown): Promise<Frame> {
    const id = this.#nextId++
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
    return this.waitFor((f) => f.id === id && (f.result !== undefined || f.error !== undefined))
  }

  /** Starts a command and resolves with its result. */
  async execute(params: Record<string, unknown>): Promise<{ execution_id: string; pid: number; pgid: number }> {
    const response = await this.request('execute', params)
    if (response.error) throw new Error(`execute failed: ${JSON.stringify(response.error)}`)
    return response.result
  }

  completion(executionId: string, timeoutMs = 20_000): Promise<Frame> {
    return this.waitFor((f) => f.method === 'process.completed' && f.params.execution_id === executionId, timeoutMs)
  }

  events(executionId: string): Frame[] {
    return this.frames.filter((f) => f.params?.execution_id === executionId && f.params.seq !== undefined)
  }

  output(executionId: string, type: 'stdout' | 'stderr' = 'stdout'): string {
    return this.events(executionId)
      .filter((f) => f.method === 'process.output' && f.params.type === type)
      .map((f) => f.params.data)
      .join('')
  }

  /** Runs a command to completion; returns its completion params and stdout/stderr. */
  async run(params: Record<string, unknown>, timeoutMs?: number) {
    const { execution_id } = await this.execute(params)
    const done = await this.completion(execution_id, timeoutMs)
    return { id: execution_id, completed: done.params, stdout: this.output(execution_id), stderr: this.output(execution_id, 'stderr') }
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close()
    return this.closed
  }
}
