/**
 * Protocol scenarios shared by every way of reaching an executor: the Node executor directly
 * (test/integration/scenarios-node.test.ts) and each gateway in front of one (test/integration/gateway-*.test.ts). A
 * scenario takes the target's WebSocket and HTTP URLs and checks behaviour a client relies on;
 * the commands run on this machine, so process groups are checked in /proc.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { TestClient, type Frame } from './client.ts'
import { post, readNdjson, readNdjsonUntil, type Notification } from './http.ts'
import { eventually, groupMembers, processState, sleep } from './proc.ts'
import type { TcpProxy } from './tcp-proxy.ts'

export interface ScenarioTarget {
  /** "node", "workerd", "deno", "bun" — what /health reports. */
  runtime: string
  /**
   * "node": the test talks to the Node executor itself, and `proxy` sits between the test's HTTP
   * client and the executor. "gateway": the test talks to a gateway, and `proxy` sits between the
   * gateway and its Node executor.
   */
  kind: 'node' | 'gateway'
  /** ws://…/ws/mcp */
  wsUrl: string
  /** http://host:port (the target's own /v1 API) */
  httpUrl: string
  /** The Node executor's base URL (equal to httpUrl for "node"). */
  executorUrl: string
  /** Headers the executor wants (its bearer token, when the gateway's upstream is authenticated). */
  executorHeaders?: Record<string, string>
  proxy: TcpProxy
  /** The pool's other executors behind a gateway (each checked, as executorUrl is, for nothing left running). */
  moreExecutors?: { url: string; headers: Record<string, string> }[]
}

export interface Scenario {
  name: string
  run(target: ScenarioTarget): Promise<void>
}

/**
 * Registers every scenario as a node:test test (in order, one at a time), then a last check that
 * nothing is left running. `target` is called once the suite's `before` has run.
 */
export function runScenarios(target: () => ScenarioTarget): void {
  for (const scenario of scenarios) test(scenario.name, () => scenario.run(target()))
  test('afterwards /health reports the runtime, and neither it nor the executor runs anything', async () => {
    const { runtime, httpUrl, executorUrl, executorHeaders = {} } = target()
    const health = async (url: string, headers: Record<string, string> = {}) =>
      (await fetch(`${url}/health`, { headers })).json() as Promise<{ runtime: string; running_executions: number }>
    assert.equal((await health(httpUrl)).runtime, runtime)
    await eventuallyAsync(async () => (await health(httpUrl)).running_executions === 0, 5000, `no running execution on ${httpUrl}`)
    for (const { url, headers } of [{ url: executorUrl, headers: executorHeaders }, ...(target().moreExecutors ?? [])]) {
      await eventuallyAsync(async () => (await health(url, headers)).running_executions === 0, 5000, `no running execution on ${url}`)
    }
  })
}

/** Waits until an async check holds (every 50 ms), or fails naming `what`. */
export async function eventuallyAsync(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')
const lines = (from: number, to: number, prefix = '') => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}\n`).join('')
const TICKER = 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done'
const outputCount = (client: TestClient, id: string) => client.events(id).filter((f) => f.method === 'process.output').length

/**
 * The execution's record as this client got it: seq 1, 2, 3, … with no gap or duplicate, starting
 * with process.started, with exactly one process.completed, which is the last event.
 */
function assertRecord(events: { method?: string; params?: any }[], what: string): void {
  assert.ok(events.length >= 2, `${what}: at least started and completed`)
  assert.deepEqual(
    events.map((e) => e.params.seq),
    events.map((_, i) => i + 1),
    `${what}: seq is contiguous from 1`,
  )
  assert.equal(events[0].method, 'process.started', `${what}: process.started comes first`)
  assert.equal(events.filter((e) => e.method === 'process.completed').length, 1, `${what}: exactly one process.completed`)
  assert.equal(events.at(-1)!.method, 'process.completed', `${what}: process.completed is the last event`)
}

/** Waits a little after the completion, then checks the record: nothing may follow it. */
async function assertFinalRecord(client: TestClient, id: string): Promise<Frame[]> {
  await sleep(150)
  const events = client.events(id)
  assertRecord(events, `execution ${id}`)
  return events
}

function assertHashes(completed: any, stdout: string, stderr: string): void {
  assert.equal(completed.stdout_bytes, Buffer.byteLength(stdout))
  assert.equal(completed.stderr_bytes, Buffer.byteLength(stderr))
  assert.deepEqual(completed.transcript_sha256, { stdout: sha256(stdout), stderr: sha256(stderr) }, 'the transcript hash matches what arrived')
}

/** For HTTP streams: the events with a seq (heartbeats and other ephemeral lines have none). */
const seqEvents = (all: Notification[]) => all.filter((n) => n.params?.seq !== undefined)

export const scenarios: Scenario[] = [
  {
    name: 'output arrives whole and in order, seq contiguous (seq 1 2000)',
    async run({ wsUrl }) {
      const client = await TestClient.open(wsUrl)
      try {
        const r = await client.run({ command: 'seq 1 2000' })
        assert.equal(r.stdout, lines(1, 2000))
        assert.equal(r.completed.status, 'completed')
        assert.equal(r.completed.exit_code, 0)
        await assertFinalRecord(client, r.id)
        assertHashes(r.completed, r.stdout, '')
      } finally {
        await client.close()
      }
    },
  },

  {
    name: 'stdout and stderr each arrive whole and in order; a failing exit is reported',
    async run({ wsUrl }) {
      const client = await TestClient.open(wsUrl)
      try {
        const r = await client.run({ command: 'for i in $(seq 1 500); do echo "out $i"; echo "err $i" >&2; done; exit 3' })
        assert.equal(r.stdout, lines(1, 500, 'out '))
        assert.equal(r.stderr, lines(1, 500, 'err '))
        assert.equal(r.completed.status, 'failed')
        assert.equal(r.completed.exit_code, 3)
        await assertFinalRecord(client, r.id)
        assertHashes(r.completed, r.stdout, r.stderr)
      } finally {
        await client.close()
      }
    },
  },

  {
    name: 'HTTP: POST /v1/executions streams the same record as NDJSON',
    async run({ httpUrl }) {
      const response = await post(`${httpUrl}/v1/executions`, { command: 'seq 1 2000; echo done >&2' })
      assert.equal(response.status, 200)
      assert.match(response.headers.get('content-type') ?? '', /application\/x-ndjson/)
      const all = await readNdjson(response)
      assert.ok(all.every((n) => n.jsonrpc === '2.0'), 'every line is a JSON-RPC notification')
      const events = seqEvents(all)
      assertRecord(events, 'HTTP stream')
      const text = (type: string) =>
        events
          .filter((e) => e.method === 'process.output' && e.params.type === type)
          .map((e) => e.params.data)
          .join('')
      assert.equal(text('stdout'), lines(1, 2000))
      assert.equal(text('stderr'), 'done\n')
      assertHashes(events.at(-1)!.params, text('stdout'), text('stderr'))
    },
  },

  {
    name: 'stdin input reaches the process',
    async run({ wsUrl }) {
      const client = await TestClient.open(wsUrl)
      try {
        const { execution_id: id } = await client.execute({ command: 'read a; echo "got $a"; read b; echo "then $b"', stdin: 'pipe' })
        const first = await client.request('input', { data: 'one\n' })
        assert.deepEqual(first.result, { written: 4 })
        await eventually(() => client.output(id) === 'got one\n', 5000, 'the first reply')
        await client.request('input', { data: 'two\n', eof: true })
        const done = await client.completion(id)
        assert.equal(done.params.status, 'completed')
        assert.equal(client.output(id), 'got one\nthen two\n')
        await assertFinalRecord(client, id)
      } finally {
        await client.close()
      }
    },
  },

  {
    name: 'PAUSE stops the whole group (state T, no output), RESUME continues it, CANCEL ends it',
    async run({ wsUrl }) {
      const client = await TestClient.open(wsUrl)
      try {
        const { execution_id: id, pgid } = await client.execute({ command: `(${TICKER}) & ${TICKER}` })
        await client.waitFor((f) => f.method === 'process.output' && f.params.execution_id === id)
        assert.ok(groupMembers(pgid).length >= 2, 'the shell and its background loop share the group')

        const paused = await client.request('control', { type: 'PAUSE' })
        assert.deepEqual(paused.result, { status: 'paused' })
        await client.waitFor((f) => f.method === 'process.paused' && f.params.execution_id === id)
        // Stopped processes cannot exit, so once every member is T the membership is fixed.
        await eventually(
          () => {
            const members = groupMembers(pgid)
            return members.length >= 2 && members.every((pid) => processState(pid) === 'T')
          },
          3000,
          'every member of the group to be stopped (T)',
        )
        await sleep(500) // output read before the stop has arrived by now, through every hop
        const before = outputCount(client, id)
        await sleep(500)
        assert.equal(outputCount(client, id), before, 'no output while paused')
        assert.ok(groupMembers(pgid).every((pid) => processState(pid) === 'T'), 'still stopped')

        const resumed = await client.request('control', { type: 'RESUME' })
        assert.deepEqual(resumed.result, { status: 'resumed' })
        await client.waitFor((f) => f.method === 'process.resumed' && f.params.execution_id === id)
        await eventually(() => outputCount(client, id) > before, 5000, 'output after RESUME')
        assert.notEqual(processState(pgid), 'T')

        const canceled = await client.request('control', { type: 'CANCEL' })
        assert.deepEqual(canceled.result, { status: 'canceled' })
        const done = await client.completion(id)
        assert.equal(done.params.status, 'canceled')
        assert.deepEqual(groupMembers(pgid), [], 'the completion comes once no process of the group is left')
        const events = await assertFinalRecord(client, id)
        const order = events.map((e) => e.method).filter((m) => m !== 'process.output')
        assert.deepEqual(order, ['process.started', 'process.paused', 'process.resumed', 'process.canceled', 'process.completed'])
        const late = await client.request('control', { type: 'PAUSE', execution_id: id })
        assert.equal(late.error?.code, -32002, 'control of an ended execution')
      } finally {
        await client.close()
      }
    },
  },

  {
    name: 'exactly one completion, always last: leftover background processes, and CANCEL racing the exit',
    async run({ wsUrl }) {
      const client = await TestClient.open(wsUrl)
      try {
        const leftover = await client.run({ command: 'sleep 30 & echo started' })
        assert.equal(leftover.completed.status, 'completed')
        assert.deepEqual(groupMembers(leftover.completed.pgid), [])
        await assertFinalRecord(client, leftover.id)

        for (let i = 0; i < 5; i++) {
          const { execution_id: id, pgid } = await client.execute({ command: `echo race ${i}` })
          const cancel = await client.request('control', { type: 'CANCEL', execution_id: id })
          if (cancel.error) assert.equal(cancel.error.code, -32002, 'a CANCEL that lost the race: no such process')
          else assert.deepEqual(cancel.result, { status: 'canceled' })
          const done = await client.completion(id)
          assert.ok(['completed', 'canceled'].includes(done.params.status), done.params.status)
          assert.deepEqual(groupMembers(pgid), [])
          await assertFinalRecord(client, id)
        }
      } finally {
        await client.close()
      }
    },
  },

  {
    name: 'an abrupt client disconnect cancels the process group: no orphans',
    async run({ wsUrl, httpUrl }) {
      const client = await TestClient.open(wsUrl)
      const { execution_id: id, pgid } = await client.execute({ command: `(${TICKER}) & sleep 30` })
      await client.waitFor((f) => f.method === 'process.output' && f.params.execution_id === id)
      assert.ok(groupMembers(pgid).length >= 2)
      client.ws.terminate()
      await eventually(() => groupMembers(pgid).length === 0, 5000, 'the group to be gone after the client vanished')
      await eventually(() => processState(pgid) === undefined, 1000, 'the leader to be reaped')
      // The target's own record of the execution says so too (for a gateway: its registry, fed by the upstream).
      let record: { status?: string; state?: string } = {}
      await eventuallyAsync(
        async () => (record = await (await fetch(`${httpUrl}/v1/executions/${id}`)).json()).status === 'canceled',
        5000,
        'the record to say canceled',
      ).catch(() => {}) // the assertions below say what it was instead
      assert.equal(record.status, 'canceled')
      assert.equal(record.state, 'exited')
    },
  },

  {
    name: 'HTTP: closing the stream of a non-detached execution cancels it',
    async run({ httpUrl }) {
      // A command that keeps printing: workerd notices a gone client only when it next writes to it
      // (a silent command's stream is written to at its next heartbeat line, WEBSOCKET_HEARTBEAT_INTERVAL).
      const response = await post(`${httpUrl}/v1/executions`, { command: `echo up; ${TICKER}` })
      let pgid = 0
      await readNdjsonUntil(response, (n) => {
        if (n.method === 'process.started') pgid = n.params.pgid
        return n.method === 'process.output'
      })
      assert.ok(pgid > 0)
      await eventually(() => groupMembers(pgid).length === 0, 5000, 'the group to be gone after the stream was closed')
    },
  },

  {
    name: 'a late attach from seq 0 replays all of a 2 MB output, running and finished, over WebSocket and HTTP: no process.gap while the executor has every event',
    async run({ wsUrl, httpUrl }) {
      const expected = Array.from({ length: 300_000 }, (_, i) => `${i + 1}\n`).join('')
      const owner = await TestClient.open(wsUrl)
      const clients: TestClient[] = [owner]
      try {
        const { execution_id: id } = await owner.execute({ command: 'seq 1 300000; sleep 2' })
        await eventually(() => owner.output(id).endsWith('\n300000\n'), 30_000, 'all the output')
        const replayed = async () => {
          const late = await TestClient.open(wsUrl)
          clients.push(late)
          const attached = await late.request('attach', { execution_id: id, after_seq: 0 })
          assert.ok(attached.result, JSON.stringify(attached.error))
          await late.completion(id, 30_000)
          return late
        }
        const whileRunning = await replayed()
        const finished = await replayed()
        for (const [late, when] of [[whileRunning, 'while it ran'], [finished, 'once it had ended']] as const) {
          assert.deepEqual(late.frames.filter((f) => f.method === 'process.gap').map((f) => f.params), [], `no gap ${when}`)
          assert.equal(late.output(id).length, expected.length, `the whole output ${when}`)
          assert.equal(late.output(id), expected)
          assertRecord(late.events(id), `attached ${when}`)
        }
        const all = await readNdjson(await fetch(`${httpUrl}/v1/executions/${id}/events?after_seq=0`))
        assert.deepEqual(all.filter((n) => n.method === 'process.gap').map((n) => n.params), [], 'no gap over HTTP')
        const events = seqEvents(all)
        assertRecord(events, 'replayed over HTTP')
        assert.equal(events.filter((e) => e.method === 'process.output').map((e) => e.params.data).join(''), expected)
      } finally {
        for (const c of clients) await c.close()
      }
    },
  },

  {
    name: 'a program that cannot be started is -32603 with data.cause ENOENT (HTTP 500), and the very next execute runs',
    async run({ wsUrl, httpUrl }) {
      const client = await TestClient.open(wsUrl)
      try {
        const refused = await client.request('execute', { argv: ['/no/such/program-cc-executor'] })
        assert.equal(refused.error?.code, -32603, JSON.stringify(refused.error))
        assert.deepEqual(refused.error?.data, { cause: 'ENOENT' })
        assert.match(refused.error?.message, /no\/such\/program-cc-executor/)
        const response = await post(`${httpUrl}/v1/executions`, { argv: ['/no/such/program-cc-executor'] })
        assert.equal(response.status, 500)
        const body = await response.json()
        assert.equal(body.error.code, -32603, JSON.stringify(body))
        assert.deepEqual(body.error.data, { cause: 'ENOENT' })
        // The user's mistake says nothing about the executor: it goes on taking work at once.
        const next = await post(`${httpUrl}/v1/executions`, { command: 'echo still here' })
        assert.equal(next.status, 200, await next.clone().text())
        assert.equal(seqEvents(await readNdjson(next)).at(-1)?.params.status, 'completed')
        const r = await client.run({ command: 'echo and here' })
        assert.equal(r.completed.status, 'completed')
      } finally {
        await client.close()
      }
    },
  },

  {
    name: 'a broken stream between the executor and its client is resumed with after_seq: no gap, no duplicate',
    async run(target) {
      // ~3 s of numbered lines, so that the breaks land mid-stream.
      const command = 'i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo "line $i"; sleep 0.01; done'
      const breaks = [60, 180]
      const expected = lines(1, 300, 'line ')
      const resumesBefore = target.proxy.requests.filter((r) => r.includes('after_seq=')).length

      if (target.kind === 'gateway') {
        // client --ws--> gateway --http--> proxy --> Node executor; the proxy cuts the gateway's stream.
        const client = await TestClient.open(target.wsUrl)
        try {
          const { execution_id: id } = await client.execute({ command })
          for (const at of breaks) {
            await eventually(() => client.output(id).includes(`line ${at}\n`), 15_000, `line ${at}`)
            assert.ok(target.proxy.breakAll() > 0, 'a live upstream connection was cut')
          }
          const done = await client.completion(id, 30_000)
          assert.equal(done.params.status, 'completed', done.params.reason)
          assert.equal(client.output(id), expected)
          await assertFinalRecord(client, id)
          assertHashes(done.params, expected, '')
        } finally {
          await client.close()
        }
      } else {
        // client --http--> proxy --> Node executor; the client itself resumes, as RemoteExecutor does.
        const base = target.proxy.url
        let response = await post(`${base}/v1/executions`, { command, detach_grace: 30 })
        assert.equal(response.status, 200)
        const id = response.headers.get('x-execution-id')!
        const events: Notification[] = []
        let stdout = ''
        let nextBreak = 0
        for (let attempt = 0; ; attempt++) {
          assert.ok(attempt <= breaks.length + 3, 'too many reconnections')
          try {
            await readNdjsonUntil(response, (n) => {
              if (n.params?.seq === undefined) return false
              assert.equal(n.params.seq, events.length + 1, 'each event follows the last one received')
              events.push(n)
              if (n.method === 'process.output') stdout += n.params.data
              if (nextBreak < breaks.length && stdout.includes(`line ${breaks[nextBreak]}\n`)) {
                nextBreak += 1
                assert.ok(target.proxy.breakAll() > 0, 'a live connection was cut')
              }
              return n.method === 'process.completed'
            })
          } catch (error) {
            if (error instanceof assert.AssertionError) throw error
            // The cut: reading fails. Resume below.
          }
          if (events.at(-1)?.method === 'process.completed') break
          response = await fetch(`${base}/v1/executions/${id}/events?after_seq=${events.length}`)
          assert.equal(response.status, 200)
        }
        assert.equal(nextBreak, breaks.length)
        assertRecord(events, 'resumed HTTP stream')
        assert.equal(stdout, expected)
        assert.equal(events.at(-1)!.params.status, 'completed')
        assertHashes(events.at(-1)!.params, expected, '')
      }
      const resumes = target.proxy.requests.filter((r) => r.includes('after_seq=')).length - resumesBefore
      assert.ok(resumes >= breaks.length, `resumed with after_seq after each break (${resumes} resumes)`)
    },
  },
]
