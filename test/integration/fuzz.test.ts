/**
 * 10,000 random and mutated frames and bodies, over WebSocket and HTTP, against the real server.
 * Each must be answered (or the socket closed) as PROTOCOL.md says, the server must stay up, and
 * none may start a process. Well-formed executes cannot be ruled out among mutations (a flipped
 * character can make a valid command), so the server runs with an allow-list naming a program that
 * does not exist: every execute that gets past the schema is refused with -32001, and the metrics
 * prove that nothing ran.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { TestClient, type Frame } from '../helpers/client.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'

const WS_MAX = 65_536
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 8_000)
const BODIES = Number(process.env.FUZZ_BODIES ?? 2_000)

/** mulberry32: a small seeded PRNG, so that a failure can be replayed with the printed seed. */
function prng(seed: number) {
  return () => {
    seed |= 0
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000)

function generator(random: () => number) {
  const int = (n: number) => Math.floor(random() * n)
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]
  const methods = ['execute', 'control', 'input', 'attach', 'detach', 'status', 'list', 'ping', 'pong', 'exec', 'EXECUTE', '', 'constructor', '__proto__', 'toString']
  const values = (): unknown =>
    pick([
      () => null,
      () => true,
      () => int(2 ** 31) - 2 ** 30,
      () => 1e308 * (random() < 0.5 ? 10 : 1),
      () => -0,
      () => 'x'.repeat(int(200)),
      () => '\u0000\uD800\uFFFF',
      () => [values(), values()],
      () => ({ [pick(['command', 'argv', 'type', 'execution_id', 'data', 'timeout', 'env', 'stdin', 'cwd'])]: values() }),
    ])()
  const params = (): unknown =>
    pick([
      () => ({ command: values(), argv: values() }),
      () => ({ command: 'true', timeout: pick([-1, 0, 'soon', 1e309, null]) }),
      () => ({ argv: pick(['ls', [], [1], [''], {}]) }),
      () => ({ command: 'true', env: pick([{ A: 1 }, ['A=1'], { 'A=B': 'x' }, 'A=1']) }),
      () => ({ command: 'true', backpressure: 'maybe' }),
      () => ({ type: pick(['PAUSE', 'pause', 'DESTROY', 1, null]), execution_id: values() }),
      () => ({ execution_id: pick(['../../etc/passwd', '', 'x'.repeat(200), 'a/b', 1]), after_seq: values() }),
      () => values(),
      () => pick([[], 'params', 42]),
    ])()
  const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)
  const envelope = () => {
    const e: Record<string, unknown> = {}
    if (random() < 0.9) e.jsonrpc = random() < 0.85 ? '2.0' : pick(['1.0', 2, null])
    if (random() < 0.9) e.method = random() < 0.85 ? pick(methods) : values()
    if (random() < 0.8) e.params = params()
    if (random() < 0.8) e.id = pick([int(1e6), `id-${int(1e6)}`, null, {}, [], 1.5, true])
    return e
  }
  const mutate = (text: string) => {
    const chars = [...text]
    for (let n = int(4) + 1; n > 0; n--) {
      const at = int(chars.length + 1)
      const op = int(3)
      if (op === 0) chars.splice(at, 1)
      else if (op === 1) chars.splice(at, 0, String.fromCharCode(int(128)))
      else chars.splice(at, 1, pick(['{', '}', '"', ',', ':', '[', ']', '\\', '0']))
    }
    return chars.join('')
  }
  return (): string | Uint8Array =>
    pick<() => string | Uint8Array>([
      () => JSON.stringify(envelope()),
      () => JSON.stringify(envelope()),
      () => mutate(JSON.stringify(envelope())),
      () => mutate('{"jsonrpc":"2.0","id":1,"method":"execute","params":{"command":"true"}}'),
      () => JSON.stringify([envelope(), envelope()]),
      () => nested(int(5000) + 1),
      () => `{"jsonrpc":"2.0","id":${'9'.repeat(int(400) + 1)},"method":"ping"}`,
      () => String.fromCharCode(...Array.from({ length: int(64) }, () => int(65536))),
      () => new Uint8Array(Array.from({ length: int(64) + 1 }, () => int(256))),
      () => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'execute', params: { command: 'x'.repeat(WS_MAX) } }),
    ])()
}

type Expectation = { kind: 'error-null' } | { kind: 'reply'; id: string | number | null } | { kind: 'none' } | { kind: 'close' }

/** What PROTOCOL.md says the server does with this frame. */
function expectation(frame: string | Uint8Array): Expectation {
  if (typeof frame !== 'string') return { kind: 'error-null' }
  if (Buffer.byteLength(frame) > WS_MAX) return { kind: 'close' }
  let json: unknown
  try {
    json = JSON.parse(frame)
  } catch {
    return { kind: 'error-null' }
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { kind: 'error-null' }
  const e = json as Record<string, unknown>
  const idOk = e.id === undefined || e.id === null || typeof e.id === 'string' || (typeof e.id === 'number' && Number.isFinite(e.id))
  const paramsOk = e.params === undefined || (typeof e.params === 'object' && e.params !== null)
  const valid = e.jsonrpc === '2.0' && typeof e.method === 'string' && e.method !== '' && idOk && paramsOk
  if (!valid) {
    const id = typeof e.id === 'string' || (typeof e.id === 'number' && Number.isFinite(e.id)) ? e.id : null
    return id === null ? { kind: 'error-null' } : { kind: 'reply', id }
  }
  return e.id === undefined ? { kind: 'none' } : { kind: 'reply', id: e.id as string | number | null }
}

const ALLOWED_CODES = new Set([-32700, -32600, -32601, -32602, -32001, -32002])

let server: RunningServer
before(async () => {
  server = await startServer({ WS_MAX_SIZE: String(WS_MAX), ALLOWED_COMMANDS: 'no-such-program-for-fuzzing' })
})
after(async () => {
  await server.stop()
})

test(`${FRAMES} fuzzed WebSocket frames and ${BODIES} HTTP bodies: every one answered as the protocol says, nothing spawned (seed ${SEED})`, async () => {
  const next = generator(prng(SEED))
  let client = await TestClient.open(server.wsUrl)
  let sentinel = 0
  const counts = { answered: 0, notifications: 0, closed: 0 }
  for (let i = 0; i < FRAMES; i++) {
    const frame = next()
    const expected = expectation(frame)
    client.frames.length = 0 // each frame is judged on what follows it
    client.sendRaw(frame instanceof Uint8Array ? Buffer.from(frame) : frame)
    if (expected.kind === 'close') {
      assert.equal((await client.closed).code, 1009, `frame ${i}: an oversized frame closes with 1009`)
      counts.closed += 1
      client = await TestClient.open(server.wsUrl)
      continue
    }
    // A ping after each frame: its pong proves the session still serves, and bounds the wait for a reply.
    const id = `sentinel-${sentinel++}`
    client.sendRaw(JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' }))
    await client.waitFor((f) => f.id === id, 5000)
    const replies = (): Frame[] => client.frames.filter((f) => f.id !== id && f.method !== 'heartbeat')
    if (expected.kind === 'none') {
      assert.deepEqual(replies(), [], `frame ${i} is a notification and gets no reply: ${String(frame).slice(0, 200)}`)
      counts.notifications += 1
      continue
    }
    const reply =
      expected.kind === 'reply'
        ? await client.waitFor((f) => f.id === expected.id && f.id !== id, 5000)
        : await client.waitFor((f) => f.error !== undefined && f.id === null, 5000)
    if (reply.error) assert.ok(ALLOWED_CODES.has(reply.error.code), `frame ${i}: code ${reply.error.code} for ${String(frame).slice(0, 200)}`)
    counts.answered += 1
  }
  await client.close()

  const bodies = generator(prng(SEED + 1))
  const routes = ['/v1/executions', '/v1/executions/x/control', '/v1/executions/x/input', '/v1/executions/../../etc/passwd/control']
  for (let i = 0; i < BODIES; i++) {
    const body = bodies()
    const response = await fetch(`${server.url}${routes[i % routes.length]}`, {
      method: 'POST',
      headers: { 'content-type': i % 3 === 0 ? 'text/plain' : 'application/json' },
      body: typeof body === 'string' ? body : Buffer.from(body),
    })
    assert.ok([400, 403, 404, 413].includes(response.status), `body ${i}: HTTP ${response.status} for ${String(body).slice(0, 200)}`)
    const payload = await response.json()
    assert.ok(ALLOWED_CODES.has(payload.error.code) || response.status === 413, `body ${i}: ${JSON.stringify(payload)}`)
  }

  assert.equal(server.child.exitCode, null, 'the server is still running')
  assert.deepEqual(await (await fetch(`${server.url}/healthz`)).json(), { status: 'ok' })
  const metrics = await (await fetch(`${server.url}/metrics`)).text()
  assert.equal(/^cc_executor_executions_total\{/m.test(metrics), false, 'no execution ever finished: none started')
  const list = await (await fetch(`${server.url}/v1/executions`)).json()
  assert.deepEqual(list.executions, [], 'no execution was ever started')
  assert.ok(counts.answered > FRAMES / 2 && counts.closed > 0 && counts.notifications > 0, JSON.stringify(counts))
})
