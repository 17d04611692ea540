import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, test } from 'node:test'
import { TestClient } from '../helpers/client.ts'
import { freePort } from '../helpers/net.ts'
import { eventually, groupMembers, processesRunning, processState, sleep } from '../helpers/proc.ts'
import { ROOT, startServer, type RunningServer } from '../helpers/server.ts'
import { killOnExit } from '../helpers/tracker.ts'

let server: RunningServer
before(async () => {
  server = await startServer({ KILL_GRACE_MS: '400' })
})
after(async () => {
  await server.stop()
})

const TICKER = 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done'
const outputs = (client: TestClient, id: string) => client.events(id).filter((f) => f.method === 'process.output').length

describe('PAUSE, RESUME, CANCEL reach the whole process group', () => {
  test('PAUSE stops the group (state T, no output), RESUME continues it, CANCEL completes as canceled', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { execution_id: id, pgid } = await client.execute({ command: `(${TICKER}) & ${TICKER}` })
    await client.waitFor((f) => f.method === 'process.output' && f.params.execution_id === id)
    const members = groupMembers(pgid)
    assert.ok(members.length >= 2, 'the shell and its background loop share the group')

    const paused = await client.request('control', { type: 'pause' })
    assert.deepEqual(paused.result, { status: 'paused' })
    await client.waitFor((f) => f.method === 'process.paused' && f.params.execution_id === id)
    // The group as it is now: a `sleep 0.05` seen before the pause may have ended before it.
    await eventually(() => {
      const now = groupMembers(pgid)
      return now.length >= 2 && now.every((pid) => processState(pid) === 'T')
    }, 2000, 'every member stopped')
    await sleep(100) // anything read before the stop has arrived by now
    const before = outputs(client, id)
    await sleep(400)
    assert.equal(outputs(client, id), before, 'no output while paused')

    const resumed = await client.request('control', { type: 'RESUME' })
    assert.deepEqual(resumed.result, { status: 'resumed' })
    await client.waitFor((f) => f.method === 'process.resumed')
    await eventually(() => outputs(client, id) > before, 2000, 'output after resume')
    assert.notEqual(processState(pgid), 'T')

    const canceled = await client.request('control', { type: 'CANCEL', execution_id: id })
    assert.deepEqual(canceled.result, { status: 'canceled' })
    const done = await client.completion(id)
    assert.equal(done.params.status, 'canceled')
    assert.equal(done.params.signal, 'SIGTERM')
    assert.equal(done.params.exit_code, null)
    const events = client.events(id)
    assert.equal(events.at(-1)!.method, 'process.completed')
    assert.ok(events.some((e) => e.method === 'process.canceled'))
    assert.deepEqual(groupMembers(pgid), [], 'no process of the group is left')
    const late = await client.request('control', { type: 'PAUSE', execution_id: id })
    assert.equal(late.error?.code, -32002)
    await client.close()
  })

  test('CANCEL of a paused execution completes (SIGCONT before SIGTERM)', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { execution_id: id, pgid } = await client.execute({ command: 'sleep 30' })
    await client.request('control', { type: 'PAUSE' })
    await eventually(() => processState(pgid) === 'T', 2000)
    await client.request('control', { type: 'CANCEL' })
    const done = await client.completion(id)
    assert.equal(done.params.status, 'canceled')
    assert.ok(done.params.execution_time < 0.4, 'it did not need the SIGKILL grace')
    await client.close()
  })

  test('a child that ignores SIGTERM is killed after KILL_GRACE_MS', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { execution_id: id, pgid } = await client.execute({ command: "trap '' TERM; echo ready; while true; do sleep 0.05; done" })
    await client.waitFor((f) => f.method === 'process.output' && f.params.data === 'ready\n')
    const sent = Date.now()
    await client.request('control', { type: 'CANCEL' })
    const done = await client.completion(id)
    assert.ok(Date.now() - sent >= 350, 'SIGKILL came after the grace')
    assert.equal(done.params.status, 'canceled')
    assert.equal(done.params.signal, 'SIGKILL')
    assert.deepEqual(groupMembers(pgid), [])
    await client.close()
  })

  test('KILL sends SIGKILL at once; INTERRUPT sends SIGINT', async () => {
    const client = await TestClient.open(server.wsUrl)
    const killed = await client.execute({ command: "trap '' TERM; sleep 30" })
    await client.request('control', { type: 'KILL' })
    const k = await client.completion(killed.execution_id)
    assert.equal(k.params.status, 'killed')
    assert.equal(k.params.signal, 'SIGKILL')

    const interrupted = await client.execute({ argv: ['sleep', '30'] })
    await client.request('control', { type: 'interrupt' })
    const i = await client.completion(interrupted.execution_id)
    assert.equal(i.params.signal, 'SIGINT')
    assert.match(i.params.reason, /interrupt/)
    await client.close()
  })

  test('timeout ends the execution with status "timeout", paused time included', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { execution_id: id, pgid } = await client.execute({ command: 'sleep 30', timeout: 0.5 })
    await client.request('control', { type: 'PAUSE' })
    const done = await client.completion(id)
    assert.equal(done.params.status, 'timeout')
    assert.match(done.params.reason, /timeout/)
    assert.ok(done.params.execution_time >= 0.5 && done.params.execution_time < 2)
    assert.deepEqual(groupMembers(pgid), [])
    await client.close()
  })

  test('idle_timeout ends a silent execution but spares one that keeps printing', async () => {
    const client = await TestClient.open(server.wsUrl)
    const silent = await client.run({ command: 'echo start; sleep 30', idle_timeout: 0.4 })
    assert.equal(silent.completed.status, 'timeout')
    assert.match(silent.completed.reason, /idle/)
    assert.equal(silent.stdout, 'start\n')
    const chatty = await client.run({ command: 'for i in 1 2 3 4 5 6 7 8; do echo $i; sleep 0.1; done', idle_timeout: 0.4 })
    assert.equal(chatty.completed.status, 'completed')
    await client.close()
  })

  test('idle_timeout does not count paused time', async () => {
    const client = await TestClient.open(server.wsUrl)
    // Waits for a wall-clock deadline set before "a", so it is done as soon as it resumes (a paused `sleep`
    // may restart its full interval, and a deadline set after "a" could be set after the pause).
    // The idle timeout leaves Python 1.5 s to start and print "a" on a loaded machine; the pause outlasts it.
    const script = 'import time\nend = time.time() + 2.0\nprint("a", flush=True)\nwhile time.time() < end: time.sleep(0.02)\nprint("b")'
    const { execution_id: id } = await client.execute({ argv: ['python3', '-c', script], idle_timeout: 1.5 })
    await client.waitFor((f) => f.method === 'process.output')
    await client.request('control', { type: 'PAUSE' })
    await sleep(2000)
    const t = Date.now()
    await client.request('control', { type: 'RESUME' })
    const done = await client.completion(id)
    assert.equal(done.params.status, 'completed', `${done.params.reason}, ${Date.now() - t} ms after resume`)
    await client.close()
  })

  test('processes a command leaves in the background are ended before completion', async () => {
    const client = await TestClient.open(server.wsUrl)
    const r = await client.run({ command: 'sleep 30 & echo started' })
    assert.equal(r.completed.status, 'completed')
    assert.match(r.completed.reason, /left in its group were terminated/)
    assert.deepEqual(groupMembers(r.completed.pgid), [])
    await client.close()
  })

  test('while what the leader left is still being ended, its record says running, not exited beside a running status', async () => {
    // The leader exits at once; the member it leaves ignores SIGTERM, so the completion waits for KILL_GRACE_MS.
    const started = await fetch(`${server.url}/v1/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ command: `sh -c 'trap "" TERM; exec sleep 5' & sleep 0.2; exit 0`, detach: true }),
    })
    const { execution_id: id, pid } = await started.json()
    const leaderGone = () => {
      try {
        process.kill(pid, 0)
        return false
      } catch {
        return true
      }
    }
    let between = 0
    for (const t0 = Date.now(); Date.now() - t0 < 5000; await sleep(20)) {
      const gone = leaderGone()
      const record = await (await fetch(`${server.url}/v1/executions/${id}`)).json()
      if (record.status !== 'running') break
      assert.notEqual(record.state, 'exited', JSON.stringify(record))
      if (gone) between += 1
    }
    assert.ok(between > 0, 'a record was read after the leader had exited and before the completion')
  })
})

describe('no process is left behind', () => {
  test('an abrupt client disconnect ends the process group (detach_grace 0)', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { pgid } = await client.execute({ command: `(${TICKER}) & sleep 30` })
    await client.waitFor((f) => f.method === 'process.output')
    assert.ok(groupMembers(pgid).length >= 2)
    client.ws.terminate()
    await eventually(() => groupMembers(pgid).length === 0, 5000, 'the group to be gone')
  })

  test('a client that goes while its execute is starting leaves nothing running (detach_grace 0)', async () => {
    const client = await TestClient.open(server.wsUrl)
    // The request and the close reach the server together: the close lands while the execution starts.
    client.sendRaw(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'execute', params: { argv: ['sleep', '623'] } }))
    client.ws.terminate()
    const watcher = await TestClient.open(server.wsUrl)
    try {
      let record: { status: string } | undefined
      for (let i = 0; i < 100 && record?.status !== 'canceled'; i += 1) {
        await sleep(50)
        record = (await watcher.request('list', {})).result.executions.find((r: { command: string }) => r.command === 'sleep 623')
      }
      assert.equal(record?.status, 'canceled')
      assert.deepEqual(processesRunning('sleep 623'), [])
    } finally {
      await watcher.close()
    }
  })

  test('detach_grace keeps the execution running for that long after the client goes', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { pgid, execution_id } = await client.execute({ command: 'sleep 30', detach_grace: 0.6 })
    client.ws.terminate()
    await sleep(300)
    assert.ok(groupMembers(pgid).length > 0, 'still running within the grace')
    await eventually(() => groupMembers(pgid).length === 0, 5000, 'the group to be gone after the grace')
    // The record says why it was canceled: nobody came back, not a client's CANCEL.
    let record: { status?: string; reason?: string } = {}
    for (let i = 0; i < 50 && record.status !== 'canceled'; i++, await sleep(50)) record = await (await fetch(`${server.url}/v1/executions/${execution_id}`)).json()
    assert.equal(record.status, 'canceled')
    assert.equal(record.reason, 'canceled: no client came back within detach_grace (0.6 s)')
  })

  test('a CANCEL may say why: its reason becomes the completion\'s, over WebSocket and HTTP', async () => {
    const client = await TestClient.open(server.wsUrl)
    const ws = await client.execute({ command: 'sleep 30' })
    await client.request('control', { execution_id: ws.execution_id, type: 'CANCEL', reason: 'superseded by a newer build' })
    assert.equal((await client.completion(ws.execution_id)).params.reason, 'superseded by a newer build')
    const http = await client.execute({ command: 'sleep 30' })
    await fetch(`${server.url}/v1/executions/${http.execution_id}/control`, { method: 'POST', body: JSON.stringify({ type: 'CANCEL', reason: 'over HTTP' }) })
    assert.equal((await client.completion(http.execution_id)).params.reason, 'over HTTP')
    const tooLong = await client.request('control', { execution_id: http.execution_id, type: 'CANCEL', reason: 'x'.repeat(513) })
    assert.equal(tooLong.error?.code, -32602)
    // The leader goes at SIGTERM, the member it started outlives it until SIGKILL: still the client's reason.
    const outlived = await client.execute({ command: "(trap '' TERM; echo up; sleep 30) & wait" })
    await client.waitFor((f) => f.method === 'process.output' && f.params.execution_id === outlived.execution_id)
    await client.request('control', { execution_id: outlived.execution_id, type: 'CANCEL', reason: 'not needed' })
    const done = (await client.completion(outlived.execution_id)).params
    assert.deepEqual([done.status, done.reason], ['canceled', 'not needed'])
    assert.deepEqual(groupMembers(outlived.pgid), [])
    await client.close()
  })

  test('server SIGTERM cancels every execution, waits for the groups, and exits 0', async () => {
    const own = await startServer({ KILL_GRACE_MS: '300' })
    const a = await TestClient.open(own.wsUrl)
    const b = await TestClient.open(own.wsUrl)
    const ra = await a.execute({ command: `(${TICKER}) & sleep 30` })
    const rb = await b.execute({ command: "trap '' TERM; sleep 30" })
    await a.waitFor((f) => f.method === 'process.output')
    const code = await own.stop('SIGTERM')
    assert.equal(code, 0)
    assert.deepEqual(groupMembers(ra.pgid), [])
    assert.deepEqual(groupMembers(rb.pgid), [])
    const done = a.frames.find((f) => f.method === 'process.completed')
    assert.equal(done?.params.status, 'canceled', 'clients are told before the socket closes')
    assert.equal(done?.params.reason, 'canceled: the server is shutting down')
  })

  test('server SIGTERM lets a transcript download under way finish before it closes the connections, and still exits 0', async () => {
    const own = await startServer()
    const client = await TestClient.open(own.wsUrl)
    // 30 MB: more than the socket buffers hold, so the download is still being sent when the signal comes.
    const { execution_id: id } = await client.execute({ command: 'yes 0123456789abcdef0123456789abcdef | head -c 30000000' })
    await client.completion(id, 20_000)
    await client.close()
    const url = `${own.url}/v1/executions/${id}/transcript`
    const whole = (await (await fetch(url)).arrayBuffer()).byteLength
    assert.ok(whole > 30_000_000, `${whole}`)
    const download = await fetch(url)
    const reader = download.body!.getReader()
    let received = (await reader.read()).value!.byteLength
    const exited = own.stop('SIGTERM')
    // Not read meanwhile: the server waits on the socket with most of the transcript still to send.
    await sleep(500)
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) received += chunk.value.byteLength
    assert.equal(received, whole, 'the whole transcript, not a cut one')
    assert.equal(await exited, 0)
  })

  test('server SIGTERM is not held by a connection that sent nothing, nor by a WebSocket peer that does not answer its close: both are cut', async () => {
    const own = await startServer()
    const silent = connect(own.port, '127.0.0.1')
    await once(silent, 'connect')
    // A WebSocket handshake by hand, and then nothing: no close frame will answer the server's.
    const peer = connect(own.port, '127.0.0.1')
    await once(peer, 'connect')
    peer.write(`GET /ws/mcp HTTP/1.1\r\nHost: 127.0.0.1:${own.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
    const [answer] = (await once(peer, 'data')) as [Buffer]
    assert.match(answer.toString('latin1'), /^HTTP\/1\.1 101 /)
    const closed = (socket: Socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()))
    const cut = Promise.all([closed(silent), closed(peer)])
    const started = Date.now()
    assert.equal(await own.stop('SIGTERM'), 0)
    const took = Date.now() - started
    await cut
    // Held for DRAIN_MS (3 s) were it waiting for them; the peer gets half a second to answer.
    assert.ok(took < 2500, `exited ${took} ms after SIGTERM`)
  })

  test('a server whose stdout is not read keeps serving (its log waits, the event loop does not)', async () => {
    const own = await startServer()
    try {
      own.child.stdout!.pause() // the pipe fills after a few hundred log lines
      const client = await TestClient.open(own.wsUrl)
      const started = Date.now()
      for (let i = 0; i < 150; i++) assert.equal((await client.run({ command: `echo ${i}` })).stdout, `${i}\n`)
      // Each run logs a few lines; a logger that blocked on the full pipe would take ~0.1 s per line.
      assert.ok(Date.now() - started < 20_000, `150 runs took ${Date.now() - started} ms`)
      await client.close()
    } finally {
      own.child.stdout!.resume()
      await own.stop()
    }
  })

  test('a second SIGINT during the shutdown (Ctrl-C reaches npm and the server, and npm sends its own) does not cut it short', async () => {
    const own = await startServer({ KILL_GRACE_MS: '1500' })
    const client = await TestClient.open(own.wsUrl)
    const { pgid } = await client.execute({ command: "trap '' TERM; echo ready; sleep 30" })
    await client.waitFor((f) => f.method === 'process.output')
    own.child.kill('SIGINT')
    await sleep(100)
    own.child.kill('SIGINT')
    assert.equal(await own.stop('SIGINT'), 0)
    assert.deepEqual(groupMembers(pgid), [], 'the execution that ignored SIGTERM was killed before the server left')
    assert.equal(own.logs.filter((entry) => entry.msg === 'shutting down').length, 1)
  })

  test('server SIGTERM exits 0 when nothing reads its stdout any more (`npm start | head`)', async () => {
    const own = await startServer()
    own.child.stdout!.destroy() // the reader is gone: every log write now fails with EPIPE
    const timeout = sleep(10_000).then(() => 'still running 10 s after SIGTERM')
    const code = await Promise.race([own.stop('SIGTERM'), timeout])
    if (typeof code === 'string') own.child.kill('SIGKILL')
    assert.equal(code, 0)
  })
})

describe('`npm start` stops on SIGTERM', () => {
  test('`npm start | head -1`, then SIGTERM to npm: the server exits within seconds and its children with it', async () => {
    const port = await freePort()
    const dataDir = mkdtempSync(join(tmpdir(), 'cc-executor-data-'))
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      detached: true, // its own group: whatever npm started is found (and cleaned up) through it
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CC_EXECUTOR_DATA_DIR: dataDir, KILL_GRACE_MS: '300' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const group = npm.pid!
    const untrack = killOnExit(group, { group: true })
    let child: number | undefined
    try {
      // `head -1`: one line read, then the reader is gone and every later write to stdout fails with EPIPE.
      await once(createInterface({ input: npm.stdout! }), 'line')
      npm.stdout!.destroy()
      await serving(`http://127.0.0.1:${port}/health`)
      const client = await TestClient.open(`ws://127.0.0.1:${port}/ws/mcp`)
      child = (await client.execute({ command: 'sleep 600' })).pgid
      const servers = groupMembers(group).filter((pid) => pid !== group)
      assert.ok(servers.length > 0)

      process.kill(group, 'SIGTERM')
      const deadline = Date.now() + 5000
      while ((groupMembers(group).length > 0 || groupMembers(child).length > 0) && Date.now() < deadline) await sleep(50)
      assert.deepEqual(groupMembers(child), [], 'the execution (sleep 600) is gone')
      assert.deepEqual(groupMembers(group), [], 'npm and the server are gone')
    } finally {
      // What a failure left behind: the server is told to stop (it ends its executions), then killed.
      for (const pid of groupMembers(group)) process.kill(pid, 'SIGTERM')
      await sleep(1500)
      for (const pgid of [group, child]) if (pgid !== undefined && groupMembers(pgid).length > 0) process.kill(-pgid, 'SIGKILL')
      untrack()
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

/** Resolves once `url` answers 200, or fails after 20 s. */
async function serving(url: string): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const ok = await fetch(url).then((response) => response.ok, () => false)
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${url} did not answer within 20 s`)
    await sleep(100)
  }
}
