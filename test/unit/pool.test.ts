import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { gatewayLimits, gatewayListen, parsePool, PoolConfigError, tagOf } from '../../src/gateway/config.ts'
import { PoolBook } from '../../src/gateway/pool-state.ts'

describe('the pool settings (EXECUTOR_URLS, EXECUTOR_TOKEN)', () => {
  test('EXECUTOR_URL alone is a pool of one; URLs are normalised and tagged by a hash of the normalised URL', () => {
    assert.deepEqual(parsePool({ url: 'http://10.0.0.5:8003/' }), [{ url: 'http://10.0.0.5:8003', tag: tagOf('http://10.0.0.5:8003') }])
    const pool = parsePool({ urls: ' http://a:1 , https://b/x/ ', url: 'http://ignored', tokens: 'one-token' })
    assert.deepEqual(pool.map((m) => [m.url, m.token]), [['http://a:1', 'one-token'], ['https://b/x', 'one-token']])
    assert.match(pool[0].tag, /^[0-9a-f]{8}$/)
    assert.notEqual(pool[0].tag, pool[1].tag)
    assert.deepEqual(parsePool({ urls: 'http://a,http://b', tokens: 'ta,tb' }).map((m) => m.token), ['ta', 'tb'])
  })

  test('malformed settings are refused with a message naming the setting and the entry', () => {
    const cases: [Parameters<typeof parsePool>[0], RegExp][] = [
      [{}, /EXECUTOR_URLS \(or EXECUTOR_URL\) is empty/],
      [{ urls: 'http://a,,http://b' }, /EXECUTOR_URLS: entry 2 is empty/],
      [{ urls: 'http://a,not a url' }, /entry 2 \("not a url"\) is not a URL/],
      [{ urls: 'ftp://a' }, /is not http: or https:/],
      [{ urls: 'http://user:secret@a' }, /plain base URL/],
      [{ urls: 'http://a/?x=1' }, /plain base URL/],
      [{ urls: 'http://a/,http://a' }, /entries 1 and 2 name the same executor/],
      [{ urls: 'http://a,http://b,http://c', tokens: 'x,y' }, /EXECUTOR_TOKEN holds 2 tokens for 3 executors/],
      [{ urls: 'http://a,http://b', tokens: 'x,' }, /one of its comma-separated tokens is empty/],
      [{ urls: Array.from({ length: 65 }, (_, i) => `http://h${i}`).join(',') }, /at most 64/],
    ]
    for (const [settings, message] of cases) assert.throws(() => parsePool(settings), (e: Error) => e instanceof PoolConfigError && message.test(e.message), JSON.stringify(settings))
    // The token itself never appears in a message.
    assert.throws(() => parsePool({ urls: 'http://a,http://b,http://c', tokens: 'secret-1,secret-2' }), (e: Error) => !e.message.includes('secret'))
  })
})

describe('placement (PoolBook)', () => {
  const members = [
    { tag: 'a', url: 'http://a' },
    { tag: 'b', url: 'http://b' },
    { tag: 'c', url: 'http://c' },
  ]
  const healthy = (book: PoolBook, running: number[], max: (number | null)[]) => members.forEach((m, i) => book.report(m, { healthy: true, running: running[i], max: max[i] }))
  const placeMany = (book: PoolBook, n: number) => Array.from({ length: n }, () => book.place(members, [])).map((p) => ('tag' in p ? p.tag : JSON.stringify(p)))

  test('the most free capacity first; placements count before the next health report', () => {
    const book = new PoolBook(() => 0)
    healthy(book, [0, 0, 0], [14, 14, 2])
    const placed = placeMany(book, 30)
    assert.deepEqual(['a', 'b', 'c'].map((t) => placed.filter((p) => p === t).length), [14, 14, 2])
    assert.deepEqual(book.place(members, []), { full: true })
  })

  test('an executor without a limit has the most room; among those, the one running fewest; ties at random', () => {
    const book = new PoolBook(() => 0.99)
    healthy(book, [5, 3, 0], [null, null, 100])
    assert.deepEqual(placeMany(book, 3), ['b', 'b', 'b'])
    // a and b both run 5 now, both unlimited: the random pick takes the last of the tied ones.
    const tied = new PoolBook(() => 0.99)
    healthy(tied, [2, 2, 0], [null, null, 1])
    assert.deepEqual(placeMany(tied, 1), ['b'])
  })

  test('unhealthy and excluded executors are skipped; none left is "down"', () => {
    const book = new PoolBook(() => 0)
    healthy(book, [0, 0, 0], [10, 10, 10])
    book.report(members[0], { healthy: false, error: 'connection refused' })
    assert.deepEqual(book.place(members, ['b']), { tag: 'c' })
    assert.deepEqual(book.place(members, ['b', 'c']), { down: true })
    assert.equal(book.snapshot().find((m) => m.tag === 'a')!.unavailable, 1)
  })

  test('a health report counts what is placed but not yet started there; a start that failed is taken back', () => {
    const book = new PoolBook(() => 0)
    healthy(book, [0, 0, 0], [2, 0, 0])
    assert.deepEqual(book.place(members, []), { tag: 'a' })
    // The executor has not seen that start yet: the report must not free its place.
    book.report(members[0], { healthy: true, running: 0, max: 2 })
    assert.deepEqual(book.place(members, []), { tag: 'a' })
    assert.deepEqual(book.place(members, []), { full: true })
    book.settle('a', false)
    assert.deepEqual(book.place(members, []), { tag: 'a' })
    book.settle('a', true)
    book.settle('a', true)
    book.release('a')
    assert.equal(book.snapshot().find((m) => m.tag === 'a')!.running, 1)
  })
})

test('gatewayLimits: MAX_SESSIONS and MAX_STREAMS as whole numbers from 1, unset left to the defaults, a bad one named', () => {
  const settings = (values: Record<string, string>) => (name: string) => values[name]
  assert.deepEqual(gatewayLimits(settings({})), {})
  assert.deepEqual(gatewayLimits(settings({ MAX_SESSIONS: ' 7 ', MAX_STREAMS: '9' })), { maxSessions: 7, maxStreams: 9 })
  for (const bad of ['0', '-1', '2.5', 'many', '1e400']) assert.throws(() => gatewayLimits(settings({ MAX_SESSIONS: bad })), /invalid MAX_SESSIONS/)
  assert.throws(() => gatewayLimits(settings({ MAX_STREAMS: 'x' })), (error: Error) => error instanceof PoolConfigError && /MAX_STREAMS/.test(error.message))
  // In the Node server's words (src/settings.ts), less its flag.
  assert.throws(() => gatewayLimits(settings({ MAX_SESSIONS: '0' })), { message: 'invalid MAX_SESSIONS: expected at least 1 (got "0")' })
  assert.throws(() => gatewayLimits(settings({ MAX_STREAMS: ' 0x10 ' })), { message: 'invalid MAX_STREAMS: expected a whole number (got "0x10")' })
})

test('gatewayLimits: WEBSOCKET_HEARTBEAT_INTERVAL in seconds from 0.01, as on the Node server; a bad one named', () => {
  const settings = (values: Record<string, string>) => (name: string) => values[name]
  assert.deepEqual(gatewayLimits(settings({ WEBSOCKET_HEARTBEAT_INTERVAL: '0.5' })), { heartbeatInterval: 0.5 })
  assert.deepEqual(gatewayLimits(settings({ WEBSOCKET_HEARTBEAT_INTERVAL: ' 20 ' })), { heartbeatInterval: 20 })
  for (const bad of ['0', '-1', '0x10', 'soon', '1e3', '0.001', '2147484']) {
    assert.throws(() => gatewayLimits(settings({ WEBSOCKET_HEARTBEAT_INTERVAL: bad })), /invalid WEBSOCKET_HEARTBEAT_INTERVAL/, bad)
  }
  assert.throws(() => gatewayLimits(settings({ WEBSOCKET_HEARTBEAT_INTERVAL: '2147484' })), { message: 'invalid WEBSOCKET_HEARTBEAT_INTERVAL: expected at most 2147483 (got "2147484")' })
})

test('gatewayListen: HOST and PORT (8787, 0 for any free port) as on the Node server: decimal digits up to 65535, a bad one named', () => {
  const settings = (values: Record<string, string>) => (name: string) => values[name]
  assert.deepEqual(gatewayListen(settings({})), { host: '127.0.0.1', port: 8787 })
  assert.deepEqual(gatewayListen(settings({ HOST: '0.0.0.0', PORT: '0' })), { host: '0.0.0.0', port: 0 })
  for (const bad of ['', ' ', 'abc', '0x10', '-1', '65536', '80.5']) assert.throws(() => gatewayListen(settings({ PORT: bad })), /invalid PORT/, JSON.stringify(bad))
  assert.throws(() => gatewayListen(settings({ PORT: '65536' })), { message: 'invalid PORT: expected at most 65535 (got "65536")' })
  assert.throws(() => gatewayListen(settings({ HOST: ' ' })), /invalid HOST/)
})

test('a pool lists by a filter: it passes the filter on, and filters what an executor of an older version sends unfiltered', async () => {
  const { ExecutorPool } = await import('../../src/gateway/pool.ts')
  const record = (id: string, started: number, label: string | null, status: string) => ({ id, label, status, started_at: new Date(started * 1000).toISOString() })
  const asked: string[] = []
  const fetchStub = (async (input: RequestInfo | URL) => {
    const url = new URL(String(input))
    if (url.pathname === '/health') return Response.json({ status: 'healthy', running_executions: 0, max_executions: null })
    asked.push(`${url.host}${url.pathname}${url.search}`)
    // "new" filters as asked; "old" ignores the query and sends its newest of all.
    const executions =
      url.host === 'new'
        ? [record('n1', 1, 'nightly', 'failed'), record('n3', 3, 'nightly', 'failed')]
        : [record('o2', 2, 'nightly', 'failed'), record('o4', 4, 'nightly', 'completed'), record('o5', 5, null, 'failed')]
    return Response.json({ executions })
  }) as typeof fetch
  const pool = new ExecutorPool({ members: [{ url: 'http://new', tag: 'aaaaaaaa' }, { url: 'http://old', tag: 'bbbbbbbb' }], fetch: fetchStub })
  try {
    const { executions, unavailable } = await pool.list(2, { label: 'nightly', status: 'failed' })
    assert.deepEqual(asked.sort(), ['new/v1/executions?limit=2&label=nightly&status=failed', 'old/v1/executions?limit=2&label=nightly&status=failed'])
    assert.deepEqual(executions.map((r) => [r.id, r.executor]), [['o2', 'http://old'], ['n3', 'http://new']], 'the newest 2 matching ones of both, oldest first')
    assert.deepEqual(unavailable, [])
    asked.length = 0
    // No filter: as before.
    assert.deepEqual((await pool.list(Infinity)).executions.map((r) => r.id), ['n1', 'o2', 'n3', 'o4', 'o5'])
    assert.deepEqual(asked.sort(), ['new/v1/executions', 'old/v1/executions'])
  } finally {
    await pool.close()
  }
})
