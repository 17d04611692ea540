import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { FileStore } from '../../adapters/node/file-store.ts'
import { verifyTranscript, type ExecutionEvent, type ExecutionRecord } from '../../src/index.ts'
import { TestClient } from '../helpers/client.ts'
import { readNdjson } from '../helpers/http.ts'
import { eventually, groupMembers, openFiles, rssKiB, sleep } from '../helpers/proc.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'

const COUNTER = 'for i in $(seq 1 400); do echo "line $i"; sleep 0.005; done'

/**
 * A data dir as an earlier run left it: `count` finished executions `<prefix>-0000`…, oldest first, a
 * second apart, each with `outputs` process.output events of `data` and its process.completed.
 */
function earlierRun(dir: string, prefix: string, count: number, { outputs = 0, data = '' } = {}): string[] {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`)
  for (const [i, id] of ids.entries()) {
    const at = new Date(Date.now() - (count - i) * 1000).toISOString()
    const last = outputs + 1
    writeFileSync(join(dir, `${id}.json`), JSON.stringify({ id, execution_id: id, command: 'true', state: 'exited', status: 'completed', started_at: at, ended_at: at, last_seq: last }))
    const events: object[] = Array.from({ length: outputs }, (_, k) => ({ jsonrpc: '2.0', method: 'process.output', params: { execution_id: id, seq: k + 1, type: 'stdout', data } }))
    events.push({ jsonrpc: '2.0', method: 'process.completed', params: { execution_id: id, seq: last, status: 'completed' } })
    writeFileSync(join(dir, `${id}.ndjson`), events.map((e) => `${JSON.stringify(e)}\n`).join(''))
  }
  return ids
}

/** A fresh data directory for `body`, removed afterwards. */
async function inDataDir(prefix: string, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `cc-executor-${prefix}-`))
  try {
    await body(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A server started on the data dir of an earlier run (earlierRun's arguments); both are gone after `body`. */
function onEarlierRun(
  prefix: string,
  count: number,
  options: { outputs?: number; data?: string; env?: Record<string, string> },
  body: (own: RunningServer, ids: string[], dataDir: string) => Promise<void>,
): Promise<void> {
  return inDataDir(prefix, async (dataDir) => {
    const ids = earlierRun(dataDir, prefix, count, options)
    const own = await startServer({ ...options.env, CC_EXECUTOR_DATA_DIR: dataDir })
    try {
      await body(own, ids, dataDir)
    } finally {
      await own.stop()
    }
  })
}
const expectedLines = (n: number) => Array.from({ length: n }, (_, i) => `line ${i + 1}\n`).join('')

let server: RunningServer
before(async () => {
  server = await startServer()
})
after(async () => {
  await server.stop()
})

describe('executions that outlive a connection', () => {
  test('a client killed mid-stream re-attaches with after_seq: the joined output is exact and seq contiguous', async () => {
    const first = await TestClient.open(server.wsUrl)
    const { execution_id: id } = await first.execute({ command: COUNTER, detach_grace: 10 })
    await first.waitFor((f) => f.method === 'process.output' && f.params.data.includes('line 50\n'))
    first.ws.terminate()
    const received = first.events(id)
    const lastSeq = received.at(-1)!.params.seq
    await sleep(300) // output goes on while nobody watches

    const second = await TestClient.open(server.wsUrl)
    const attached = await second.request('attach', { execution_id: id, after_seq: lastSeq })
    assert.equal(attached.result.status, 'attached')
    assert.equal(attached.result.state, 'running')
    await second.completion(id)
    const all = [...received, ...second.events(id)]
    assert.deepEqual(all.map((e) => e.params.seq), all.map((_, i) => i + 1))
    const stdout = all.filter((e) => e.method === 'process.output').map((e) => e.params.data).join('')
    assert.equal(stdout, expectedLines(400))
    assert.equal((await verifyTranscript(all as ExecutionEvent[])).ok, true)
    await second.close()
  })

  test('attach replays a finished execution from its transcript, and reports state exited', async () => {
    const a = await TestClient.open(server.wsUrl)
    const { id } = await a.run({ command: 'seq 1 3' })
    const b = await TestClient.open(server.wsUrl)
    const attached = await b.request('attach', { execution_id: id })
    assert.equal(attached.result.state, 'exited')
    await b.completion(id)
    assert.deepEqual(b.events(id).map((e) => e.params.seq), a.events(id).map((e) => e.params.seq))
    const unknown = await b.request('attach', { execution_id: 'no-such-execution' })
    assert.equal(unknown.error?.code, -32002)
    await Promise.all([a.close(), b.close()])
  })

  test('attach to an execution this session already follows replays from its after_seq', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { execution_id: id } = await client.execute({ command: COUNTER })
    await client.waitFor((f) => f.method === 'process.output' && f.params.data.includes('line 20\n'))
    const attached = await client.request('attach', { execution_id: id, after_seq: 2 })
    assert.equal(attached.result.status, 'attached')
    await client.completion(id)
    const seqs = client.events(id).map((e) => e.params.seq)
    const restart = seqs.findIndex((seq, i) => i > 0 && seq <= seqs[i - 1])
    assert.ok(restart > 0, 'the stream starts again')
    assert.equal(seqs[restart], 3, 'from after_seq + 1')
    const replayed = seqs.slice(restart)
    assert.deepEqual(replayed, replayed.map((_, i) => i + 3), 'then contiguous to the completion')
    assert.equal(client.events(id).filter((e) => e.method === 'process.completed').length, 1)
    await client.close()
  })

  test('two attaches to a followed execution in one TCP segment: the stream restarts at the second after_seq, once, and leaves with the session', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { execution_id: id, pgid } = await client.execute({ command: 'i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.02; done' })
    await client.waitFor((f) => f.method === 'process.output' && f.params.data.includes('line 10\n'))
    // Both frames reach the server in one read, so both requests are handled before either replay starts.
    const socket = (client.ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket
    socket.cork()
    const first = client.request('attach', { execution_id: id, after_seq: 1 })
    const second = client.request('attach', { execution_id: id, after_seq: 3 })
    socket.uncork()
    await Promise.all([first, second])
    const through = client.events(id).at(-1)!.params.seq as number
    await client.waitFor((f) => f.method === 'process.output' && f.params.execution_id === id && f.params.seq >= through + 10)
    const seqs = client.events(id).map((e) => e.params.seq as number)
    const last = seqs.lastIndexOf(4)
    assert.ok(last > 0, `the stream restarts at after_seq + 1: ${seqs.join(',')}`)
    const tail = seqs.slice(last)
    assert.deepEqual(tail, tail.map((_, i) => i + 4), `one subscription, contiguous from there: ${seqs.join(',')}`)
    await client.close()
    await eventually(() => groupMembers(pgid).length === 0, 5000, 'the execution to end with its only session (detach_grace 0)')
  })

  test('detach stops the events for that session only; list and status show the record', async () => {
    const a = await TestClient.open(server.wsUrl)
    const { execution_id: id } = await a.execute({ command: COUNTER })
    const b = await TestClient.open(server.wsUrl)
    await b.request('attach', { execution_id: id })
    await b.waitFor((f) => f.method === 'process.output')
    const detached = await b.request('detach', { execution_id: id })
    assert.deepEqual(detached.result, { status: 'detached' })
    const seen = b.events(id).length
    await a.completion(id)
    await sleep(50)
    assert.equal(b.events(id).length, seen, 'no events after detach')
    const status = await b.request('status', { execution_id: id })
    assert.equal(status.result.status, 'completed')
    assert.equal(status.result.started_by, a.frames[0].params.session_id)
    assert.equal(status.result.stdout_bytes, expectedLines(400).length)
    assert.equal(typeof status.result.transcript_sha256.stdout, 'string')
    await Promise.all([a.close(), b.close()])
  })

  test('two watchers, one ten times slower: both get everything, and the fast one is not held back', async () => {
    const fast = await TestClient.open(server.wsUrl)
    const total = 24 * 1024 * 1024
    const { execution_id: id } = await fast.execute({ command: `head -c ${total} /dev/zero | tr '\\0' s | fold -w 99`, detach_grace: 5 })
    const slow = await TestClient.open(server.wsUrl)
    await slow.request('attach', { execution_id: id })
    // The slow watcher reads in bursts: paused nine tenths of the time. Stopping must also cancel a
    // pending pause, or the watcher would stay paused for good.
    let pauseTimer: NodeJS.Timeout | undefined
    const throttle = setInterval(() => {
      slow.ws.resume()
      pauseTimer = setTimeout(() => slow.ws.pause(), 10)
    }, 100)
    const rss = () => rssKiB(server.child.pid!)! / 1024
    const baseline = rss()
    let peak = baseline
    const sampler = setInterval(() => (peak = Math.max(peak, rss())), 50)
    const fastDone = await fast.completion(id, 60_000)
    const slowSoFar = slow.output(id).length
    assert.ok(slowSoFar < total, 'the fast watcher finished while the slow one was still behind')
    clearInterval(throttle)
    clearTimeout(pauseTimer)
    slow.ws.resume()
    const slowDone = await slow.completion(id, 60_000)
    clearInterval(sampler)
    const expected = fastDone.params.stdout_bytes
    assert.equal(fast.output(id).length, expected)
    assert.equal(slow.output(id).length, expected)
    assert.deepEqual(slowDone.params, fastDone.params)
    assert.equal(slow.frames.some((f) => f.method === 'process.gap'), false)
    assert.ok(peak - baseline < 64, `server RSS grew ${(peak - baseline).toFixed(1)} MiB`)
    await Promise.all([fast.close(), slow.close()])
  })

  test('the hash of the received output equals transcript_sha256; a tampered copy fails', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { id } = await client.run({ command: "printf 'héllo\\n\\377 wörld'; echo err >&2; seq 1 5000" })
    const events = client.events(id) as ExecutionEvent[]
    const verdict = await verifyTranscript(events)
    assert.equal(verdict.ok, true, verdict.reason)
    const tampered = events.map((e) =>
      e.method === 'process.output' && e.params.type === 'stdout' ? { ...e, params: { ...e.params, data: e.params.data.replace('5000', '5001') } } : e,
    )
    assert.equal((await verifyTranscript(tampered)).ok, false)
    assert.equal((await verifyTranscript(events.slice(0, 1).concat(events.slice(2)))).ok, false, 'a missing event fails')
    await client.close()
  })
})

describe('records and transcripts survive a restart', () => {
  test('a restart mid-execution leaves no orphan; the execution shows as interrupted and its transcript is served', async () => {
    const own = await startServer({ KILL_GRACE_MS: '200' })
    const client = await TestClient.open(own.wsUrl)
    const done = await client.run({ command: 'echo kept; echo also >&2' })
    const { execution_id: id, pgid } = await client.execute({ command: "trap '' TERM; echo running; sleep 60", detach_grace: 600 })
    await client.waitFor((f) => f.method === 'process.output' && f.params.data === 'running\n')
    // A crash, not a shutdown: nothing gets the chance to clean up.
    own.child.kill('SIGKILL')
    await own.stop()
    assert.ok(groupMembers(pgid).length > 0, 'the group outlived the crashed server')

    const again = await startServer({ CC_EXECUTOR_DATA_DIR: own.dataDir })
    try {
      await eventually(() => groupMembers(pgid).length === 0, 5000, 'the leftover group to be killed at startup')
      const record = await (await fetch(`${again.url}/v1/executions/${id}`)).json()
      assert.equal(record.status, 'interrupted')
      assert.equal(record.state, 'exited')
      const transcript = await fetch(`${again.url}/v1/executions/${id}/transcript`)
      const lines = await readNdjson(transcript)
      assert.deepEqual(lines.map((l) => l.params.seq), lines.map((_, i) => i + 1))
      assert.equal(lines.at(-1)!.method, 'process.completed')
      assert.equal(lines.at(-1)!.params.status, 'interrupted')
      assert.ok(lines.some((l) => l.method === 'process.output' && l.params.data === 'running\n'))
      // The completion written at startup counts and hashes what the transcript holds, so it verifies.
      const interrupted = lines.at(-1)!.params
      assert.equal(interrupted.stdout_bytes, 'running\n'.length)
      assert.equal(record.stdout_bytes, 'running\n'.length)
      assert.equal(interrupted.transcript_sha256.stdout, createHash('sha256').update('running\n').digest('hex'))
      assert.equal((await verifyTranscript(lines as unknown as ExecutionEvent[])).ok, true)
      const verified = await (await fetch(`${again.url}/v1/executions/${id}/verify`)).json()
      assert.equal(verified.verified, true, JSON.stringify(verified.checks))

      const earlier = await fetch(`${again.url}/v1/executions/${done.id}/transcript`)
      assert.equal(earlier.status, 200)
      const hashes = earlier.headers.get('x-transcript-sha256')
      assert.equal(hashes, `stdout=${done.completed.transcript_sha256.stdout}, stderr=${done.completed.transcript_sha256.stderr}`)
      const events = (await readNdjson(earlier)) as unknown as ExecutionEvent[]
      assert.equal((await verifyTranscript(events)).ok, true)
      const replay = await TestClient.open(again.wsUrl)
      await replay.request('attach', { execution_id: done.id })
      await replay.completion(done.id)
      assert.equal(replay.output(done.id), 'kept\n')
      await replay.close()
    } finally {
      await again.stop()
    }
  })

  test('a transcript with a hole replays up to the hole, announces the hole as a gap, then everything after it, completion included', () =>
    inDataDir('hole', async (dataDir) => {
      const [id] = earlierRun(dataDir, 'hole', 1, { outputs: 4, data: 'x\n' })
      const path = join(dataDir, `${id}.ndjson`)
      // seq 2 and 3 lost (as a failed transcript write leaves them); 1, 4 and the completion (5) remain.
      writeFileSync(path, readFileSync(path, 'utf8').split('\n').filter((_, i) => i !== 1 && i !== 2).join('\n'))
      const own = await startServer({ CC_EXECUTOR_DATA_DIR: dataDir })
      try {
        const replayed = await readNdjson(await fetch(`${own.url}/v1/executions/${id}/events?after_seq=0`))
        assert.deepEqual(
          replayed.map((e) => [e.method, e.params.seq ?? `${e.params.from_seq}-${e.params.to_seq}`]),
          [['process.output', 1], ['process.gap', '2-3'], ['process.output', 4], ['process.completed', 5]],
        )
        const client = await TestClient.open(own.wsUrl)
        await client.request('attach', { execution_id: id, after_seq: 0 })
        await client.completion(id)
        const frames = client.frames.filter((f) => f.params?.execution_id === id && f.method !== 'process.started')
        assert.deepEqual(frames.map((f) => f.params.seq ?? `gap ${f.params.from_seq}-${f.params.to_seq}`), [1, 'gap 2-3', 4, 5])
        await client.close()
      } finally {
        await own.stop()
      }
    }))

  test('records past RETENTION_HOURS are deleted at startup', async () => {
    const own = await startServer()
    const client = await TestClient.open(own.wsUrl)
    const { id } = await client.run({ command: 'true' })
    await client.close()
    await own.stop()
    const later = await startServer({ CC_EXECUTOR_DATA_DIR: own.dataDir, RETENTION_HOURS: '0.0000001' })
    try {
      assert.equal((await fetch(`${later.url}/v1/executions/${id}`)).status, 404)
    } finally {
      await later.stop()
    }
  })
})

describe('the disk budget', () => {
  test('past MAX_DATA_MB the oldest finished executions are deleted, down to 90 % of it, and forgotten', async () => {
    const own = await startServer({ MAX_DATA_MB: '1' })
    try {
      const client = await TestClient.open(own.wsUrl)
      // About 400 kB of transcript each: the third run passes 1 MiB, and deleting the first is enough.
      const ids: string[] = []
      for (let i = 0; i < 3; i++) ids.push((await client.run({ command: "head -c 400000 /dev/zero | tr '\\0' a | fold -w 99" })).id)
      await client.close()
      const files = () => readdirSync(own.dataDir).sort()
      await eventually(() => !files().includes(`${ids[0]}.ndjson`), 5000, 'the oldest transcript to be deleted')
      assert.deepEqual(files(), [`${ids[1]}.json`, `${ids[1]}.ndjson`, `${ids[2]}.json`, `${ids[2]}.ndjson`].sort())
      assert.equal((await fetch(`${own.url}/v1/executions/${ids[0]}`)).status, 404, 'the registry forgot it too')
      assert.equal((await fetch(`${own.url}/v1/executions/${ids[0]}/transcript`)).status, 404)
      const kept = await fetch(`${own.url}/v1/executions/${ids[2]}/transcript`)
      const lines = await readNdjson(kept)
      assert.equal(lines.at(-1)!.method, 'process.completed')
    } finally {
      await own.stop()
    }
  })
})

describe('execution ids are never reused', () => {
  test('beyond the 1,000 finished executions that keep history in memory, older records are still served, and their ids are refused', async () => {
    // 1,001 finished executions of an earlier run: the registry keeps the newest 1,000 in memory.
    await onEarlierRun('old', 1001, {}, async (own, _ids, dataDir) => {
      const transcript = readFileSync(join(dataDir, 'old-0000.ndjson'), 'utf8')
      // The oldest of them is still a record on disk (MAX_RECORDS is 10,000): it is listed, and served.
      const record = await fetch(`${own.url}/v1/executions/old-0000`)
      assert.equal(record.status, 200)
      assert.equal((await record.json()).status, 'completed')
      assert.equal(await (await fetch(`${own.url}/v1/executions/old-0000/transcript`)).text(), transcript)
      // A list is the newest 1,000 unless it asks for more.
      const list = async (query: string) => (await (await fetch(`${own.url}/v1/executions${query}`)).json()) as { executions: { id: string }[] }
      const newest = await list('')
      assert.equal(newest.executions.length, 1000)
      assert.deepEqual([newest.executions[0].id, newest.executions.at(-1)!.id], ['old-0001', 'old-1000'], 'oldest first')
      const all = await list('?limit=5000')
      assert.equal(all.executions.length, 1001)
      assert.equal(all.executions[0].id, 'old-0000')
      for (const bad of ['0', '-1', '1.5', 'x', '']) {
        const response = await fetch(`${own.url}/v1/executions?limit=${bad}`)
        assert.equal(response.status, 400, `limit=${bad}`)
        assert.equal((await response.json()).error.code, -32602)
      }
      const client = await TestClient.open(own.wsUrl)
      const reused = await client.request('execute', { command: 'echo reused', execution_id: 'old-0000' })
      assert.equal(reused.error?.code, -32602, JSON.stringify(reused))
      assert.match(reused.error.message, /already in use/)
      assert.equal(readFileSync(join(dataDir, 'old-0000.ndjson'), 'utf8'), transcript)
      const fresh = await client.run({ command: 'echo fresh', execution_id: 'new-0001' })
      assert.equal(fresh.stdout, 'fresh\n', 'the session still works')
      const two = await client.request('list', { limit: 2 })
      assert.deepEqual(two.result.executions.map((r: { id: string }) => r.id), ['old-1000', 'new-0001'])
      assert.equal((await client.request('list')).result.executions.length, 1000)
      assert.equal((await client.request('list', { limit: 0 })).error?.code, -32602)
      await client.close()
    })
  })
})

describe('replays from transcripts to a client that does not read', () => {
  test('hold no transcript open and keep memory bounded, however many run at once', async () => {
    // 40 finished executions of an earlier run, 8 MB of transcript each.
    const data = 'r'.repeat(80_000)
    await onEarlierRun('done', 40, { outputs: 100, data }, async (own, ids) => {
      const pid = own.child.pid!
      const rss = () => rssKiB(pid)! / 1024
      const openTranscripts = () => openFiles(pid).filter((file) => file.endsWith('.ndjson')).length
      const baseline = rss()
      const client = await TestClient.open(own.wsUrl)
      client.ws.pause() // reads nothing: every replay stalls on back-pressure
      for (const [i, id] of ids.entries()) client.sendRaw(JSON.stringify({ jsonrpc: '2.0', id: i + 1, method: 'attach', params: { execution_id: id } }))
      await sleep(1500)
      let peak = rss()
      for (let i = 0; i < 10; i++) {
        await sleep(100)
        peak = Math.max(peak, rss())
      }
      assert.equal(openTranscripts(), 0, 'a stalled replay holds no file open')
      assert.ok(peak - baseline < 100, `server RSS grew ${(peak - baseline).toFixed(1)} MiB for 40 stalled replays of 8 MB`)
      // Once the client reads, every replay completes, in order and whole.
      client.ws.resume()
      for (const id of ids) {
        await client.completion(id, 30_000)
        assert.deepEqual(client.events(id).map((e) => e.params.seq), Array.from({ length: 101 }, (_, k) => k + 1))
      }
      assert.equal(client.output(ids[7]).length, 100 * data.length)
      await client.close()
    })
  })
})

describe('following many executions from one session', () => {
  test('at most MAX_FOLLOWED at once: one more is refused with -32005 until a replay ends', async () => {
    const data = 'f'.repeat(100_000)
    // Enough output that no replay can finish into the socket's buffers while the client is paused.
    const most = 8
    const outputs = 40
    await onEarlierRun('f', most + 1, { outputs, data, env: { MAX_FOLLOWED: String(most) } }, async (own, ids) => {
      const client = await TestClient.open(own.wsUrl)
      client.ws.pause() // the replays stall on back-pressure, so each keeps its place
      const replies = ids.slice(0, most).map((id) => client.request('attach', { execution_id: id }))
      await sleep(500)
      const extra = client.request('attach', { execution_id: ids[most] })
      client.ws.resume()
      for (const reply of await Promise.all(replies)) assert.equal(reply.result?.status, 'attached')
      const refused = await extra
      assert.equal(refused.error?.code, -32005, JSON.stringify(refused))
      assert.match(refused.error?.message ?? '', new RegExp(`already follows ${most} executions`))
      for (const id of ids.slice(0, most)) await client.completion(id, 30_000)
      // The replays have ended: the session has room again.
      assert.equal((await client.request('attach', { execution_id: ids[most] })).result?.status, 'attached')
      await client.completion(ids[most])
      assert.equal(client.output(ids[most]).length, outputs * data.length)
      await client.close()
    })
  })
})

describe('the Node file store never appends to a transcript it did not start (unit)', () => {
  test('a transcript already on disk without a record makes create() fail, and is left as it was', async () => {
    await inDataDir('wx', async (dir) => {
      const store = await FileStore.open(dir, { retentionHours: 1, maxRecords: 10 })
      writeFileSync(join(dir, 'stray.ndjson'), 'not ours\n')
      const at = new Date().toISOString()
      const record = { id: 'stray', execution_id: 'stray', command: 'true', state: 'running', status: 'running', started_at: at } as unknown as ExecutionRecord
      await assert.rejects(store.create(record), /EEXIST/)
      assert.equal(readFileSync(join(dir, 'stray.ndjson'), 'utf8'), 'not ours\n')
      assert.equal(store.has('fresh'), false)
      await (await store.create({ ...record, id: 'fresh', execution_id: 'fresh' })).finish({ ...record, id: 'fresh', execution_id: 'fresh', state: 'exited', ended_at: at } as ExecutionRecord)
      assert.equal(store.has('fresh'), true)
    })
  })
})

describe('transcript reads (unit: the Node file store)', () => {
  test('lines come whole, across chunk boundaries, and a line still being written is not handed on', async () => {
    await inDataDir('read', async (dir) => {
      const store = await FileStore.open(dir, { retentionHours: 1, maxRecords: 10 })
      const long = 'é'.repeat(50_000) // two-byte characters: chunk boundaries fall inside them, too
      const lines = [1, 2, 3].map((seq) => JSON.stringify({ jsonrpc: '2.0', method: 'process.output', params: { execution_id: 't', seq, type: 'stdout', data: long } }))
      writeFileSync(join(dir, 't.ndjson'), `${lines.join('\n')}\n{"jsonrpc":"2.0","method":"process.output","params":{"execution_id":"t","seq":4,"ty`)
      const read = async (from: number, to?: number) => {
        const got: string[] = []
        for await (const line of store.read('t', from, to)) got.push(line)
        return got
      }
      assert.deepEqual(await read(1), lines)
      assert.deepEqual(await read(2, 2), [lines[1]])
    })
  })
})

describe('pruning (unit: the Node file store)', () => {
  test('records beyond MAX_RECORDS go at startup; later prunes delete in the background while timers keep running', async () => {
    await inDataDir('prune', async (dir) => {
      // 3,000 finished executions of an earlier run, the oldest 50 minutes ago.
      const ids = earlierRun(dir, 'e', 3000)
      const forgotten: string[] = []
      const store = await FileStore.open(dir, { retentionHours: 1, maxRecords: 2000, onDeleted: (ids) => forgotten.push(...ids) })
      assert.deepEqual(forgotten, ids.slice(0, 1000), 'the 1,000 oldest, at startup')
      assert.equal(readdirSync(dir).length, 4000)

      // Two hours later all of them are past RETENTION_HOURS. Deleting 4,000 files synchronously
      // would leave no turn to a 1 ms timer until the end.
      let done = false
      let ticksDuring = 0
      const ticker = setInterval(() => (ticksDuring += done ? 0 : 1), 1)
      await store.prune(Date.now() + 2 * 3_600_000)
      done = true
      clearInterval(ticker)
      assert.ok(ticksDuring >= 3, `timers ran ${ticksDuring} times during the prune`)
      assert.deepEqual(forgotten, ids)
      assert.deepEqual(readdirSync(dir), [])
    })
  })
})

describe('the drop policy', () => {
  test('backpressure "drop" keeps a fast child running for a stalled client and announces every dropped byte', async () => {
    const client = await TestClient.open(server.wsUrl)
    const total = 32 * 1024 * 1024
    const { execution_id: id, pgid } = await client.execute({ command: `head -c ${total} /dev/zero | tr '\\0' d | fold -w 63`, backpressure: 'drop' })
    client.ws.pause()
    // Nobody reads, yet the child runs to its end: it is not blocked.
    await eventually(() => groupMembers(pgid).length === 0, 20_000, 'the child to finish while the client is stalled')
    client.ws.resume()
    const done = await client.completion(id, 60_000)
    const events = client.events(id)
    const dropped = events.filter((e) => e.method === 'process.dropped')
    assert.ok(dropped.length > 0, 'something was dropped')
    const droppedBytes = dropped.reduce((sum, e) => sum + e.params.bytes, 0)
    assert.equal(droppedBytes, done.params.dropped_bytes)
    const received = Buffer.byteLength(client.output(id))
    assert.equal(received + droppedBytes, done.params.stdout_bytes, 'received + dropped = everything the child wrote')
    const droppedLines = dropped.reduce((sum, e) => sum + e.params.lines, 0)
    const newlines = done.params.stdout_bytes - total // fold added one newline per 63 characters
    assert.equal(client.output(id).split('\n').length - 1 + droppedLines, newlines, 'received + dropped lines = every line')
    assert.deepEqual(events.map((e) => e.params.seq), events.map((_, i) => i + 1), 'no seq gap despite the drops')
    assert.equal((await verifyTranscript(events as ExecutionEvent[])).ok, true, 'the hash covers what was sent')
    await client.close()
  })
})
