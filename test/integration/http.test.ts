import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { TestClient } from '../helpers/client.ts'
import { post, readNdjson, readNdjsonUntil } from '../helpers/http.ts'
import { eventually, groupMembers, processState, sleep } from '../helpers/proc.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'
import { RemoteExecutor } from '../../src/executor/remote-executor.ts'

let server: RunningServer
before(async () => {
  server = await startServer({ WEBSOCKET_HEARTBEAT_INTERVAL: '0.2', WS_MAX_SIZE: '65536' })
})
after(async () => {
  await server.stop()
})

const seqEvents = <T extends { params?: any }>(lines: T[]): T[] => lines.filter((l) => l.params?.seq !== undefined)

describe('the /v1 HTTP API', () => {
  test('POST /v1/executions streams NDJSON notifications ending with the completion', async () => {
    const response = await post(`${server.url}/v1/executions`, { command: 'echo out; echo err >&2; exit 4' })
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type')!, /application\/x-ndjson/)
    const id = response.headers.get('x-execution-id')
    const lines = await readNdjson(response)
    const events = seqEvents(lines)
    assert.deepEqual(events.map((e) => e.params.seq), events.map((_, i) => i + 1))
    assert.equal(events[0].method, 'process.started')
    assert.equal(events[0].params.execution_id, id)
    assert.equal(lines.at(-1)!.method, 'process.completed')
    assert.equal(lines.at(-1)!.params.exit_code, 4)
    assert.ok(lines.every((l) => l.jsonrpc === '2.0'), 'each line is a JSON-RPC notification, as on the WebSocket')
    const out = events.filter((e) => e.method === 'process.output')
    assert.deepEqual(out.map((e) => [e.params.type, e.params.data]).sort(), [['stderr', 'err\n'], ['stdout', 'out\n']])
  })

  test('the same execution looks the same over HTTP and WebSocket, line for line', async () => {
    // Pauses between the writes: how one burst of output is split into events depends on pipe timing.
    const command = 'echo a; sleep 0.05; echo b; sleep 0.05; echo c >&2'
    const lines = seqEvents(await readNdjson(await post(`${server.url}/v1/executions`, { command, execution_id: 'same-http' })))
    const client = await TestClient.open(server.wsUrl)
    await client.run({ command, execution_id: 'same-ws' })
    const strip = (e: { method?: string; params?: any }) => {
      const { execution_id, pid, pgid, execution_time, ...rest } = e.params
      return [e.method, rest]
    }
    assert.deepEqual(lines.map(strip), client.events('same-ws').map(strip))
    await client.close()
  })

  test('Accept: text/event-stream gives SSE with id: <seq>', async () => {
    const response = await post(`${server.url}/v1/executions`, { command: 'echo sse' }, { accept: 'text/event-stream' })
    assert.match(response.headers.get('content-type')!, /text\/event-stream/)
    const blocks = (await response.text()).split('\n\n').filter(Boolean)
    const withIds = blocks.filter((b) => b.startsWith('id: '))
    withIds.forEach((block, i) => {
      const [idLine, dataLine] = block.split('\n')
      assert.equal(idLine, `id: ${i + 1}`)
      assert.equal(JSON.parse(dataLine.slice('data: '.length)).params.seq, i + 1)
    })
    assert.match(withIds.at(-1)!, /process\.completed/)
  })

  test('detach: true answers 202 at once; events replay from after_seq or Last-Event-ID', async () => {
    const response = await post(`${server.url}/v1/executions`, { command: 'for i in 1 2 3; do echo $i; done', detach: true })
    assert.equal(response.status, 202)
    const { execution_id: id, pid } = await response.json()
    assert.equal(typeof pid, 'number')
    const all = seqEvents(await readNdjson(await fetch(`${server.url}/v1/executions/${id}/events?after_seq=0`)))
    assert.equal(all.at(-1)!.method, 'process.completed')
    const tail = seqEvents(await readNdjson(await fetch(`${server.url}/v1/executions/${id}/events?after_seq=2`)))
    assert.deepEqual(tail.map((e) => e.params.seq), all.slice(2).map((e) => e.params.seq))
    const resumed = seqEvents(await readNdjson(await fetch(`${server.url}/v1/executions/${id}/events`, { headers: { 'last-event-id': '1' } })))
    assert.deepEqual(resumed.map((e) => e.params.seq), all.slice(1).map((e) => e.params.seq))
    const pastTheEnd = await readNdjson(await fetch(`${server.url}/v1/executions/${id}/events?after_seq=${all.length}`))
    assert.deepEqual(seqEvents(pastTheEnd), [], 'a cursor past the completion ends the stream at once')
    const record = await (await fetch(`${server.url}/v1/executions/${id}`)).json()
    assert.equal(record.status, 'completed')
    assert.equal(record.last_seq, all.length)
    const list = await (await fetch(`${server.url}/v1/executions`)).json()
    assert.ok(list.executions.some((e: { id: string }) => e.id === id))
  })

  test('control and input over HTTP reach the process', async () => {
    const started = await post(`${server.url}/v1/executions`, { command: 'read line; echo "got $line"; sleep 30', stdin: 'pipe', detach: true })
    const { execution_id: id, pgid } = await started.json()
    const written = await post(`${server.url}/v1/executions/${id}/input`, { data: 'hello\n' })
    assert.deepEqual(await written.json(), { written: 6 })
    // The echo must have happened before the group is paused and canceled.
    await readNdjsonUntil(await fetch(`${server.url}/v1/executions/${id}/events`), (n) => n.method === 'process.output')
    const pause = await post(`${server.url}/v1/executions/${id}/control`, { type: 'pause' })
    assert.deepEqual(await pause.json(), { status: 'paused' })
    await eventually(() => processState(pgid) === 'T', 2000)
    await post(`${server.url}/v1/executions/${id}/control`, { type: 'RESUME' })
    const cancel = await post(`${server.url}/v1/executions/${id}/control`, { type: 'CANCEL' })
    assert.deepEqual(await cancel.json(), { status: 'canceled' })
    const events = seqEvents(await readNdjson(await fetch(`${server.url}/v1/executions/${id}/events`)))
    assert.equal(events.filter((e) => e.method === 'process.output').map((e) => e.params.data).join(''), 'got hello\n')
    assert.equal(events.at(-1)!.params.status, 'canceled')
    assert.deepEqual(groupMembers(pgid), [])
    const late = await post(`${server.url}/v1/executions/${id}/control`, { type: 'PAUSE' })
    assert.equal(late.status, 404)
    assert.equal((await late.json()).error.code, -32002)
  })

  test('closing the stream of a non-detached execution cancels it', async () => {
    const response = await post(`${server.url}/v1/executions`, { command: 'echo up; sleep 30' })
    let aliveWhileRead = false
    const lines = await readNdjsonUntil(response, (n, all) => {
      if (n.method !== 'process.output') return false
      aliveWhileRead = groupMembers(all[0].params.pgid).length > 0
      return true
    })
    const pgid = lines[0].params.pgid
    assert.ok(aliveWhileRead, 'running while the stream was open')
    await eventually(() => groupMembers(pgid).length === 0, 5000, 'the group to be gone after the client left')
  })

  test('MAX_STREAMS: one event stream too many is refused with -32003 (503) and starts nothing; a closed stream makes room', async () => {
    const own = await startServer({ MAX_STREAMS: '2' })
    try {
      const started = await (await post(`${own.url}/v1/executions`, { command: 'sleep 30', detach: true, execution_id: 'streamed' })).json()
      const watchers = [new AbortController(), new AbortController()]
      const open = await Promise.all(watchers.map((w) => fetch(`${own.url}/v1/executions/streamed/events`, { signal: w.signal })))
      assert.deepEqual(open.map((r) => r.status), [200, 200])
      const third = await fetch(`${own.url}/v1/executions/streamed/events`)
      assert.equal(third.status, 503)
      assert.equal((await third.json()).error.code, -32003)
      const streamedRun = await post(`${own.url}/v1/executions`, { command: 'echo never', execution_id: 'refused' })
      assert.equal(streamedRun.status, 503)
      assert.equal((await fetch(`${own.url}/v1/executions/refused`)).status, 404, 'the refused execute started nothing')
      assert.equal((await post(`${own.url}/v1/executions`, { command: 'true', detach: true })).status, 202, 'detached starts open no stream')

      // The server notices the closed connection and ends that stream: then there is room again.
      watchers[0].abort()
      const again = new AbortController()
      let status = 0
      for (let tries = 0; tries < 50 && status !== 200; tries++) {
        await sleep(100)
        status = (await fetch(`${own.url}/v1/executions/streamed/events`, { signal: again.signal })).status
      }
      assert.equal(status, 200)
      again.abort()
      watchers[1].abort()
      await post(`${own.url}/v1/executions/${started.execution_id}/control`, { type: 'CANCEL' })

      // A transcript download holds a place too, until it is read to its end (30 MB: more than the socket buffers hold).
      await post(`${own.url}/v1/executions`, { command: 'yes 0123456789abcdef0123456789abcdef | head -c 30000000', detach: true, execution_id: 'big' })
      const exited = async (id: string) => (await (await fetch(`${own.url}/v1/executions/${id}`)).json()).state === 'exited'
      for (let tries = 0; tries < 100 && !((await exited('big')) && (await exited('streamed'))); tries++) await sleep(100)
      const downloads = await Promise.all([0, 1].map(() => fetch(`${own.url}/v1/executions/big/transcript`)))
      assert.deepEqual(downloads.map((r) => r.status), [200, 200])
      const refused = await fetch(`${own.url}/v1/executions/big/transcript`)
      assert.equal(refused.status, 503, 'two downloads being read hold both places')
      assert.equal((await refused.json()).error.code, -32003)
      const sizes = await Promise.all(downloads.map(async (r) => (await r.arrayBuffer()).byteLength))
      assert.ok(sizes.every((size) => size > 30_000_000), `${sizes}`)
      const next = await fetch(`${own.url}/v1/executions/big/transcript`)
      await next.body?.cancel()
      assert.equal(next.status, 200, 'a download read to its end made room')
    } finally {
      await own.stop()
    }
  })

  test('a quiet stream carries heartbeat lines', async () => {
    const response = await post(`${server.url}/v1/executions`, { command: 'sleep 0.7; echo done' })
    const lines = await readNdjson(response)
    const beats = lines.filter((l) => l.method === 'heartbeat')
    assert.ok(beats.length >= 2, `${beats.length} heartbeats`)
    assert.equal(beats[0].params.status, 'alive')
  })

  test('errors are JSON with the JSON-RPC code and a fitting status', async () => {
    const cases: [Promise<Response>, number, number][] = [
      [post(`${server.url}/v1/executions`, '{not json'), 400, -32700],
      [post(`${server.url}/v1/executions`, { argv: 'ls' }), 400, -32602],
      [post(`${server.url}/v1/executions`, {}), 400, -32602],
      [post(`${server.url}/v1/executions`, { command: 'x'.repeat(70_000) }), 413, -32600],
      [fetch(`${server.url}/v1/executions/nope`), 404, -32002],
      [fetch(`${server.url}/v1/executions/nope/events`), 404, -32002],
      [fetch(`${server.url}/v1/executions/nope/events?after_seq=-1`), 404, -32002],
      [post(`${server.url}/v1/executions/nope/control`, { type: 'PAUSE' }), 404, -32002],
      [post(`${server.url}/v1/executions/nope/input`, { data: 'x' }), 404, -32002],
    ]
    for (const [pending, status, code] of cases) {
      const response = await pending
      assert.equal(response.status, status, `${response.url}`)
      assert.equal((await response.json()).error.code, code, `${response.url}`)
    }
    const detached = await (await post(`${server.url}/v1/executions`, { command: 'true', detach: true })).json()
    const badCursor = await fetch(`${server.url}/v1/executions/${detached.execution_id}/events?after_seq=abc`)
    assert.equal(badCursor.status, 400)
    const badControl = await post(`${server.url}/v1/executions/${detached.execution_id}/control`, { type: 'BOOM' })
    assert.equal(badControl.status, 400)
  })
})

describe("a gateway's RemoteExecutor over /v1", () => {
  let server: RunningServer
  before(async () => (server = await startServer()))
  after(async () => server.stop())

  test('a detached start is detached on the executor too: the stream that follows it breaks for good, and the executor runs it to the end', async () => {
    // Each request's own AbortController: breaking the streams is aborting them, and with no retries they stay broken.
    const aborts: AbortController[] = []
    const fetchFn: typeof fetch = (input, init) => {
      const abort = new AbortController()
      aborts.push(abort)
      return fetch(input, { ...init, signal: abort.signal })
    }
    // upstreamGrace 0: a stream of a start that is not detached cancels it as soon as it breaks.
    const remote = new RemoteExecutor({ url: server.url, fetch: fetchFn, retries: 0, upstreamGrace: 0 })
    const started = async (id: string, detached: boolean) => {
      const handle = await remote.start({ command: 'sleep 0.5; echo late', execution_id: id }, { detached })
      assert.equal(handle.id, id)
      for (const abort of aborts.splice(0)) abort.abort()
      // Long enough for the child to end, and for the executor to have cancelled it had it gone with its stream.
      await sleep(1500)
      return (await (await fetch(`${server.url}/v1/executions/${id}`)).json()) as { status: string; reason: string; stdout_bytes: number }
    }
    const attached = await started('remote-attached', false)
    assert.equal(attached.status, 'canceled', 'the control case: a start that is not detached goes with its stream')
    const detached = await started('remote-detached', true)
    assert.equal(detached.status, 'completed', JSON.stringify(detached))
    assert.equal(detached.stdout_bytes, 'late\n'.length)
  })
})
