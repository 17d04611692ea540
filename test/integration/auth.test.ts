import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import WebSocket from 'ws'
import { authenticate, constantTimeEqual, tokenEntries } from '../../src/index.ts'
import { TestClient } from '../helpers/client.ts'
import { eventually } from '../helpers/proc.ts'
import { ROOT, startServer, type RunningServer } from '../helpers/server.ts'

const TOKEN = 'tok-alpha-0123456789abcdef'
const OTHER = 'tok-bravo-0123456789abcdef'

let server: RunningServer
before(async () => {
  server = await startServer({ CC_EXECUTOR_AUTH_TOKEN: `${TOKEN},${OTHER}` })
})
after(async () => {
  await server.stop()
})

/** The HTTP status of a refused WebSocket upgrade, or 101 when it was accepted. */
function upgradeStatus(url: string, options: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<{ status: number; protocol?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options)
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 })
      ws.terminate()
    })
    ws.once('open', () => {
      resolve({ status: 101, protocol: ws.protocol })
      ws.close()
    })
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error)
    })
  })
}

describe('authentication', () => {
  test('HTTP: a missing token gets 401, a wrong one 403, a right one (either header) passes; /healthz stays open', async () => {
    const missing = await fetch(`${server.url}/v1/executions`)
    assert.equal(missing.status, 401)
    assert.equal((await missing.json()).error.code, -32004)
    assert.equal((await fetch(`${server.url}/health`)).status, 401)
    assert.equal((await fetch(`${server.url}/v1/executions`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 403)
    assert.equal((await fetch(`${server.url}/v1/executions`, { headers: { 'x-api-key': TOKEN.slice(0, -1) } })).status, 403)
    assert.equal((await fetch(`${server.url}/v1/executions`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200)
    assert.equal((await fetch(`${server.url}/v1/executions`, { headers: { 'x-api-key': OTHER } })).status, 200)
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200)
    // Only /healthz itself: an execution whose id is "healthz" is as closed as any other.
    assert.equal((await fetch(`${server.url}/v1/executions/healthz`)).status, 401)
    assert.equal((await fetch(`${server.url}/v1/executions/healthz/events`)).status, 401)
  })

  test('WebSocket: refused before the upgrade (401 missing, 403 wrong); Bearer, X-API-Key and the bearer subprotocol connect', async () => {
    assert.equal((await upgradeStatus(server.wsUrl)).status, 401)
    assert.equal((await upgradeStatus(server.wsUrl, { headers: { authorization: 'Bearer nope-nope-nope-nope' } })).status, 403)
    assert.equal((await upgradeStatus(server.wsUrl, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 101)
    assert.equal((await upgradeStatus(server.wsUrl, { headers: { 'x-api-key': OTHER } })).status, 101)
    const browser = await upgradeStatus(server.wsUrl, {}, ['bearer', `bearer.${TOKEN}`])
    assert.equal(browser.status, 101)
    assert.equal(browser.protocol, 'bearer', 'the server selects "bearer", never echoing the token')
    assert.equal((await upgradeStatus(server.wsUrl, {}, ['bearer', 'bearer.wrong-token-0123456'])).status, 403)
    // The form that holds any token (the console's): its UTF-8 in unpadded base64url.
    const encoded = Buffer.from(TOKEN).toString('base64url')
    assert.equal((await upgradeStatus(server.wsUrl, {}, ['bearer', `base64url.bearer.${encoded}`])).status, 101)
    assert.equal((await upgradeStatus(server.wsUrl, {}, ['bearer', `base64url.bearer.${Buffer.from('wrong-token-0123456').toString('base64url')}`])).status, 403)
    assert.equal((await upgradeStatus(server.wsUrl, {}, ['bearer', 'base64url.bearer.!not-base64!'])).status, 403)
  })

  test('an authenticated session works, and its records carry the token id, not the token', async () => {
    const client = await TestClient.open(server.wsUrl, { headers: { authorization: `Bearer ${TOKEN}` } })
    const { id } = await client.run({ command: 'echo ok' })
    const status = await client.request('status', { execution_id: id })
    assert.match(status.result.token_id, /^tok_[0-9a-f]{8}$/)
    assert.equal(JSON.stringify(status.result).includes(TOKEN), false)
    await client.close()
    assert.equal(server.logs.some((l) => JSON.stringify(l).includes(TOKEN) || JSON.stringify(l).includes(OTHER)), false, 'no token in any log line')
  })

  test('the compare is constant-time over SHA-256 digests and checks every configured token', async () => {
    const a = new Uint8Array(32).fill(7)
    const b = new Uint8Array(32).fill(7)
    assert.equal(constantTimeEqual(a, b), true)
    b[31] = 8
    assert.equal(constantTimeEqual(a, b), false)
    assert.equal(constantTimeEqual(a, a.subarray(0, 31)), false)
    const entries = await tokenEntries([TOKEN, OTHER])
    assert.ok(entries.every((e) => e.digest.length === 32), 'tokens of any length compare as equal-length digests')
    assert.equal((await authenticate(entries, OTHER))?.id, entries[1].id)
    assert.equal(await authenticate(entries, TOKEN + 'x'), undefined)
    assert.equal(await authenticate(entries, ''), undefined)
  })
})

describe('exposure', () => {
  const main = ['--import', 'tsx', 'adapters/node/main.ts']
  test('the server refuses a non-loopback HOST without a token (exit 2, one line), unless --insecure', async () => {
    const refused = spawnSync(process.execPath, main, { cwd: ROOT, env: { ...process.env, HOST: '0.0.0.0', PORT: '0' }, encoding: 'utf8' })
    assert.equal(refused.status, 2)
    assert.match(refused.stderr.trim(), /refusing to serve HOST=0\.0\.0\.0 without a token/)
    assert.equal(refused.stderr.trim().split('\n').length, 1)
    const insecure = await startServer({ HOST: '0.0.0.0' }, ['--insecure'])
    try {
      await eventually(() => insecure.logs.some((l) => l.level === 40 && String(l.msg).includes('NO AUTHENTICATION')), 2000, 'a loud warning')
    } finally {
      await insecure.stop()
    }
    const shortToken = spawnSync(process.execPath, main, { cwd: ROOT, env: { ...process.env, CC_EXECUTOR_AUTH_TOKEN: 'short', PORT: '0' }, encoding: 'utf8' })
    assert.equal(shortToken.status, 2)
    assert.match(shortToken.stderr, /at least 16 characters/)
  })
})

describe('web pages on loopback (Host and Origin)', () => {
  let open: RunningServer
  before(async () => {
    open = await startServer()
  })
  after(async () => {
    await open.stop()
  })

  /** A raw POST: fetch would set Host itself, and a page's "simple" request is text/plain. */
  const post = (path: string, headers: Record<string, string>, body: string) =>
    new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${open.url}${path}`, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers } }, (res) => {
        res.resume()
        resolve(res.statusCode!)
      })
      req.on('error', reject)
      req.end(body)
    })

  test('a WebSocket from another origin is refused before the upgrade, on /ws/mcp and /ws/claude; the own origin and no origin connect', async () => {
    const ws = open.wsUrl
    assert.equal((await upgradeStatus(ws, { origin: 'https://evil.example' })).status, 403)
    assert.equal((await upgradeStatus(ws.replace('/ws/mcp', '/ws/claude'), { origin: 'https://evil.example' })).status, 403)
    assert.equal((await upgradeStatus(ws, { headers: { host: `evil.example:${open.port}` } })).status, 403)
    assert.equal((await upgradeStatus(ws, { origin: `http://127.0.0.1:${open.port}` })).status, 101)
    assert.equal((await upgradeStatus(ws)).status, 101)
  })

  test('a cross-site or rebound POST to /v1 runs nothing (403); without an Origin it runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-origin-'))
    try {
      const marker = (name: string) => JSON.stringify({ argv: ['touch', join(dir, name)], detach: true })
      assert.equal(await post('/v1/executions', { origin: 'http://evil.example' }, marker('from-origin')), 403)
      assert.equal(await post('/v1/executions', { host: `evil.example:${open.port}` }, marker('from-rebound-host')), 403)
      assert.equal(await post('/v1/executions', {}, marker('from-curl')), 202)
      await eventually(() => existsSync(join(dir, 'from-curl')))
      assert.deepEqual(readdirSync(dir), ['from-curl'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
