/**
 * A CANCEL or KILL sent to a gateway while its executor is briefly unreachable (a network blip, the
 * executor restarting) is not lost: the gateway answers that it is pending, keeps it, and delivers
 * it once the executor answers again, or when it re-attaches to the execution. The gateway is
 * createGateway() hosted on Node (@hono/node-server) in this process, so its pool can be looked
 * into; the executor is the real Node server, behind a TCP proxy that plays the blip.
 */
import { serve, upgradeWebSocket, type ServerType } from '@hono/node-server'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { WebSocketServer } from 'ws'
import { createGateway, type Gateway } from '../../src/gateway/gateway.ts'
import type { PoolOptions } from '../../src/gateway/pool.ts'
import type { Logger } from '../../src/logger.ts'
import { TestClient } from '../helpers/client.ts'
import { post } from '../helpers/http.ts'
import { eventually, groupMembers, sleep } from '../helpers/proc.ts'
import { eventuallyAsync } from '../helpers/scenarios.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'
import { killOnExit } from '../helpers/tracker.ts'

interface HostedGateway {
  app: Gateway
  url: string
  wsUrl: string
  stop(): Promise<void>
}

/** The gateway's app on a free loopback port, forwarding to `executorUrl`. */
async function hostGateway(executorUrl: string, token: string, pool: PoolOptions['remote'] = {}, logger?: Logger): Promise<HostedGateway> {
  const app = createGateway({ executorUrl, tokens: token, upgradeWebSocket, runtime: 'node', pool: { remote: pool }, logger })
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', websocket: { server: new WebSocketServer({ noServer: true }) } }, () => resolve(s))
  })
  const { port } = server.address() as AddressInfo
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws/mcp`,
    async stop() {
      await app.shutdown()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('a CANCEL or KILL through the gateway while its executor is unreachable', () => {
  const token = randomBytes(24).toString('hex')
  let executor: RunningServer
  let proxy: TcpProxy
  let untrack: () => void
  const auth = () => ({ authorization: `Bearer ${token}` })
  /** The execution as the executor itself has it (not through the proxy). */
  const upstream = async (id: string) => (await (await fetch(`${executor.url}/v1/executions/${id}`, { headers: auth() })).json()) as { status: string; state: string; reason: string | null; pgid: number }

  before(async () => {
    executor = await startServer({ CC_EXECUTOR_AUTH_TOKEN: token })
    untrack = killOnExit(executor.child.pid!, { signal: 'SIGTERM' })
    proxy = await startTcpProxy(executor.port)
  })

  after(async () => {
    proxy.refusing = false
    await proxy.close()
    await executor.stop()
    untrack()
  })

  /** The network between gateway and executor goes down: live connections cut, new ones reset. */
  const blip = () => {
    proxy.refusing = true
    proxy.breakAll()
  }

  /** Runs `body` with a gateway and a WebSocket client of it; stops both, and ends the blip, however it goes. */
  const withGateway = async (body: (gateway: HostedGateway, client: TestClient) => Promise<void>, remote: PoolOptions['remote'] = {}) => {
    const gateway = await hostGateway(proxy.url, token, remote)
    const client = await TestClient.open(gateway.wsUrl)
    try {
      await body(gateway, client)
    } finally {
      proxy.refusing = false
      await client.close()
      await gateway.stop()
    }
  }

  /** Starts `command` detached through the gateway; resolves once it runs on the executor. */
  const startDetached = async (gateway: HostedGateway, command: string) => {
    const started = await post(`${gateway.url}/v1/executions`, { command, detach: true })
    assert.equal(started.status, 202)
    const { execution_id: id } = (await started.json()) as { execution_id: string }
    await eventuallyAsync(async () => (await upstream(id)).state === 'running', 10_000, 'running')
    return { id, pgid: (await upstream(id)).pgid }
  }

  /** The client hears the execution end `status`, its process group is gone, and the gateway keeps nothing for it. */
  const ended = async (gateway: HostedGateway, client: TestClient, id: string, pgid: number, status: string) => {
    const done = await client.completion(id, 20_000)
    assert.equal(done.params.status, status, JSON.stringify(done.params))
    assert.equal((await upstream(id)).status, status)
    assert.deepEqual(groupMembers(pgid), [], 'the sleep is gone')
    assert.equal(gateway.app.pool.pendingControls(), 0)
    return done.params
  }

  test('over WebSocket, a CANCEL of the current execution during a blip is answered "pending" and delivered once the executor answers again', () =>
    withGateway(async (gateway, client) => {
      const { execution_id: id, pgid } = await client.execute({ command: 'echo ready; sleep 311' })
      await eventually(() => client.output(id).includes('ready\n'), 10_000, 'ready')
      blip()
      const reply = await client.request('control', { type: 'CANCEL', reason: 'stopped during a blip' })
      assert.equal(reply.error, undefined, `the CANCEL is kept, not failed: ${JSON.stringify(reply.error)}`)
      assert.equal(reply.result.status, 'pending')
      assert.equal(reply.result.type, 'CANCEL')
      assert.equal(typeof reply.result.retry_until, 'number')
      assert.match(reply.result.message, /unreachable|unavailable/)
      assert.equal(gateway.app.pool.pendingControls(), 1)
      // Still running there: nothing reached it.
      assert.equal((await upstream(id)).state, 'running')
      await sleep(1000)
      proxy.refusing = false
      assert.equal((await ended(gateway, client, id, pgid, 'canceled')).reason, 'stopped during a blip')
    }))

  test('over HTTP, a KILL by id while the executor is down longer than the gateway follows its stream is answered 202 "pending", retried, and delivered when the executor is back', () =>
    withGateway(async (gateway) => {
      const { id, pgid } = await startDetached(gateway, 'echo ready; sleep 312')
      blip()
      const control = await post(`${gateway.url}/v1/executions/${id}/control`, { type: 'KILL' })
      const body = (await control.json()) as { status?: string; type?: string; error?: unknown }
      assert.equal(control.status, 202, JSON.stringify(body))
      assert.equal(body.status, 'pending')
      assert.equal(body.type, 'KILL')
      // A second one while the first waits is the same pending control, not a second one.
      const again = await post(`${gateway.url}/v1/executions/${id}/control`, { type: 'KILL' })
      assert.equal(again.status, 202, await again.clone().text())
      assert.equal(((await again.json()) as { status: string }).status, 'pending')
      assert.equal(gateway.app.pool.pendingControls(), 1)
      // Longer than the gateway's reconnection attempts (about 3 s): its copy gives the stream up.
      await sleep(4500)
      assert.equal((await upstream(id)).state, 'running', 'nothing reached the executor while it was unreachable')
      proxy.refusing = false
      await eventuallyAsync(async () => (await upstream(id)).status === 'killed', 15_000, 'killed on the executor')
      assert.deepEqual(groupMembers(pgid), [], 'the sleep is gone')
      await eventually(() => gateway.app.pool.pendingControls() === 0, 5000, 'no pending control left')
      // Through the gateway, the record is the executor's again.
      await eventuallyAsync(async () => ((await (await fetch(`${gateway.url}/v1/executions/${id}`)).json()) as { status: string }).status === 'killed', 10_000, 'killed through the gateway')
    }))

  test('a pending CANCEL is delivered when the gateway re-attaches to the execution, even before its next retry is due', () =>
    // Retries far apart: only the re-attachment can deliver it within the test.
    withGateway(async (gateway, client) => {
      const { id, pgid } = await startDetached(gateway, 'echo ready; sleep 313')
      blip()
      const reply = await client.request('control', { type: 'CANCEL', execution_id: id })
      assert.equal(reply.result?.status, 'pending', JSON.stringify(reply))
      await sleep(4500)
      proxy.refusing = false
      await sleep(500)
      assert.equal((await upstream(id)).state, 'running', 'not delivered before the re-attachment')
      const attached = await client.request('attach', { execution_id: id })
      assert.equal(attached.error, undefined, JSON.stringify(attached.error))
      await ended(gateway, client, id, pgid, 'canceled')
    }, { controlRetry: { delayMs: 60_000, maxDelayMs: 60_000 } }))

  /** A logger that keeps the gateway's warnings. */
  const warnings = () => {
    const lines: { fields: Record<string, unknown>; message?: string }[] = []
    const ignore = () => {}
    const logger: Logger = { debug: ignore, info: ignore, error: ignore, warn: (fields, message) => void lines.push({ fields, message }) }
    return { lines, logger }
  }

  /** Starts `command` detached, cuts the network and sends a CANCEL by id: answered 202 "pending". */
  const pendingCancel = async (gateway: HostedGateway, command: string) => {
    const { id } = await startDetached(gateway, command)
    blip()
    const control = await post(`${gateway.url}/v1/executions/${id}/control`, { type: 'CANCEL' })
    assert.equal(control.status, 202, await control.text())
    return id
  }

  /** Ends what a test left running on the executor, straight to it. */
  const killUpstream = async (id: string) => {
    await fetch(`${executor.url}/v1/executions/${id}/control`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{"type":"KILL"}' })
    await eventuallyAsync(async () => (await upstream(id)).state === 'exited', 10_000, 'cleaned up')
  }

  test('a pending CANCEL given up after its retries is not delivered later, and the gateway logs that it dropped it', async () => {
    const { lines, logger } = warnings()
    const gateway = await hostGateway(proxy.url, token, { controlRetry: { delayMs: 100, maxDelayMs: 100, attempts: 3 } }, logger)
    let id: string | undefined
    try {
      id = await pendingCancel(gateway, 'echo ready; sleep 315')
      await eventually(() => gateway.app.pool.pendingControls() === 0, 5000, 'given up')
      const dropped = lines.find((l) => l.fields.execution_id === id)
      assert.ok(dropped, `a warning names the execution: ${JSON.stringify(lines)}`)
      const { error, ...fields } = dropped.fields
      assert.deepEqual(fields, { execution_id: id, type: 'CANCEL', executor: proxy.url, retries: 3, why: 'retries exhausted' })
      assert.equal(typeof error, 'string', 'why the last attempt failed')
      assert.match(dropped.message ?? '', /CANCEL kept for an unreachable executor was dropped \(3 retries failed\); the execution may still be running/)
      proxy.refusing = false
      await sleep(1000)
      assert.equal((await upstream(id)).state, 'running', 'a dropped CANCEL is not sent later')
    } finally {
      proxy.refusing = false
      await gateway.stop()
      if (id) await killUpstream(id)
    }
  })

  test('a pending control goes when the gateway stops: no retry outlives it, and the gateway logs that it dropped it', async () => {
    const { lines, logger } = warnings()
    const gateway = await hostGateway(proxy.url, token, {}, logger)
    let id: string | undefined
    try {
      id = await pendingCancel(gateway, 'echo ready; sleep 314')
      assert.equal(gateway.app.pool.pendingControls(), 1)
    } finally {
      await gateway.stop()
      proxy.refusing = false
    }
    assert.equal(gateway.app.pool.pendingControls(), 0)
    // 'closed while sending' if a retry happened to be on its way at that moment.
    assert.deepEqual(lines.filter((l) => l.fields.execution_id === id).map((l) => String(l.fields.why).replace(' while sending', '')), ['closed'], JSON.stringify(lines))
    const accepted = proxy.accepted
    await sleep(1500)
    assert.equal(proxy.accepted, accepted, 'no request after the gateway stopped')
    assert.equal((await upstream(id!)).state, 'running', 'the stopped gateway delivered nothing')
    await killUpstream(id!)
  })
})
