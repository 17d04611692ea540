/**
 * The tests' JSON-RPC WebSocket client: the bench's RpcClient (test/helpers/rpc-client.ts) that also
 * collects every frame and waits for the ones asked for.
 */
import WebSocket from 'ws'
import { RpcClient, type Frame, type OpenOptions } from './rpc-client.ts'

export type { Frame }

export class TestClient extends RpcClient {
  readonly frames: Frame[] = []
  #waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = []

  /** Connects and waits for the `connected` frame (10 s unless `timeoutMs` says otherwise). */
  static override open<C extends RpcClient>(this: new (ws: WebSocket) => C, url: string, options: OpenOptions = {}): Promise<C> {
    return RpcClient.open.call(this, url, { timeoutMs: 10_000, ...options }) as Promise<C>
  }

  protected override receive(frame: Frame): void {
    this.frames.push(frame)
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(frame)) return true
      w.resolve(frame)
      return false
    })
    super.receive(frame)
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

  /** Sends a request and resolves with its response frame (result or error), or fails after 10 s. */
  override request(method: string, params?: unknown): Promise<Frame> {
    const id = this.send(method, params)
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
}
