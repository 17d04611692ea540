/**
 * Listing by label and status against the real server: `GET /v1/executions?label=&status=`, the
 * WebSocket `list` and the client's list() give the newest matching executions, however old they are;
 * `GET /v1/executions/watch` with the same filter lists them, counts them beside the total, and tells
 * of every change with whether it matches. Without a filter, all is as before.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import WebSocket from 'ws'
import { FileStore } from '../../adapters/node/file-store.ts'
import { LocalExecutor } from '../../adapters/node/local-executor.ts'
import { ExecutionRegistry } from '../../src/executions/registry.ts'
import { RECORD_STATUSES, type ListFilter } from '../../src/protocol/list-filter.ts'
import { ExecutorClient, type WebSocketConstructor } from '../../src/client/index.ts'
import { TestClient } from '../helpers/client.ts'
import { notificationReader, post } from '../helpers/http.ts'
import { eventually } from '../helpers/proc.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'

const LABEL = 'nightly build/x'

describe('list filters', () => {
  let server: RunningServer
  /** Ids by what they are, in the order they ran. */
  const ids: Record<string, string> = {}

  const run = async (name: string, body: Record<string, unknown>) => {
    const response = await post(`${server.url}/v1/executions`, body)
    ids[name] = response.headers.get('x-execution-id')!
    await response.text()
  }
  const list = async (query: string) => {
    const response = await fetch(`${server.url}/v1/executions${query}`)
    assert.equal(response.status, 200, await response.clone().text())
    return ((await response.json()) as { executions: { id: string; label: string | null; status: string }[] }).executions.map((r) => r.id)
  }
  /** A watch: its notifications one at a time, heartbeats skipped. */
  const watch = async (query: string) => {
    const response = await fetch(`${server.url}/v1/executions/watch${query}`)
    if (response.status !== 200) assert.fail(`${response.status} ${await response.text()}`)
    const { next, cancel } = notificationReader(response)
    /** The next change of execution `id` (changes of others, told too, are passed over). */
    const changeOf = async (id: string) => {
      for (;;) {
        const message = await next()
        assert.equal(message.method, 'execution.changed')
        if (message.params.execution.id === id) return message.params
      }
    }
    return { next, changeOf, close: cancel }
  }

  before(async () => {
    server = await startServer()
    // The labelled ones first: the five after them are the newest.
    await run('labelledOk', { command: 'true', label: LABEL })
    await run('labelledFailed', { command: 'exit 3', label: LABEL })
    await run('otherFailed', { command: 'exit 4', label: 'other' })
    for (let i = 0; i < 5; i++) await run(`plain${i}`, { command: 'true' })
  })
  after(async () => {
    await server?.stop()
  })

  test('GET /v1/executions?label=&status= lists the newest matching executions, oldest first; no filter lists as before', async () => {
    const newest = [ids.plain3, ids.plain4]
    assert.deepEqual(await list('?limit=2'), newest, 'no filter: the newest of all')
    assert.deepEqual(await list('?limit=2&label=&status='), newest, 'an empty filter is no filter')
    const label = encodeURIComponent(LABEL)
    assert.deepEqual(await list(`?label=${label}`), [ids.labelledOk, ids.labelledFailed])
    assert.deepEqual(await list(`?label=${label}&limit=1`), [ids.labelledFailed], 'the newest matching one')
    // `+` for a space, as a form sends it.
    assert.deepEqual(await list(`?${new URLSearchParams({ label: LABEL })}`), [ids.labelledOk, ids.labelledFailed])
    assert.deepEqual(await list('?status=failed'), [ids.labelledFailed, ids.otherFailed])
    assert.deepEqual(await list(`?status=failed&label=${label}`), [ids.labelledFailed])
    assert.deepEqual(await list('?status=completed&limit=6'), [ids.labelledOk, ids.plain0, ids.plain1, ids.plain2, ids.plain3, ids.plain4])
    assert.deepEqual(await list('?label=nobody'), [])
    assert.deepEqual(await list('?status=paused'), [])
  })

  test('a bad filter is refused with -32602 naming it, over HTTP and WebSocket', async () => {
    for (const [query, named] of [
      ['?status=bogus', /status must be one of running, paused, completed, failed, canceled, timeout, killed, interrupted/],
      ['?label=%20leading-space', /label must be 1-128 characters/],
    ] as const) {
      for (const path of ['/v1/executions', '/v1/executions/watch']) {
        const response = await fetch(`${server.url}${path}${query}`)
        assert.equal(response.status, 400, `${path}${query}`)
        const { error } = (await response.json()) as { error: { code: number; message: string } }
        assert.equal(error.code, -32602)
        assert.match(error.message, named)
      }
    }
    const client = await TestClient.open(server.wsUrl)
    try {
      const refused = await client.request('list', { status: 'done' })
      assert.equal(refused.error?.code, -32602)
      assert.match(refused.error?.message ?? '', /status must be one of/)
    } finally {
      await client.close()
    }
  })

  test('the WebSocket list and the client library (both transports) take the same filter', async () => {
    const client = await TestClient.open(server.wsUrl)
    try {
      const listed = await client.request('list', { label: LABEL, status: 'completed' })
      assert.deepEqual(listed.result.executions.map((r: { id: string }) => r.id), [ids.labelledOk])
      const newest = await client.request('list', { limit: 1 })
      assert.deepEqual(newest.result.executions.map((r: { id: string }) => r.id), [ids.plain4])
    } finally {
      await client.close()
    }
    for (const transport of ['ws', 'http'] as const) {
      const library = new ExecutorClient({ url: server.url, transport, WebSocket: WebSocket as unknown as WebSocketConstructor })
      try {
        assert.deepEqual((await library.list({ label: LABEL, limit: 1 })).map((r) => r.id), [ids.labelledFailed], transport)
        assert.deepEqual((await library.list({ status: 'failed' })).map((r) => r.id), [ids.labelledFailed, ids.otherFailed], transport)
      } finally {
        await library.close()
      }
    }
  })

  test('the watch with a filter lists the newest matching ones, counts them beside the total, and tells of each change whether it matches', async () => {
    let sleeper = ''
    const byLabel = await watch(`?${new URLSearchParams({ limit: '1', label: LABEL })}`)
    try {
      const listed = await byLabel.next()
      assert.equal(listed.method, 'executions.list')
      assert.deepEqual(listed.params.executions.map((r: { id: string }) => r.id), [ids.labelledFailed], 'the newest matching one, older than the newest five')
      assert.equal(listed.params.total, 8)
      assert.equal(listed.params.matching, 2)
      assert.deepEqual(listed.params.labels, [LABEL, 'other'], 'the labels of all of them')

      const started = await post(`${server.url}/v1/executions`, { command: 'sleep 30', label: LABEL, detach: true })
      sleeper = ((await started.json()) as { execution_id: string }).execution_id
      const running = await byLabel.changeOf(sleeper)
      assert.equal(running.execution.status, 'running')
      assert.deepEqual([running.matches, running.matching, running.total], [true, 3, 9])

      // One that does not match is told too, as not matching: the counts stay true.
      await run('plain5', { command: 'true' })
      let other = await byLabel.changeOf(ids.plain5)
      if (other.execution.state !== 'exited') other = await byLabel.changeOf(ids.plain5)
      assert.deepEqual([other.matches, other.matching, other.total], [false, 3, 10])

      // By status: a running one that ends no longer matches, and says so.
      const byStatus = await watch('?status=running')
      try {
        const runningList = await byStatus.next()
        assert.deepEqual(runningList.params.executions.map((r: { id: string }) => r.id), [sleeper])
        assert.deepEqual([runningList.params.matching, runningList.params.total], [1, 10])
        await post(`${server.url}/v1/executions/${sleeper}/control`, { type: 'CANCEL' })
        const ended = await byStatus.changeOf(sleeper)
        assert.equal(ended.execution.status, 'canceled')
        assert.deepEqual([ended.matches, ended.matching, ended.total], [false, 0, 10])
        // Still of its label: the label's watch tells of the end as matching.
        const labelled = await byLabel.changeOf(sleeper)
        assert.deepEqual([labelled.execution.status, labelled.matches, labelled.matching], ['canceled', true, 3])
      } finally {
        await byStatus.close()
      }
    } finally {
      await byLabel.close()
    }

    // No filter: as before, every execution counts and matches (the newest to have ended is listed last).
    const all = await watch('?limit=1')
    try {
      const listed = await all.next()
      assert.deepEqual(listed.params.executions.map((r: { id: string }) => r.id), [sleeper])
      assert.deepEqual([listed.params.total, listed.params.matching], [10, 10])
    } finally {
      await all.close()
    }
  })
})

describe('a filtered count', () => {
  test('is what a filtered list holds, as executions start, pause, resume, end, move to the archive, are forgotten and are restored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-executor-counts-'))
    const opened: ExecutionRegistry[] = []
    try {
      const open = async () => {
        const store = await FileStore.open(dir, { retentionHours: 24, maxRecords: 1000 })
        // keepFinished 2: the third to end moves the oldest finished one to the archive.
        const registry = new ExecutionRegistry({ executor: new LocalExecutor({ killGraceMs: 200 }), store, keepFinished: 2 })
        opened.push(registry)
        return registry
      }
      const labels = [undefined, 'a', 'b', 'none']
      const filters: ListFilter[] = []
      for (const label of labels) for (const status of [undefined, ...RECORD_STATUSES]) if (label !== undefined || status !== undefined) filters.push({ label, status })
      const agrees = (registry: ExecutionRegistry, when: string) => {
        for (const filter of filters) assert.equal(registry.count(filter), registry.list(Infinity, filter).length, `${when}: ${JSON.stringify(filter)}`)
      }
      const registry = await open()
      agrees(registry, 'empty')
      const ended = async (command: string, label?: string) => {
        const execution = await registry.start({ command, label })
        execution.open()
        await execution.done
        return execution
      }
      await ended('true', 'a')
      await ended('exit 3', 'a')
      await ended('true')
      agrees(registry, 'three ended, one of them archived')
      const long = await registry.start({ command: 'sleep 30', label: 'b' })
      long.open()
      agrees(registry, 'one running')
      assert.equal(registry.count({ label: 'b', status: 'running' }), 1)
      // A pause counts once its process.paused event is in the record, as watchers hear of it.
      await registry.control(long.id, 'PAUSE')
      await eventually(() => registry.count({ status: 'paused' }) === 1, 5000, 'counted as paused')
      agrees(registry, 'one paused')
      await registry.control(long.id, 'RESUME')
      await eventually(() => registry.count({ status: 'running' }) === 1, 5000, 'counted as running again')
      agrees(registry, 'resumed')
      await registry.control(long.id, 'CANCEL')
      await long.done
      agrees(registry, 'canceled')
      assert.equal(registry.count({ label: 'b', status: 'canceled' }), 1)
      registry.forget(long.id)
      agrees(registry, 'one forgotten')
      assert.equal(registry.count({ label: 'b' }), 0)

      // What the store holds, restored into a new registry.
      const restored = await open()
      await restored.restore()
      agrees(restored, 'restored')
      assert.equal(restored.count({ label: 'a' }), 2)
      assert.equal(restored.count({ status: 'completed' }), 2)
    } finally {
      await Promise.all(opened.map((r) => r.shutdown()))
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('without a store, a finished execution pushed out of those kept is not counted any more', async () => {
    const registry = new ExecutionRegistry({ executor: new LocalExecutor(), keepFinished: 1 })
    try {
      for (let i = 0; i < 3; i++) {
        const execution = await registry.start({ command: 'true', label: 'a' })
        execution.open()
        await execution.done
      }
      assert.equal(registry.size, 1)
      assert.deepEqual([registry.count({ label: 'a' }), registry.count({ status: 'completed' })], [1, 1])
    } finally {
      await registry.shutdown()
    }
  })

  test('a copy let go (a request-scoped executor, as on Workers) that ends while another is adopted is neither listed nor counted beside it', async () => {
    // A stand-in for the Workers pool: adopt() is held at a gate, so the first copy's end falls
    // while the second is on its way in, which real workerd requests cannot be made to do on cue.
    const id = 'let-go-1'
    const record = { id, execution_id: id, kind: 'command', label: 'L', stdin: 'close', command: 'c', cwd: null, state: 'running', status: 'running', pid: 1, pgid: 1, started_by: 'http', token_id: null, started_at: new Date().toISOString() }
    const copies: { end(): void }[] = []
    let gate: Promise<void> = Promise.resolve()
    const copy = () => {
      let events!: ReadableStreamDefaultController<unknown>
      const handle = {
        id, pid: 1, pgid: 1, command: 'c', state: 'running',
        events: new ReadableStream({ start: (c) => void (events = c) }),
        control: async () => ({ status: 'ok' }),
        write: async () => ({ written: 0 }),
        completed: new Promise(() => {}),
      }
      copies.push({
        end() {
          handle.state = 'exited'
          const params = { execution_id: id, seq: 1, status: 'completed', exit_code: 0, signal: null, reason: null, execution_time: 0, stdout_bytes: 0, stderr_bytes: 0, dropped_bytes: 0 }
          events.enqueue({ jsonrpc: '2.0', method: 'process.completed', params })
          events.close()
        },
      })
      return handle
    }
    const executor = {
      requestScoped: true,
      start: async () => assert.fail('not started here'),
      adopt: async () => {
        await gate
        return { record, handle: copy() }
      },
    } as unknown as ConstructorParameters<typeof ExecutionRegistry>[0]['executor']
    const registry = new ExecutionRegistry({ executor })
    try {
      const first = await registry.find(id)
      // Nobody follows it: the next look lets it go.
      void registry.running
      let open = () => {}
      gate = new Promise((resolve) => (open = resolve))
      const second = registry.find(id)
      copies[0].end()
      await first.done
      open()
      await second
      assert.deepEqual(registry.list(Infinity, { label: 'L' }).map((r) => r.status), ['running'], 'one execution of that id, the copy adopted last')
      assert.equal(registry.count({ label: 'L' }), 1)
    } finally {
      // Ended, so that no activity timer of theirs outlives the test.
      for (const c of copies.slice(1)) c.end()
    }
  })
})
