import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { TestClient } from '../helpers/client.ts'
import { eventually, groupMembers, sleep } from '../helpers/proc.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'

let server: RunningServer
before(async () => {
  server = await startServer({ WEBSOCKET_HEARTBEAT_INTERVAL: '0.2', ACTIVITY_TIMEOUT: '0.3' })
})
after(async () => {
  await server.stop()
})

describe('keeping quiet sessions alive', () => {
  test('every session gets a heartbeat notification each WEBSOCKET_HEARTBEAT_INTERVAL', async () => {
    const client = await TestClient.open(server.wsUrl)
    const sessionId = client.frames[0].params.session_id
    await sleep(900)
    const beats = client.frames.filter((f) => f.method === 'heartbeat')
    assert.ok(beats.length >= 3 && beats.length <= 5, `${beats.length} heartbeats in 0.9 s`)
    for (const beat of beats) {
      assert.equal(beat.params.session_id, sessionId)
      assert.equal(beat.params.status, 'alive')
      assert.ok(Math.abs(beat.params.timestamp - Date.now() / 1000) < 5)
      assert.equal(beat.id, undefined)
    }
    await client.close()
  })

  test('process.status follows ACTIVITY_TIMEOUT of silence and repeats while it lasts', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { execution_id: id, pid } = await client.execute({ command: 'echo hi; sleep 1.2; echo bye' })
    await client.completion(id)
    const statuses = client.frames.filter((f) => f.method === 'process.status')
    assert.ok(statuses.length >= 2 && statuses.length <= 5, `${statuses.length} status notifications in 1.2 s of silence`)
    for (const s of statuses) {
      assert.equal(s.params.execution_id, id)
      assert.equal(s.params.status, 'running')
      assert.equal(s.params.pid, pid)
      assert.equal(typeof s.params.inactive_seconds, 'number')
      assert.equal(typeof s.params.message, 'string')
      assert.equal(s.params.seq, undefined, 'status is ephemeral: no seq')
    }
    const completedAt = client.frames.findIndex((f) => f.method === 'process.completed')
    assert.ok(client.frames.findLastIndex((f) => f.method === 'process.status') < completedAt, 'no status after completion')
    await client.close()
  })

  test('a command that keeps printing gets no process.status', async () => {
    const client = await TestClient.open(server.wsUrl)
    await client.run({ command: 'for i in $(seq 1 10); do echo $i; sleep 0.1; done' })
    assert.equal(client.frames.filter((f) => f.method === 'process.status').length, 0)
    await client.close()
  })

  test('a paused execution reports status "paused"', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { execution_id: id } = await client.execute({ command: 'sleep 5' })
    await client.request('control', { type: 'PAUSE' })
    const status = await client.waitFor((f) => f.method === 'process.status' && f.params.status === 'paused', 2000)
    assert.equal(status.params.execution_id, id)
    await client.request('control', { type: 'CANCEL' })
    await client.completion(id)
    await client.close()
  })

  test('a client that never sends an application-level pong is not disconnected', async () => {
    const client = await TestClient.open(server.wsUrl)
    await sleep(1000)
    assert.equal(client.ws.readyState, client.ws.OPEN)
    const pong = await client.request('ping')
    assert.equal(typeof pong.result.pong, 'number')
    await client.close()
  })

  test('a peer that stops answering WebSocket pings is disconnected and its execution ended', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { pgid } = await client.execute({ command: 'sleep 30' })
    // Silence the client's automatic pong replies, as a dead network peer would.
    ;(client.ws as unknown as { pong: () => void }).pong = () => {}
    const { code } = await client.closed
    assert.equal(code, 1006, 'the server terminated the connection')
    await eventually(() => groupMembers(pgid).length === 0, 3000, 'the group to be gone')
  })
})
