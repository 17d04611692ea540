/**
 * The spawn helper (adapters/node/spawn/spawner.ts): children are forked by a small helper process, not
 * by the server, and the server survives the helper's death without losing output or processes.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { TestClient } from '../helpers/client.ts'
import { childrenOf, commandLine, eventually, groupMembers, processState, processesWhere, sleep } from '../helpers/proc.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'
import { FIFO_BASE, Spawner } from '../../adapters/node/spawn/spawner.ts'

/** Makes the spawn helper die at a chosen point (see the file). */
const FAULT_PRELOAD = new URL('../helpers/helper-fault.mjs', import.meta.url).href

/** A process's command line, arguments joined by spaces ('' once it is gone). */
const cmdline = (pid: number) => commandLine(pid)?.join(' ') ?? ''

/** The server's spawn helper: its one child process that runs spawner-helper.mjs. */
function helperOf(server: RunningServer): number {
  const helpers = childrenOf(server.child.pid!).filter((pid) => cmdline(pid).includes('spawner-helper.mjs'))
  assert.equal(helpers.length, 1, `one spawn helper under the server, found ${helpers.length}`)
  return helpers[0]
}

/** The private directory a helper makes its FIFOs in (its command line's last argument). */
function fifoDirOf(helper: number): string {
  const dir = commandLine(helper)!.filter(Boolean).at(-1)!
  assert.match(dir, /cc-executor-fifo-/)
  return dir
}

/** What a command's stdout and stderr are, as `stat` sees them: "fifo fifo", "socket socket"... */
const STDIO_KINDS = 'echo $(stat -L -c %F /proc/$$/fd/1 /proc/$$/fd/2)'

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
    const sleeper = () => processesWhere(() => true).filter((pid) => cmdline(pid) === 'sleep 30.123')
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

  test('a server that stops, or is killed, leaves no helper and no FIFO directory behind', async () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      for (const runFirst of [true, false]) {
        // Stopped at once, the helper may still be making its first FIFOs.
        const own = await startServer()
        if (runFirst) {
          const client = await TestClient.open(own.wsUrl)
          await client.run({ command: 'true' })
          await client.close()
        }
        const helper = helperOf(own)
        const dir = fifoDirOf(helper)
        await own.stop(signal)
        await eventually(() => processState(helper) === undefined || processState(helper) === 'Z', 5000, `the helper to exit after ${signal}`)
        await eventually(() => !existsSync(dir), 5000, `the FIFO directory to be removed after ${signal}`)
      }
    }
  })
})

describe('the children\'s pipes', () => {
  test('a child writes its stdout and stderr into FIFOs, each used once and unlinked; the directory is private and goes with its helper', async () => {
    const client = await TestClient.open(server.wsUrl)
    // The helper makes its first FIFOs when it starts; until they are there children get Node's socket pairs.
    let kinds = ''
    for (const deadline = Date.now() + 5000; kinds !== 'fifo fifo\n' && Date.now() < deadline; ) kinds = (await client.run({ command: STDIO_KINDS })).stdout
    assert.equal(kinds, 'fifo fifo\n', 'within 5 s of the server\'s start, a child\'s stdout and stderr are FIFOs')
    const dir = fifoDirOf(helperOf(server))
    assert.ok(dir.startsWith('/dev/shm/'), `on a tmpfs where there is one: ${dir}`)
    assert.equal(statSync(dir).mode & 0o777, 0o700)
    const ready = readdirSync(dir)
    assert.ok(ready.length >= 2, `FIFOs kept ready: ${ready.length}`)
    for (const name of ready) assert.ok(statSync(`${dir}/${name}`).isFIFO() && (statSync(`${dir}/${name}`).mode & 0o777) === 0o600, name)

    // Output through them is whole and in order, also beyond one pipe's capacity (64 KiB).
    const big = await client.run({ command: 'seq 1 100000; echo done >&2' })
    assert.equal(big.stdout, Array.from({ length: 100_000 }, (_, i) => `${i + 1}\n`).join(''))
    assert.equal(big.stderr, 'done\n')
    assert.equal(big.completed.stdout_bytes, 588_895)

    // Forty more executions: the names used are gone, and the directory holds only what is kept ready.
    for (let i = 0; i < 40; i++) assert.equal((await client.run({ command: STDIO_KINDS })).stdout, 'fifo fifo\n')
    const now = readdirSync(dir)
    assert.ok(now.every((name) => !ready.includes(name)), 'a FIFO is never handed out twice')
    assert.ok(now.length <= 32, `FIFOs kept ready: ${now.length}`)

    // The helper dies: the server removes its directory; the next helper gets a new one.
    process.kill(helperOf(server), 'SIGKILL')
    await eventually(() => !existsSync(dir), 5000, 'the dead helper\'s FIFO directory to be removed')
    assert.equal((await client.run({ command: 'echo again' })).stdout, 'again\n')
    assert.notEqual(fifoDirOf(helperOf(server)), dir)
    await client.close()
  })

  test('a burst of starts beyond the FIFOs ready and a helper without mkfifo fall back to Node\'s socket pairs with nothing lost', async () => {
    // One execution per session: sixty sessions start one each, all at once (the helper keeps 32
    // FIFOs, 16 children's worth, ready; whether a child finds some depends on how fast it refills).
    const clients = await Promise.all(Array.from({ length: 60 }, () => TestClient.open(server.wsUrl)))
    const runs = await Promise.all(clients.map((client, i) => client.run({ command: `${STDIO_KINDS}; echo ${i} >&2` })))
    runs.forEach((run, i) => {
      assert.match(run.stdout, /^(fifo fifo|socket socket)\n$/)
      assert.equal(run.stderr, `${i}\n`)
    })
    await Promise.all(clients.map((client) => client.close()))

    // No mkfifo on the helper's PATH (the shell is found at startup; the command sets its own PATH).
    const own = await startServer({ PATH: '/nonexistent' })
    const other = await TestClient.open(own.wsUrl)
    for (let i = 0; i < 3; i++) {
      const run = await other.run({ command: `PATH=/usr/bin:/bin; ${STDIO_KINDS}; seq 1 3` })
      assert.equal(run.stdout, 'socket socket\n1\n2\n3\n')
    }
    await other.close()
    await own.stop()
  })
})

describe('the children\'s scheduling policy', () => {
  /** The policies of a command's shell and of a process it starts, as chrt reports them. */
  const POLICIES = 'PATH=/usr/bin:/bin; chrt -p $$ | head -n 1; sh -c \'chrt -p $$ | head -n 1\''
  const policies = (stdout: string) => stdout.split('\n').filter(Boolean).map((line) => line.replace(/^.*: /, ''))
  const listening = (own: RunningServer) => own.logs.find((entry) => entry.msg === 'listening')?.child_sched_policy

  test('children and their descendants run as SCHED_BATCH by default; CHILD_SCHED_POLICY=normal, no chrt, or a chrt that fails leaves them SCHED_OTHER', async () => {
    const client = await TestClient.open(server.wsUrl)
    assert.deepEqual(policies((await client.run({ command: POLICIES })).stdout), ['SCHED_BATCH', 'SCHED_BATCH'])
    assert.equal(listening(server), 'batch')
    await client.close()

    // A chrt that cannot set the policy (as under a seccomp profile that denies it) is not used.
    const refusing = join(mkdtempSync(join(tmpdir(), 'cc-executor-chrt-')), 'chrt')
    writeFileSync(refusing, '#!/bin/sh\nexit 1\n', { mode: 0o755 })
    const settings: Record<string, string>[] = [{ CHILD_SCHED_POLICY: 'normal' }, { PATH: '/nonexistent' }, { PATH: `${dirname(refusing)}:/usr/bin:/bin` }]
    for (const env of settings) {
      const own = await startServer(env)
      try {
        const other = await TestClient.open(own.wsUrl)
        const run = await other.run({ command: POLICIES })
        await other.close()
        assert.equal(run.completed.status, 'completed', JSON.stringify(env))
        assert.deepEqual(policies(run.stdout), ['SCHED_OTHER', 'SCHED_OTHER'], JSON.stringify(env))
        assert.equal(listening(own), 'normal', JSON.stringify(env))
      } finally {
        await own.stop() // a failed assertion must not leave a server keeping this file's process alive
      }
    }
    rmSync(dirname(refusing), { recursive: true })
  })
})

describe('the spawn helper out of file descriptors', () => {
  test('a start that cannot open its pipes fails with the reason; the helper lives on and the next start works', async () => {
    const own = await startServer()
    const client = await TestClient.open(own.wsUrl)
    await client.run({ command: 'true' })
    const helper = helperOf(own)
    const limits = execFileSync('prlimit', [`--pid=${helper}`, '--nofile', '--output=SOFT,HARD', '--noheadings'], { encoding: 'utf8' }).trim().split(/\s+/)
    // Only fds 0-2 may exist: every new descriptor is refused (EMFILE).
    execFileSync('prlimit', [`--pid=${helper}`, `--nofile=3:${limits[1]}`])
    try {
      const reply = await client.request('execute', { command: 'echo refused' })
      assert.match(reply.error?.message ?? JSON.stringify(reply), /^Failed to start \S+: spawn \S+ EMFILE$/)
    } finally {
      execFileSync('prlimit', [`--pid=${helper}`, `--nofile=${limits[0]}:${limits[1]}`])
    }
    assert.equal(helperOf(own), helper, 'the same helper')
    assert.equal((await client.run({ command: 'echo works' })).stdout, 'works\n')
    await client.close()
    await own.stop()
  })
})

describe('Spawner (in this process)', () => {
  test('a new Spawner removes the FIFO directories of servers that are gone, and only those', async () => {
    const gone = spawnSync('true').pid!
    const stale = join(FIFO_BASE, `cc-executor-fifo-${gone}-test`)
    const live = join(FIFO_BASE, `cc-executor-fifo-${process.pid}-test`)
    for (const dir of [stale, live]) {
      mkdirSync(dir)
      execFileSync('mkfifo', [join(dir, '0')])
    }
    const spawner = new Spawner()
    try {
      await eventually(() => !existsSync(stale), 5000, 'the stale directory to be removed')
      assert.ok(existsSync(join(live, '0')), 'a live server\'s directory stays')
    } finally {
      spawner.close()
      rmSync(live, { recursive: true, force: true })
    }
  })

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
