/**
 * One runtime's gateway shutdown tests (Deno, Bun): a real Node executor, gateways started and
 * signalled per test, real clients. What a client sees of a gateway going away in a rolling deploy:
 * WebSocket close 1001, an HTTP stream ending on a whole line, exit 0 within seconds, and the
 * execution still running on its executor, to be attached to again (after_seq) through another
 * gateway, where the rest arrives with no gap and no duplicate. docs/gateways.md, "Shutdown".
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import WebSocket from 'ws'
import { ExecutorClient, type ReconnectInfo, type WebSocketConstructor } from '../../src/client/index.ts'
import { SHUTDOWN_DEADLINE_MS } from '../../src/gateway/shutdown.ts'
import { TestClient, type Frame } from './client.ts'
import { requireBinary, startGateway, type GatewayRuntime, type RunningGateway } from './gateway.ts'
import { eventually, sleep } from './proc.ts'
import { eventuallyAsync } from './scenarios.ts'
import { startServer, type RunningServer } from './server.ts'
import { killOnExit } from './tracker.ts'

/** A line every 100 ms for about 10 s: still running well after its gateway has gone. */
const LINES = 100
const TICKER = `for i in $(seq 1 ${LINES}); do echo line-$i; sleep 0.1; done`
const EXPECTED = Array.from({ length: LINES }, (_, i) => `line-${i + 1}\n`).join('')

/** `promise`, or a failure naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)))
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

const seqsOf = (frames: Frame[]) => frames.map((f) => f.params.seq as number)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

export function gatewayShutdownSuite(runtime: GatewayRuntime): void {
  describe(`the ${runtime} gateway on SIGTERM and SIGINT (in front of a Node executor)`, () => {
    const token = randomBytes(24).toString('hex')
    let executor: RunningServer
    let untrack: () => void
    const gateways: RunningGateway[] = []
    const auth = { authorization: `Bearer ${token}` }

    /** A gateway run as `<runtime> adapters/<runtime>/main.ts` (its own process: signals reach it alone), or as `npm run start:<runtime>`. */
    const start = async ({ npm = false, port }: { npm?: boolean; port?: number } = {}) => {
      const gateway = await startGateway(runtime, { executorUrl: executor.url, token, port, entry: npm ? undefined : `adapters/${runtime}/main.ts` })
      gateways.push(gateway)
      return gateway
    }
    /** The execution's record on the executor itself (not through any gateway). */
    const upstream = async (id: string) => (await (await fetch(`${executor.url}/v1/executions/${id}`, { headers: auth })).json()) as { status: string; state: string; reason: string | null; exit_code: number | null }
    /** Ends an execution on the executor, so that no `sleep` outlives the test. */
    const cancel = async (id: string | undefined) => {
      if (!id) return
      await fetch(`${executor.url}/v1/executions/${id}/control`, { method: 'POST', headers: auth, body: JSON.stringify({ type: 'CANCEL' }) })
      await eventuallyAsync(async () => (await upstream(id)).state === 'exited', 10_000, `execution ${id} to end`)
    }
    /** The gateway's exit after `signal`: asserted 0, and well before the deadline (not cut short by it). */
    const exitsCleanly = async (gateway: RunningGateway, sentAt: number) => {
      const exit = await within(gateway.exit, SHUTDOWN_DEADLINE_MS + 3000, 'exit of the gateway')
      const took = Date.now() - sentAt
      assert.deepEqual(exit, { code: 0, signal: null }, `the gateway's exit; its output:\n${gateway.output()}`)
      assert.ok(took < SHUTDOWN_DEADLINE_MS - 1000, `it exited ${took} ms after the signal, by its deadline rather than by itself:\n${gateway.output()}`)
      assert.match(gateway.output(), /stopped/)
    }

    before(async () => {
      requireBinary(runtime)
      executor = await startServer({ CC_EXECUTOR_AUTH_TOKEN: token })
      untrack = killOnExit(executor.child.pid!, { signal: 'SIGTERM' })
    })

    after(async () => {
      for (const gateway of gateways) await gateway.stop()
      await executor.stop()
      untrack()
    })

    test('SIGTERM: a WebSocket client gets close 1001, the gateway exits 0 within seconds, the execution runs on, and attaching through a new gateway with after_seq brings the rest: no gap, no duplicate', async () => {
      const gateway = await start()
      const client = await TestClient.open(gateway.wsUrl)
      let id: string | undefined
      let again: TestClient | undefined
      try {
        id = (await client.execute({ command: TICKER })).execution_id
        await client.waitFor((f) => f.method === 'process.output' && f.params.data.includes('line-3\n'), 10_000)
        const sentAt = Date.now()
        process.kill(gateway.pgid, 'SIGTERM')
        const closed = await within(client.closed, 5000, 'close of the WebSocket')
        assert.equal(closed.code, 1001, `close ${closed.code} ${closed.reason}`)
        await exitsCleanly(gateway, sentAt)

        const record = await upstream(id)
        assert.equal(record.status, 'running', `on the executor: ${JSON.stringify(record)}`)
        const seen = client.events(id)
        const lastSeq = seen.at(-1)!.params.seq as number
        assert.deepEqual(seqsOf(seen), range(1, lastSeq))

        const next = await start()
        again = await TestClient.open(next.wsUrl)
        const reply = await again.request('attach', { execution_id: id, after_seq: lastSeq })
        assert.ok(reply.result, JSON.stringify(reply.error))
        const completed = await again.completion(id, 30_000)
        assert.equal(completed.params.status, 'completed', JSON.stringify(completed.params))
        assert.equal(completed.params.exit_code, 0)
        assert.deepEqual(seqsOf(again.events(id)), range(lastSeq + 1, completed.params.seq))
        assert.equal(client.output(id) + again.output(id), EXPECTED)
        assert.equal((await upstream(id)).status, 'completed')
        id = undefined
      } finally {
        await client.close()
        await again?.close()
        await cancel(id)
      }
    })

    test('SIGTERM: an HTTP NDJSON stream through the gateway ends cleanly on a whole line, without a completion; the execution runs on', async () => {
      const gateway = await start()
      const response = await fetch(`${gateway.url}/v1/executions`, { method: 'POST', body: JSON.stringify({ command: TICKER }) })
      assert.equal(response.status, 200)
      const id = response.headers.get('x-execution-id')!
      try {
        const reader = response.body!.getReader()
        const decoder = new TextDecoder()
        let text = ''
        while (!text.includes('line-3\\n')) {
          const { done, value } = await reader.read()
          assert.ok(!done, `the stream ended early: ${text}`)
          text += decoder.decode(value, { stream: true })
        }
        const sentAt = Date.now()
        process.kill(gateway.pgid, 'SIGTERM')
        for (;;) {
          let next: ReadableStreamReadResult<Uint8Array>
          try {
            next = await within(reader.read(), 5000, 'end of the stream')
          } catch (error) {
            assert.fail(`the stream broke instead of ending: ${(error as Error).message} (cause: ${(error as Error).cause}); it had:\n${text.slice(-300)}`)
          }
          if (next.done) break
          text += decoder.decode(next.value, { stream: true })
        }
        text += decoder.decode()
        assert.ok(text.endsWith('\n'), `the last line is whole: ${JSON.stringify(text.slice(-120))}`)
        const methods = text.trimEnd().split('\n').map((line) => (JSON.parse(line) as { method: string }).method)
        assert.ok(methods.includes('process.output'))
        assert.ok(!methods.includes('process.completed'), 'the execution did not end')
        await exitsCleanly(gateway, sentAt)
        assert.equal((await upstream(id)).status, 'running')
      } finally {
        await cancel(id)
      }
    })

    test('SIGTERM: our client library (WebSocket) sees the 1001, reconnects to the gateway back on its port, and gets every line once', async () => {
      const gateway = await start()
      const reconnects: ReconnectInfo[] = []
      const client = new ExecutorClient({ url: gateway.url, transport: 'ws', WebSocket: WebSocket as unknown as WebSocketConstructor, onReconnect: (info) => reconnects.push(info) })
      let id: string | undefined
      try {
        const run = await client.execute({ command: TICKER })
        id = run.id
        let output = ''
        let failed: unknown
        const reading = (async () => {
          for await (const event of run) if (event.method === 'process.output') output += event.params.data
        })().catch((error: unknown) => (failed = error))
        await eventually(() => output.includes('line-3\n'), 10_000, 'the first lines')
        process.kill(gateway.pgid, 'SIGTERM')
        await exitsCleanly(gateway, Date.now())
        // The gateway's exit may be seen before the client has handled its close.
        await eventually(() => reconnects.length > 0, 5000, 'a reconnection')
        assert.match(String(reconnects[0].error?.message), /\(1001\b/, 'the first reconnection was for the 1001')
        await start({ port: gateway.port })
        const completed = await within(run.completed, 30_000, 'completion through the new gateway')
        assert.equal(completed.exit_code, 0, JSON.stringify(completed))
        await reading
        assert.equal(failed, undefined)
        assert.equal(output, EXPECTED)
        assert.ok(run.reconnects >= 1)
        id = undefined
      } finally {
        await client.close()
        await cancel(id)
      }
    })

    test('a connection that never finishes holds the shutdown (no new one is accepted meanwhile) only until its deadline, then exit 0; a second signal exits at once (143)', async () => {
      // A request whose body never comes whole: the server waits for it when it stops.
      const hold = async (gateway: RunningGateway) => {
        const socket = connect(gateway.port, '127.0.0.1')
        socket.on('error', () => {})
        await new Promise((resolve) => socket.once('connect', resolve))
        socket.write(`POST /v1/executions HTTP/1.1\r\nHost: 127.0.0.1:${gateway.port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"comm`)
        await sleep(200)
        return socket
      }
      const [patient, impatient] = await Promise.all([start(), start()])
      const sockets = await Promise.all([hold(patient), hold(impatient)])
      try {
        const sentAt = Date.now()
        process.kill(patient.pgid, 'SIGTERM')
        process.kill(impatient.pgid, 'SIGTERM')
        await sleep(1000)
        assert.equal(await Promise.race([impatient.exit.then(() => 'exited'), sleep(0).then(() => 'running')]), 'running', `held open by the request:\n${impatient.output()}`)
        // Still running, but accepting no connection.
        const refused = await fetch(`${patient.url}/healthz`).then(
          (response) => `answered ${response.status}`,
          (error: Error) => String((error.cause as { code?: string } | undefined)?.code ?? error.message),
        )
        assert.equal(refused, 'ECONNREFUSED')
        const againAt = Date.now()
        process.kill(impatient.pgid, 'SIGTERM')
        const forced = await within(impatient.exit, 1000, 'exit after the second SIGTERM')
        assert.deepEqual(forced, { code: 143, signal: null }, impatient.output())
        assert.ok(Date.now() - againAt < 1000)

        const exit = await within(patient.exit, SHUTDOWN_DEADLINE_MS + 3000, 'exit at the deadline')
        const took = Date.now() - sentAt
        assert.deepEqual(exit, { code: 0, signal: null }, patient.output())
        assert.ok(took >= SHUTDOWN_DEADLINE_MS - 200 && took < SHUTDOWN_DEADLINE_MS + 2000, `exited ${took} ms after SIGTERM`)
        assert.match(patient.output(), /still open after/)
      } finally {
        for (const socket of sockets) socket.destroy()
      }
    })

    test('Ctrl-C on `npm run start:' + runtime + '` (SIGINT to its whole group: the gateway gets the terminal\'s and npm\'s copy) is one graceful shutdown', async () => {
      const gateway = await start({ npm: true })
      const client = await TestClient.open(gateway.wsUrl)
      let id: string | undefined
      try {
        id = (await client.execute({ command: TICKER })).execution_id
        await client.waitFor((f) => f.method === 'process.output' && f.params.data.includes('line-3\n'), 10_000)
        const sentAt = Date.now()
        process.kill(-gateway.pgid, 'SIGINT')
        const closed = await within(client.closed, 5000, 'close of the WebSocket')
        assert.equal(closed.code, 1001, `close ${closed.code} ${closed.reason}`)
        await exitsCleanly(gateway, sentAt)
        assert.doesNotMatch(gateway.output(), /again: exiting now/)
        assert.equal((await upstream(id)).status, 'running')
      } finally {
        await client.close()
        await cancel(id)
      }
    })
  })
}
