import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import WebSocket from 'ws'
import { ConnectionError, ErrorCode, ExecutorClient, ExecutorError, RpcError, type ClientEvent, type ClientOptions, type ReconnectInfo, type WebSocketConstructor } from '../../src/client/index.ts'
import { verifyTranscript } from '../../src/verify.ts'
import { eventually, groupMembers } from '../helpers/proc.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

const TRANSPORTS = ['ws', 'http'] as const
const WS = WebSocket as unknown as WebSocketConstructor
// Characters a WebSocket subprotocol may not hold (/, +, =), as a base64 token has them.
const TOKEN = 'client/test+token=0123456789abcdef=='

let server: RunningServer
let secured: RunningServer
before(async () => {
  ;[server, secured] = await Promise.all([startServer(), startServer({ CC_EXECUTOR_AUTH_TOKEN: TOKEN })])
})
after(async () => {
  await Promise.all([server.stop(), secured.stop()])
})

const clientFor = (url: string, transport: 'ws' | 'http', options: Partial<ClientOptions> = {}) => new ExecutorClient({ url, transport, WebSocket: WS, ...options })
const text = async (stream: ReadableStream<Uint8Array>) => new TextDecoder().decode(await new Response(stream).arrayBuffer())
const seqs = (events: ClientEvent[]) => events.map((e) => (e.method === 'process.gap' ? -1 : e.params.seq))
const output = (events: ClientEvent[], type: 'stdout' | 'stderr') =>
  events
    .filter((e) => e.method === 'process.output' && e.params.type === type)
    .map((e) => (e.method === 'process.output' ? e.params.data : ''))
    .join('')
const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join('')

for (const transport of TRANSPORTS) {
  describe(`the client over ${transport}`, () => {
    test('execute: events in seq order, stdout and stderr as bytes, the completion', async () => {
      const client = clientFor(server.url, transport)
      const run = await client.execute({ command: 'echo out; printf "é✓\\n" >&2; exit 7' })
      assert.equal(typeof run.pid, 'number')
      assert.equal(run.pgid, run.pid)
      const [stdout, stderr, events] = await Promise.all([
        text(run.stdout),
        text(run.stderr),
        (async () => {
          const all: ClientEvent[] = []
          for await (const event of run) all.push(event)
          return all
        })(),
      ])
      assert.equal(stdout, 'out\n')
      assert.equal(stderr, 'é✓\n')
      assert.deepEqual(seqs(events), events.map((_, i) => i + 1))
      assert.equal(events[0].method, 'process.started')
      assert.equal(events.at(-1)!.method, 'process.completed')
      const completed = await run.completed
      assert.equal(completed.exit_code, 7)
      assert.equal(completed.status, 'failed')
      assert.equal(run.state, 'exited')
      assert.ok((await verifyTranscript(events as never)).ok, 'what the client received hashes to the transcript')
      await client.close()
    })

    test('commands that end at once (a burst of frames before the answer is handled), 40 in a row', async () => {
      const client = clientFor(server.url, transport)
      for (let i = 0; i < 40; i++) {
        const run = await client.execute({ argv: ['echo', String(i)] })
        assert.equal(await text(run.stdout), `${i}\n`)
        assert.equal((await run.completed).exit_code, 0)
      }
      await client.close()
    })

    test('server refusals are ExecutorErrors (RpcError) with the JSON-RPC code', async () => {
      const client = clientFor(server.url, transport)
      const bad = await client.execute({ command: 'x', argv: ['y'] }).catch((e: unknown) => e)
      assert.ok(bad instanceof ExecutorError && bad instanceof RpcError, String(bad))
      assert.equal(bad.code, ErrorCode.INVALID_PARAMS)
      assert.equal(bad.code, -32602)
      assert.match(bad.message, /exactly one of command/)
      if (transport === 'http') assert.equal(bad.status, 400)

      const unknown = await client.control('no-such-execution', 'PAUSE').catch((e: unknown) => e)
      assert.ok(unknown instanceof ExecutorError)
      assert.equal(unknown.code, -32002)

      const spawnFailure = await client.execute({ argv: ['no-such-program-cc-executor'] }).catch((e: unknown) => e)
      assert.ok(spawnFailure instanceof ExecutorError)
      assert.equal(spawnFailure.code, -32603)
      assert.deepEqual(spawnFailure.data, { cause: 'ENOENT' })

      if (transport === 'ws') {
        const method = await client.request('no.such.method').catch((e: unknown) => e)
        assert.ok(method instanceof ExecutorError)
        assert.equal(method.code, ErrorCode.METHOD_NOT_FOUND)
        assert.equal(method.code, -32601)
      }
      await client.close()
    })

    test('a server that is not there is a ConnectionError, at once', async () => {
      const client = clientFor('http://127.0.0.1:1', transport)
      const started = Date.now()
      const error = await client.execute({ command: 'true' }).catch((e: unknown) => e)
      assert.ok(error instanceof ConnectionError, String(error))
      assert.ok(Date.now() - started < 5000)
      await client.close()
    })

    test('a token: the right one is accepted, a wrong one is -32004', async () => {
      const good = clientFor(secured.url, transport, { token: TOKEN })
      const run = await good.execute({ argv: ['echo', 'authorized'] })
      assert.equal(await text(run.stdout), 'authorized\n')
      assert.equal((await good.list()).length >= 1, true)
      await good.close()
      const bad = clientFor(secured.url, transport, { token: 'wrong-token-0123456789abcdef' })
      const error = await bad.execute({ command: 'true' }).catch((e: unknown) => e)
      assert.ok(error instanceof ExecutorError, String(error))
      assert.equal(error.code, ErrorCode.UNAUTHORIZED)
      await bad.close()
    })

    test('stdin: write() and eof', async () => {
      const client = clientFor(server.url, transport)
      const run = await client.execute({ argv: ['tr', 'a-z', 'A-Z'], stdin: 'pipe' })
      const out = text(run.stdout)
      await run.write('hello ')
      await run.write(new TextEncoder().encode('wörld').subarray(0, 2)) // 'w' and half of 'ö'
      await run.write(new TextEncoder().encode('wörld').subarray(2), { eof: true })
      assert.equal(await out, 'HELLO WöRLD')
      assert.equal((await run.completed).exit_code, 0)
      await client.close()
    })

    test('attach from another client, after a seq; control from anywhere', async () => {
      const owner = clientFor(server.url, transport)
      const run = await owner.execute({ command: 'echo one; echo two; sleep 30' })
      const watcher = clientFor(server.url, transport)
      await eventually(() => run.lastSeq >= 2, 5000, 'the first output')
      const attached = await watcher.attach(run.id, { afterSeq: 1 })
      const seen: ClientEvent[] = []
      const reading = (async () => {
        for await (const event of attached) seen.push(event)
      })()
      await eventually(() => output(seen, 'stdout') === 'one\ntwo\n', 5000, 'the replay')
      assert.equal(seen[0].method, 'process.output', 'events after seq 1 only')
      assert.deepEqual(await watcher.control(run.id, 'PAUSE'), { status: 'paused' })
      await eventually(() => run.state === 'paused' && attached.state === 'paused', 5000, 'paused everywhere')
      await attached.cancel()
      await reading
      assert.equal((await attached.completed).status, 'canceled')
      assert.equal((await run.completed).status, 'canceled')
      await Promise.all([owner.close(), watcher.close()])
    })

    test('control with a reason: the completion says it; list({limit}) gives the newest records only', async () => {
      const client = clientFor(server.url, transport)
      const earlier = await client.execute({ command: 'true' })
      await earlier.completed
      const run = await client.execute({ command: 'sleep 30' })
      assert.deepEqual(await client.control(run.id, 'CANCEL', `stopped by the ${transport} test`), { status: 'canceled' })
      assert.equal((await run.completed).reason, `stopped by the ${transport} test`)
      const newest = await client.list({ limit: 1 })
      assert.deepEqual(newest.map((r) => r.id), [run.id])
      assert.deepEqual((await client.list()).map((r) => r.id).slice(-2), [earlier.id, run.id])
      await client.close()
    })

    test('close() cancels the executions the client started: no process is left', async () => {
      const client = clientFor(server.url, transport)
      const run = await client.execute({ command: 'sleep 30 & sleep 30; wait' })
      await eventually(() => groupMembers(run.pgid!).length >= 2, 5000, 'the group to run')
      await client.close()
      await eventually(() => groupMembers(run.pgid!).length === 0, 8000, 'the group to be gone')
      // Detached after the cancel: completed rejects, unless the completion arrived first.
      const ended = await run.completed.then((c) => c.status, (e: unknown) => e)
      assert.ok(ended === 'canceled' || ended instanceof ConnectionError, String(ended))
      const other = clientFor(server.url, transport)
      let status = ''
      for (let i = 0; i < 100 && status !== 'canceled'; i++) {
        status = (await other.status(run.id)).status
        if (status !== 'canceled') await new Promise((resolve) => setTimeout(resolve, 50))
      }
      assert.equal(status, 'canceled')
      await other.close()
    })

    test('attach after the last seq of an ended execution, or beyond it, settles at once: completed is its completion, the iterator yields nothing', async () => {
      const client = clientFor(server.url, transport)
      try {
        const run = await client.execute({ command: 'echo one; echo two' })
        const done = await run.completed
        const within = <T>(promise: Promise<T>, what: string) =>
          Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not settled within 5 s`)), 5000))])
        for (const afterSeq of [done.seq - 1, done.seq, done.seq + 10]) {
          const attached = await within(client.attach(run.id, { afterSeq }), `attach after ${afterSeq}`)
          const seen: ClientEvent[] = []
          await within(
            (async () => {
              for await (const event of attached) seen.push(event)
            })(),
            `the events after ${afterSeq}`,
          )
          assert.deepEqual(await within(attached.completed, `completed after ${afterSeq}`), done)
          assert.deepEqual(seqs(seen), afterSeq < done.seq ? [done.seq] : [], `the events after seq ${afterSeq}`)
          assert.equal(attached.state, 'exited')
        }
      } finally {
        await client.close()
      }
    })

    test('an AbortSignal: aborted while it runs, the execution is canceled and the run rejects with the signal\'s reason; aborted before, nothing starts; during the start, nothing is left running', async () => {
      const client = clientFor(server.url, transport)
      const other = clientFor(server.url, 'http')
      const ended = async (id: string) => {
        for (let i = 0; i < 100; i++) {
          const record = await other.status(id).catch((error: unknown) => {
            if (error instanceof ExecutorError && error.code === ErrorCode.NO_SUCH_PROCESS) return undefined
            throw error
          })
          if (record === undefined) return 'never started'
          // (state turns exited a moment before the record has its completion status)
          if (record.status !== 'running' && record.status !== 'paused') return record.status
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        return 'still running'
      }
      try {
        const controller = new AbortController()
        const run = await client.execute({ command: 'sleep 30 & sleep 30; wait' }, { signal: controller.signal })
        await eventually(() => groupMembers(run.pgid!).length >= 2, 5000, 'the group to run')
        const iterated = (async () => {
          for await (const _ of run);
        })()
        controller.abort()
        const rejected = await run.completed.then(() => undefined, (error: unknown) => error)
        assert.ok(rejected instanceof DOMException && rejected.name === 'AbortError', String(rejected))
        assert.equal(await iterated.then(() => undefined, (error: unknown) => error), rejected, 'the iterator throws the same reason')
        assert.equal(await ended(run.id), 'canceled')
        await eventually(() => groupMembers(run.pgid!).length === 0, 8000, 'the group to be gone')

        const before = `aborted-before-${transport}-${Date.now()}`
        const refused = await client.execute({ command: 'sleep 30', execution_id: before }, { signal: AbortSignal.abort() }).catch((error: unknown) => error)
        assert.ok(refused instanceof DOMException && refused.name === 'AbortError', String(refused))
        assert.equal(await ended(before), 'never started')

        const during = `aborted-during-${transport}-${Date.now()}`
        const soon = AbortSignal.timeout(1)
        const outcome = await client.execute({ command: 'sleep 30', execution_id: during }, { signal: soon }).then(
          (started) => started.completed,
          (error: unknown) => Promise.reject(error),
        ).catch((error: unknown) => error)
        assert.ok(outcome instanceof DOMException && outcome.name === 'TimeoutError', String(outcome))
        assert.ok(['never started', 'canceled'].includes(await ended(during)))
      } finally {
        await client.close()
        await other.close()
      }
    })

    test('close() while execute() is still starting cancels the execution once it has started: nothing keeps running for its detach grace', async () => {
      const client = clientFor(server.url, transport)
      const id = `close-while-starting-${transport}-${Date.now()}`
      const starting = client.execute({ command: 'sleep 30 & sleep 30; wait', execution_id: id }).then(
        (run) => run,
        (error: unknown) => error,
      )
      await client.close()
      await starting
      const other = clientFor(server.url, 'http')
      try {
        // Canceled, well within the 30 s of detach grace the client asked for (or never started at all).
        let record: { status: string; pgid: number | null } | undefined
        for (let i = 0; i < 100; i++) {
          record = await other.status(id).catch((error: unknown) => {
            if (error instanceof ExecutorError && error.code === ErrorCode.NO_SUCH_PROCESS) return undefined
            throw error
          })
          if (record === undefined || record.status === 'canceled') break
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        if (record) {
          assert.equal(record.status, 'canceled')
          await eventually(() => groupMembers(record!.pgid!).length === 0, 8000, 'the group to be gone')
        }
      } finally {
        await other.close()
      }
    })

    test('a dropped connection loses nothing: the run resumes after its last seq, no gap, no duplicate', async () => {
      const proxy = await startTcpProxy(server.port)
      const reconnects: ReconnectInfo[] = []
      const client = clientFor(proxy.url, transport, { onReconnect: (info) => reconnects.push(info) })
      const run = await client.execute({ command: 'for i in $(seq 1 60); do echo line $i; sleep 0.05; done; echo end >&2; exit 3' })
      const events: ClientEvent[] = []
      let cut = 0
      for await (const event of run) {
        events.push(event)
        if (cut === 0 && event.method === 'process.output' && /^line 8$/m.test(event.params.data)) cut = proxy.breakAll()
      }
      assert.ok(cut > 0, 'a live connection was cut')
      assert.ok(reconnects.length >= 1 && run.reconnects >= 1, 'the client reconnected')
      assert.deepEqual(seqs(events), events.map((_, i) => i + 1), 'seq 1..n: no gap, no duplicate')
      assert.equal(output(events, 'stdout'), lines(1, 60))
      assert.equal(output(events, 'stderr'), 'end\n')
      assert.equal((await run.completed).exit_code, 3)
      if (transport === 'http') assert.ok(proxy.requests.some((r) => /^GET \/v1\/executions\/[^/]+\/events\?after_seq=\d+ /.test(r)), proxy.requests.join('\n'))
      await client.close()
      await proxy.close()
    })
  })
}

describe('the heartbeat watchdog', () => {
  let beating: RunningServer
  before(async () => {
    beating = await startServer({ WEBSOCKET_HEARTBEAT_INTERVAL: '0.25' })
  })
  after(async () => {
    await beating.stop()
  })

  for (const transport of TRANSPORTS) {
    test(`over ${transport}: a server silent for 3x the heartbeat interval is dead; the client reconnects and loses nothing`, async () => {
      const proxy = await startTcpProxy(beating.port)
      const reconnects: ReconnectInfo[] = []
      const client = clientFor(proxy.url, transport, { heartbeatInterval: 0.25, onReconnect: (info) => reconnects.push(info) })
      const run = await client.execute({ command: 'for i in $(seq 1 30); do echo line $i; sleep 0.1; done' })
      const events: ClientEvent[] = []
      let silencedAt = 0
      for await (const event of run) {
        events.push(event)
        if (!silencedAt && event.method === 'process.output' && /^line 5$/m.test(event.params.data)) {
          assert.ok(proxy.silence() > 0)
          silencedAt = Date.now()
        }
      }
      const silent = reconnects.find((r) => r.error instanceof ConnectionError && r.error.fault === 'silent')
      assert.ok(silent, `a reconnection because of silence: ${reconnects.map((r) => r.error.message).join('; ')}`)
      assert.match(silent.error.message, /No (message|data) from the server for/)
      assert.ok(run.lastHeartbeatAt !== undefined && run.lastHeartbeatAt > silencedAt, 'heartbeats flow again on the new link')
      assert.deepEqual(seqs(events), events.map((_, i) => i + 1))
      assert.equal(output(events, 'stdout'), lines(1, 30))
      assert.equal((await run.completed).exit_code, 0)
      await client.close()
      await proxy.close()
    })
  }
})
