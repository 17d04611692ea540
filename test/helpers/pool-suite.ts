/**
 * A gateway over a pool: three Node executors on loopback (MAX_EXECUTIONS 14, 14 and 2, a token
 * each), the gateway (`npm run start:<runtime>`) with EXECUTOR_URLS and one token per executor.
 * Placement by free capacity, routing by id to the owner, an owner killed and restarted, and bad
 * configurations and executors. Started once per file, stopped in `after`, failure or not.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { tagOf } from '../../src/gateway/config.ts'
import { TestClient } from './client.ts'
import { freePort } from './net.ts'
import { gatewayEnv, requireBinary, startGateway, type GatewayRuntime, type RunningGateway } from './gateway.ts'
import { readNdjson, post } from './http.ts'
import { eventuallyAsync } from './scenarios.ts'
import { ROOT, startServer, type RunningServer } from './server.ts'
import { killOnExit } from './tracker.ts'

const CAPACITY = [14, 14, 2]
const LONG = 'sleep 300'

interface Member {
  server: RunningServer
  token: string
  untrack: () => void
}

const json = async (response: Response) => ({ status: response.status, headers: response.headers, body: (await response.json()) as any })

export function poolSuite(runtime: GatewayRuntime): void {
  describe(`a pool of three Node executors behind the ${runtime} gateway`, () => {
    const members: Member[] = []
    let gateway: RunningGateway | undefined
    const ready = () => {
      if (!gateway || members.length !== 3) throw new Error(`the ${runtime} gateway or its executors did not start (see the before hook's error)`)
      return gateway
    }
    const ownerOf = (id: string) => members.findIndex((m) => id.startsWith(`${tagOf(m.server.url)}.`))
    const health = async (m: Member) => (await fetch(`${m.server.url}/health`, { headers: { authorization: `Bearer ${m.token}` } })).json() as Promise<{ running_executions: number; max_executions: number | null }>
    const cancelAll = async (ids: string[]) => {
      for (const id of ids) await post(`${ready().url}/v1/executions/${id}/control`, { type: 'CANCEL' }).then((r) => r.body?.cancel())
    }
    const start = async (m: number, extra: Record<string, string> = {}) => {
      const token = members[m]?.token ?? randomBytes(24).toString('hex')
      const server = await startServer({ CC_EXECUTOR_AUTH_TOKEN: token, MAX_EXECUTIONS: String(CAPACITY[m]), ...extra })
      members[m] = { server, token, untrack: killOnExit(server.child.pid!, { signal: 'SIGTERM' }) }
    }

    before(
      async () => {
        requireBinary(runtime)
        for (let m = 0; m < 3; m++) await start(m)
        gateway = await startGateway(runtime, { executorUrls: members.map((m) => m.server.url).join(','), token: members.map((m) => m.token).join(',') })
      },
      { timeout: 120_000 },
    )

    after(
      async () => {
        await gateway?.stop()
        for (const m of members) {
          await m.server.stop()
          m.untrack()
        }
      },
      { timeout: 30_000 },
    )

    test('30 detached executions spread by free capacity (the small executor never runs more than 2); one more: 503 with Retry-After; all cancelled by id', async () => {
      const url = ready().url
      const started = await Promise.all(Array.from({ length: 30 }, () => post(`${url}/v1/executions`, { command: LONG, detach: true }).then(json)))
      assert.deepEqual(started.map((s) => s.status), Array(30).fill(202), JSON.stringify(started.find((s) => s.status !== 202)?.body))
      const ids = started.map((s) => s.body.execution_id as string)
      assert.ok(ids.every((id) => ownerOf(id) >= 0), 'every id names an executor of the pool')
      assert.deepEqual(await Promise.all(members.map(async (m) => (await health(m)).running_executions)), CAPACITY)
      // The gateway's record says where each one runs, and that executor has it.
      for (const id of ids.slice(0, 5)) {
        const { body } = await json(await fetch(`${url}/v1/executions/${id}`))
        const owner = members.find((m) => m.server.url === body.executor)!
        assert.equal((await fetch(`${owner.server.url}/v1/executions/${id}`, { headers: { authorization: `Bearer ${owner.token}` } })).status, 200)
      }
      const full = await json(await post(`${url}/v1/executions`, { command: 'true', detach: true }))
      assert.equal(full.status, 503)
      assert.equal(full.body.error.code, -32003)
      assert.ok(Number(full.headers.get('retry-after')) >= 1, 'Retry-After')
      const metrics = await (await fetch(`${url}/metrics`)).text()
      const placed = [...metrics.matchAll(/^cc_gateway_placements_total\{executor="([^"]+)"\} (\d+)$/gm)].map((m) => Number(m[2]))
      assert.equal(placed.length, 3)
      assert.ok(placed.reduce((a, b) => a + b) >= 30, metrics)
      assert.ok(placed[2] >= 2)
      await cancelAll(ids)
      for (const m of members) await eventuallyAsync(async () => (await health(m)).running_executions === 0, 20_000, `${m.server.url} idle`)
    })

    test('by id through the gateway: input, control, attach with replay, status and verify reach the executor that runs it', async () => {
      const url = ready().url
      const client = await TestClient.open(ready().wsUrl)
      const watcher = await TestClient.open(ready().wsUrl)
      try {
        const { execution_id: id } = await client.execute({ command: 'read line; echo "got $line"; sleep 300', stdin: 'pipe' })
        const owner = members[ownerOf(id)]
        assert.ok(owner, `${id} names an executor of the pool`)
        const input = await watcher.request('input', { execution_id: id, data: 'hello\n' })
        assert.equal(input.result?.written, 6, JSON.stringify(input.error))
        await client.waitFor((f) => f.method === 'process.output' && f.params.data === 'got hello\n')
        const attached = await watcher.request('attach', { execution_id: id, after_seq: 0 })
        assert.equal(attached.result?.status, 'attached', JSON.stringify(attached.error))
        const cancel = await watcher.request('control', { execution_id: id, type: 'CANCEL' })
        assert.ok(cancel.result, JSON.stringify(cancel.error))
        const done = await watcher.completion(id, 20_000)
        assert.equal(done.params.status, 'canceled')
        assert.deepEqual(watcher.events(id).map((e) => e.params.seq), watcher.events(id).map((_, i) => i + 1), 'the replay starts at seq 1, no gap')
        const status = await watcher.request('status', { execution_id: id })
        assert.equal(status.result.executor, owner.server.url)
        const verified = await json(await fetch(`${url}/v1/executions/${id}/verify`))
        assert.equal(verified.body.verified, true, JSON.stringify(verified.body))
        // The executor's own record: the same id, the same output.
        const upstream = await readNdjson(await fetch(`${owner.server.url}/v1/executions/${id}/events`, { headers: { authorization: `Bearer ${owner.token}` } }))
        assert.equal(upstream.find((e) => e.method === 'process.output')?.params.data, 'got hello\n')
      } finally {
        await client.close()
        await watcher.close()
      }
    })

    test('ids the gateway did not make: one started on an executor directly is found and replayed; one naming no executor of the pool, or none, is a clear 404; a detached one of a chosen id is followed past its request', async () => {
      const url = ready().url
      const direct = members[1]
      const started = await post(`${direct.server.url}/v1/executions`, { command: 'echo direct', execution_id: 'direct-1' }, { authorization: `Bearer ${direct.token}` })
      await started.text()
      const record = await json(await fetch(`${url}/v1/executions/direct-1`))
      assert.equal(record.status, 200, JSON.stringify(record.body))
      assert.equal(record.body.status, 'completed')
      const events = await readNdjson(await fetch(`${url}/v1/executions/direct-1/events`))
      assert.equal(events.find((e) => e.method === 'process.output')?.params.data, 'direct\n')
      const listed = await json(await fetch(`${url}/v1/executions`))
      assert.deepEqual(listed.body.unavailable, [])
      assert.equal(listed.body.executions.find((r: any) => r.id === 'direct-1')?.executor, direct.server.url)
      const foreign = await json(await fetch(`${url}/v1/executions/0badc0de.5f0c6a4e-8d44-4b1a-9d55-0c8b0e0f0a11`))
      assert.equal(foreign.status, 404)
      assert.match(foreign.body.error.message, /names executor 0badc0de, which is not in this gateway's pool/)
      assert.equal((await fetch(`${url}/v1/executions/no-such-id`)).status, 404)
      // A client-chosen id through the gateway runs somewhere and is found there; detached, it outlives
      // the request that started it (a Worker's I/O ends with its request) and is followed to its end.
      const chosen = await json(await post(`${url}/v1/executions`, { command: 'sleep 1; echo chosen', execution_id: 'chosen-1', detach: true }))
      assert.equal(chosen.status, 202)
      await eventuallyAsync(async () => (await json(await fetch(`${url}/v1/executions/chosen-1`))).body.status === 'completed', 10_000, 'chosen-1 completed')
      const chosenEvents = await readNdjson(await fetch(`${url}/v1/executions/chosen-1/events`))
      assert.equal(chosenEvents.find((e) => e.method === 'process.output')?.params.data, 'chosen\n')
    })

    test('SIGKILL one executor: its executions answer 503 naming it, the others and new placements carry on, list marks it unavailable; restarted, its finished ones are readable again', async () => {
      const url = ready().url
      // Finished executions on every executor, and one running on each of the two big ones.
      const finished: string[] = []
      for (let i = 0; i < 9; i++) {
        const response = await post(`${url}/v1/executions`, { command: `echo finished ${i}` })
        finished.push(response.headers.get('x-execution-id')!)
        await response.text()
      }
      const running = await Promise.all([0, 1].map(async () => (await json(await post(`${url}/v1/executions`, { command: LONG, detach: true }))).body.execution_id as string))
      // One that runs one of them and finished one too: placement goes by load, and a load the pool
      // last saw (a detached run of the test before, whose end only the next health check tells on
      // Workers) may keep all nine finished ones off a member.
      const runsAndFinished = (m: (typeof members)[number]) => [running, finished].every((ids) => ids.some((id) => ownerOf(id) === members.indexOf(m)))
      const victim = members.find(runsAndFinished) ?? members.find((m) => running.some((id) => ownerOf(id) === members.indexOf(m)))!
      const v = members.indexOf(victim)
      const victimFinished = finished.find((id) => ownerOf(id) === v)
      const victimRunning = running.find((id) => ownerOf(id) === v)!
      const survivorRunning = running.find((id) => ownerOf(id) !== v)
      assert.ok(victimFinished, `an execution finished on ${victim.server.url}`)
      victim.server.child.kill('SIGKILL')
      await victim.server.stop()

      const named = new RegExp(victim.server.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      await eventuallyAsync(async () => (await fetch(`${url}/v1/executions/${victimFinished}`)).status === 503, 15_000, 'the finished one answers 503')
      const down = await json(await fetch(`${url}/v1/executions/${victimFinished}`))
      assert.match(down.body.error.message, named)
      const control = await json(await post(`${url}/v1/executions/${victimRunning}/control`, { type: 'CANCEL' }))
      if (runtime === 'workerd') {
        // A Worker keeps nothing past its request: the CANCEL fails, naming the executor.
        assert.equal(control.status, 503)
        assert.match(control.body.error.message, named)
      } else {
        // Kept, and sent again once the executor answers (docs/protocol.md, control).
        assert.equal(control.status, 202, JSON.stringify(control.body))
        assert.equal(control.body.status, 'pending')
        assert.match(control.body.message, named)
      }
      const listed = await json(await fetch(`${url}/v1/executions`))
      assert.deepEqual(listed.body.unavailable, [victim.server.url])
      assert.ok(listed.body.executions.length > 0 && listed.body.executions.every((r: any) => r.executor !== victim.server.url))
      // New executions go to the others, and the others' executions answer.
      for (let i = 0; i < 4; i++) {
        const response = await post(`${url}/v1/executions`, { command: `echo after ${i}` })
        assert.equal(response.status, 200)
        assert.notEqual(ownerOf(response.headers.get('x-execution-id')!), v)
        assert.equal((await readNdjson(response)).at(-1)?.params.status, 'completed')
      }
      if (survivorRunning) {
        assert.equal((await json(await fetch(`${url}/v1/executions/${survivorRunning}`))).body.status, 'running')
        await cancelAll([survivorRunning])
      }
      const metrics = await (await fetch(`${url}/metrics`)).text()
      assert.match(metrics, new RegExp(`^cc_gateway_executor_up\\{executor="${named.source}"\\} 0$`, 'm'))

      // Back on its port and data directory: its file store has what it ran.
      members[v] = { ...victim, server: await startServer({ CC_EXECUTOR_AUTH_TOKEN: victim.token, MAX_EXECUTIONS: String(CAPACITY[v]), PORT: String(victim.server.port), CC_EXECUTOR_DATA_DIR: victim.server.dataDir }) }
      await eventuallyAsync(async () => (await fetch(`${url}/v1/executions/${victimFinished}`)).status === 200, 15_000, 'the finished one readable again')
      const again = await json(await fetch(`${url}/v1/executions/${victimFinished}`))
      assert.equal(again.body.status, 'completed')
      const replay = await readNdjson(await fetch(`${url}/v1/executions/${victimFinished}/events`))
      assert.match(replay.find((e) => e.method === 'process.output')?.params.data, /^finished \d\n$/)
      await eventuallyAsync(async () => (await json(await fetch(`${url}/v1/executions`))).body.unavailable.length === 0, 15_000, 'list complete again')
      // What the kill cut is over, as the executor's list says (interrupted by the restart).
      await eventuallyAsync(
        async () => (await json(await fetch(`${url}/v1/executions`))).body.executions.find((r: any) => r.id === victimRunning)?.state === 'exited',
        15_000,
        'the execution the kill cut is over',
      )
    })

    test('the gateway\'s own clients: with CC_EXECUTOR_AUTH_TOKEN only they get in; reachable from other hosts without one it refuses to serve', async () => {
      const clientToken = 'a-client-token-of-the-gateway-0001'
      const guarded = await startGateway(runtime, { executorUrls: members[0].server.url, token: members[0].token, clientToken })
      try {
        const open = await post(`${guarded.url}/v1/executions`, { command: 'echo nobody' })
        assert.equal(open.status, 401, 'no token: refused before anything is forwarded')
        const wrong = await fetch(`${guarded.url}/v1/executions`, { headers: { authorization: `Bearer ${members[0].token}` } })
        assert.equal(wrong.status, 403, 'the executors\' token is not the gateway\'s')
        const response = await fetch(`${guarded.url}/v1/executions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${clientToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ command: 'echo let in' }),
        })
        assert.equal(response.status, 200)
        assert.equal((await readNdjson(response)).at(-1)?.params.status, 'completed')
      } finally {
        await guarded.stop()
      }
      const refused = await misconfigured(runtime, { EXECUTOR_URLS: members[0].server.url, HOST: '0.0.0.0' })
      assert.match(refused, /without a token of its own: set CC_EXECUTOR_AUTH_TOKEN/)
    })

    test('bad input: a malformed EXECUTOR_URLS is refused with a message naming it; executors that answer garbage or hang are marked unhealthy, the healthy one carries on', async () => {
      // Garbage: an HTTP server whose every answer is not ours. Hang: one that never answers.
      const garbage = createServer((_req, res) => res.end('<html>not an executor</html>'))
      const hang: Server = createServer(() => {})
      for (const s of [garbage, hang]) {
        s.listen(0, '127.0.0.1')
        await once(s, 'listening')
      }
      const at = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`
      let second: RunningGateway | undefined
      try {
        const bad = await misconfigured(runtime, { EXECUTOR_URLS: 'http://127.0.0.1:1,,ftp://x' })
        assert.match(bad, /EXECUTOR_URLS: entry 2 is empty/)
        const good = members[0]
        second = await startGateway(runtime, { executorUrls: [good.server.url, at(garbage), at(hang)].join(','), token: `${good.token},x,y` })
        for (let i = 0; i < 5; i++) {
          const response = await post(`${second.url}/v1/executions`, { command: `echo healthy ${i}` })
          assert.equal(response.status, 200, await response.clone().text())
          assert.equal(ownerOf(response.headers.get('x-execution-id')!), 0)
          assert.equal((await readNdjson(response)).at(-1)?.params.status, 'completed')
        }
        const listed = await json(await fetch(`${second.url}/v1/executions`))
        assert.deepEqual(listed.body.unavailable.sort(), [at(garbage), at(hang)].sort())
        const metrics = await (await fetch(`${second.url}/metrics`)).text()
        for (const s of [garbage, hang]) assert.match(metrics, new RegExp(`^cc_gateway_executor_up\\{executor="${at(s)}"\\} 0$`, 'm'))
        // An id naming the hanging one: 503 naming it, within the health timeout, not a hang.
        const hung = await json(await fetch(`${second.url}/v1/executions/${tagOf(at(hang))}.5f0c6a4e-8d44-4b1a-9d55-0c8b0e0f0a11`))
        assert.equal(hung.status, 503)
        assert.match(hung.body.error.message, new RegExp(at(hang)))
      } finally {
        await second?.stop()
        hang.closeAllConnections()
        for (const s of [garbage, hang]) s.close()
      }
    })

    test('an executor that accepts connections and never answers costs the gateway one connection at a time: a /health check that times out is aborted', async () => {
      const hang: Server = createServer(() => {})
      hang.listen(0, '127.0.0.1')
      await once(hang, 'listening')
      let accepted = 0
      hang.on('connection', () => (accepted += 1))
      const hangUrl = `http://127.0.0.1:${(hang.address() as AddressInfo).port}`
      let watched: RunningGateway | undefined
      try {
        watched = await startGateway(runtime, { executorUrls: [members[0].server.url, hangUrl].join(','), token: `${members[0].token},x` })
        // Each /metrics asks for the pool's health: a check of the hung one every 2 s, each timing out after 2 s.
        for (const until = Date.now() + 10_000; Date.now() < until; ) {
          await (await fetch(`${watched.url}/metrics`)).text()
          await new Promise((resolve) => setTimeout(resolve, 250))
        }
        const open = await new Promise<number>((resolve, reject) => hang.getConnections((error, n) => (error ? reject(error) : resolve(n))))
        assert.ok(accepted >= 3, `the hung executor was checked again and again (${accepted} connections)`)
        assert.ok(open <= 2, `${open} of ${accepted} health checks of the hung executor are still open`)
      } finally {
        await watched?.stop()
        hang.closeAllConnections()
        hang.close()
      }
    })
  })
}

/** Starts the gateway with a bad EXECUTOR_URLS and returns what it said: Deno and Bun exit, a Worker answers every request. */
async function misconfigured(runtime: GatewayRuntime, settings: Record<string, string>): Promise<string> {
  const port = await freePort()
  const child = spawn('npm', ['run', '--silent', `start:${runtime}`], { cwd: ROOT, detached: true, env: gatewayEnv(port, settings), stdio: ['ignore', 'pipe', 'pipe'] })
  const untrack = killOnExit(child.pid!, { group: true })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
  const exited = once(child, 'exit') as Promise<[number | null]>
  try {
    if (runtime !== 'workerd') {
      const [code] = await exited
      assert.notEqual(code, 0, output)
      return output
    }
    let answer: Response | undefined
    await eventuallyAsync(async () => (answer = await fetch(`http://127.0.0.1:${port}/v1/executions`).catch(() => undefined)) !== undefined, 60_000, `the misconfigured Worker answers: ${output}`)
    assert.equal(answer!.status, 500)
    return (await answer!.json()).error.message
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // Already gone.
    }
    untrack()
  }
}
