import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { TestClient } from '../helpers/client.ts'
import { groupMembers, processState, rssKiB, sleep } from '../helpers/proc.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'

let server: RunningServer
before(async () => {
  server = await startServer()
})
after(async () => {
  await server.stop()
})

const rssMiB = (pid: number) => rssKiB(pid)! / 1024

test('a client that stops reading blocks the child instead of growing server memory, and then gets every byte', async () => {
  const client = await TestClient.open(server.wsUrl)
  const baseline = rssMiB(server.child.pid!)
  const total = 64 * 1024 * 1024
  const { execution_id: id, pgid } = await client.execute({ command: `head -c ${total} /dev/zero | tr '\\0' x` })
  client.ws.pause() // the socket stops being read: TCP back-pressure reaches the server
  await sleep(1500)
  const members = groupMembers(pgid)
  assert.ok(members.length > 0, 'the child has not finished: it is blocked, not buffered')
  assert.ok(members.every((pid) => processState(pid) === 'S'), 'every member sleeps (blocked in write)')
  const growth = rssMiB(server.child.pid!) - baseline
  assert.ok(growth < 48, `server RSS grew ${growth.toFixed(1)} MiB while holding back ${total / 2 ** 20} MiB`)
  client.ws.resume()
  const done = await client.completion(id, 60_000)
  assert.equal(done.params.status, 'completed')
  assert.equal(done.params.stdout_bytes, total)
  assert.equal(client.output(id).length, total, 'every byte arrived')
  assert.equal(client.frames.some((f) => f.method === 'process.gap'), false)
  const seqs = client.events(id).map((e) => e.params.seq)
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1))
  await client.close()
})
