/**
 * The spawn helper (adapters/node/spawner.ts): children are forked by a small helper process, not
 * by the server, and the server survives the helper's death without losing output or processes.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { TestClient } from './helpers/client.ts'
import { childrenOf, eventually, groupMembers, processState, processesWhere, sleep } from './helpers/proc.ts'
import { startServer, type RunningServer } from './helpers/server.ts'
import { Spawner } from '../adapters/node/spawner.ts'

/** Makes the spawn helper die at a chosen point (see the file). */
const FAULT_PRELOAD = new URL('./helpers/helper-fault.mjs', import.meta.url).href

/** A process's command line ('' once it is gone). */
function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
  } catch {
    return ''
  }
}

/** The server's spawn helper: its one child process that runs spawner-helper.mjs. */
function helperOf(server: RunningServer): number {
  const helpers = childrenOf(server.child.pid!).filter((pid) => cmdline(pid).includes('spawner-helper.mjs'))
  assert.equal(helpers.length, 1, `one spawn helper under the server, found ${helpers.length}`)
  return helpers[0]
}

let server: RunningServer
before(async () => {
  server = await startServer()
})
after(async () => {
  await server.stop()
})

describe('the spawn helper', () => {
  test('the command is the helper\'s child, not the server\'s; Ctrl-C (SIGINT) to the helper does not end it', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { id, completed, stdout } = await client.run({ command: 'echo $PPID' })
    const helper = helperOf(server)
    assert.equal(completed.status, 'completed', id)
    assert.equal(Number(stdout), helper, 'the shell\'s parent is the helper')
    assert.ok(!childrenOf(server.child.pid!).some((pid) => cmdline(pid).includes('echo')))

    process.kill(helper, 'SIGINT')
    await sleep(100)
    assert.equal(helperOf(server), helper)
    assert.equal((await client.run({ command: 'echo still' })).stdout, 'still\n')
    await client.close()
  })

  test('when the helper dies, a running command keeps streaming and completes (status unknown); the next one gets a new helper', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { execution_id: id, pgid } = await client.execute({ command: 'echo before; sleep 0.5; echo after' })
    await client.waitFor((f) => f.method === 'process.output' && f.params.data === 'before\n')
    const helper = helperOf(server)
    process.kill(helper, 'SIGKILL')
    const done = await client.completion(id)
    assert.equal(client.output(id), 'before\nafter\n', 'no output lost')
    assert.equal(done.params.status, 'failed')
    assert.match(done.params.reason, /exit status unknown: the spawn helper .* exited/)
    assert.deepEqual(groupMembers(pgid), [])

    const again = await client.run({ command: 'echo again' })
    assert.equal(again.completed.status, 'completed')
    assert.equal(again.stdout, 'again\n')
    assert.notEqual(helperOf(server), helper)
    await client.close()
  })

  test('a helper that dies halfway through handing a child over: the execute fails, the child\'s group is killed, the next one runs', async () => {
    // NODE_OPTIONS reaches the helper (fork passes the environment on); the preload acts only there.
    const marker = 'cc-fault-die-before-stderr'
    const own = await startServer({ NODE_OPTIONS: `--import ${FAULT_PRELOAD}`, CC_TEST_HELPER_DIES_ON: marker })
    const client = await TestClient.open(own.wsUrl)
    const helper = helperOf(own)
    const sleeper = () => processesWhere(() => true).filter((pid) => cmdline(pid) === 'sleep 30.123 ')
    const reply = await client.request('execute', { command: `sleep 30.123; echo ${marker}` })
    assert.ok(reply.error, `the execute fails: ${JSON.stringify(reply)}`)
    assert.match(reply.error.message, /spawn helper exited before the child started/)
    await eventually(() => sleeper().length === 0, 5000, 'the half-started child\'s group to be killed')

    const again = await client.run({ command: 'echo again' })
    assert.equal(again.completed.status, 'completed')
    assert.equal(again.stdout, 'again\n')
    assert.notEqual(helperOf(own), helper)
    await client.close()
    await own.stop()
  })

  test('a server that stops, or is killed, leaves no helper behind', async () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const own = await startServer()
      const client = await TestClient.open(own.wsUrl)
      await client.run({ command: 'true' })
      const helper = helperOf(own)
      await own.stop(signal)
      await eventually(() => processState(helper) === undefined || processState(helper) === 'Z', 5000, `the helper to exit after ${signal}`)
    }
  })
})

describe('Spawner (in this process)', () => {
  test('a helper killed with a request in flight: the request fails, nothing of it runs, the next spawn gets a new helper', async () => {
    const spawner = new Spawner()
    const helpers = () => childrenOf(process.pid).filter((pid) => cmdline(pid).includes('spawner-helper.mjs'))
    try {
      await eventually(() => helpers().length === 1, 5000, 'the helper to start')
      const [helper] = helpers()
      const marker = `spawner-test-${process.pid}-${Date.now()}`
      const request = { file: '/bin/sh', args: ['-c', `sleep 30; : ${marker}`], env: { PATH: process.env.PATH }, stdin: false }
      const doomed = spawner.spawn(request)
      process.kill(helper, 'SIGKILL')
      const outcome = await doomed.then(
        (child) => child,
        (error: Error) => error,
      )
      if (outcome instanceof Error) {
        assert.match(outcome.message, /the spawn helper exited before the child started/)
      } else {
        // It got out before the helper died: it is ours to control, and its end is still reported.
        process.kill(-outcome.pid, 'SIGKILL')
        assert.match((await outcome.exited).lost ?? '', /exit status unknown/)
      }
      await eventually(() => !processesWhere(() => true).some((pid) => cmdline(pid).includes(marker)), 5000, 'no process of the request to be left')

      const child = await spawner.spawn({ file: '/bin/echo', args: ['again'], env: {}, stdin: false })
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => (out += chunk))
      assert.deepEqual(await child.exited, { code: 0, signal: null })
      await eventually(() => out === 'again\n', 2000, 'the output')
      assert.ok(!helpers().includes(helper) && helpers().length === 1, 'a new helper')
    } finally {
      spawner.close()
    }
  })
})
