/** The CLI's other commands: detach, attach, logs, ps, signal, verify, serve; the launcher itself. */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, test } from 'node:test'
import { ExecutorClient } from '../../src/client/index.ts'
import { BIN, cleanEnv, lines, recordOf, runCli, spawnCli } from '../helpers/cli.ts'
import { freePort } from '../helpers/net.ts'
import { eventually, processState } from '../helpers/proc.ts'
import { ROOT, startServer, type RunningServer } from '../helpers/server.ts'

const TRANSPORTS = ['ws', 'http'] as const

let server: RunningServer
let client: ExecutorClient
before(async () => {
  server = await startServer()
  client = new ExecutorClient({ url: server.url, transport: 'http' })
})
after(async () => {
  await client.close()
  await server.stop()
})


describe('cc-executor detach, attach, logs, ps, signal, verify', () => {
  test('run --detach prints the id and exits 0; attach follows it to its exit code; logs and verify read it back', async () => {
    const started = await runCli(['run', '--url', server.url, '--detach', '--', 'sh', '-c', 'echo hello; sleep 0.5; echo bye >&2; exit 4'])
    assert.equal(started.code, 0)
    const id = started.stdout.toString().trim()
    assert.match(id, /^[0-9a-f-]{36}$/)
    const attached = await runCli(['attach', '--url', server.url, id])
    assert.equal(attached.stdout.toString(), 'hello\n')
    assert.equal(attached.stderr, 'bye\n')
    assert.equal(attached.code, 4)

    const logs = await runCli(['logs', '--url', server.url, id])
    assert.equal(logs.stdout.toString(), 'hello\n')
    assert.equal(logs.stderr, 'bye\n')
    assert.equal(logs.code, 0)

    const verified = await runCli(['verify', '--url', server.url, id])
    assert.equal(verified.code, 0)
    const [first, ...checks] = verified.stdout.toString().trimEnd().split('\n')
    assert.match(first, new RegExp(`^OK ${id}: 4 events, stdout sha256 [0-9a-f]{64}, stderr sha256 [0-9a-f]{64}$`))
    // The server's own checks follow, one line each.
    assert.deepEqual(checks.map((line) => line.slice(0, 26)), ['  ok   completed: failed, ', '  ok   transcript: seq 1-4', '  ok   transcript_sha256: '])

    // A transcript that no longer says what the process printed fails.
    const transcript = join(server.dataDir, `${id}.ndjson`)
    writeFileSync(transcript, readFileSync(transcript, 'utf8').replace('"hello\\n"', '"HELLO\\n"'))
    const tampered = await runCli(['verify', '--url', server.url, id])
    assert.equal(tampered.code, 1)
    const tamperedLines = tampered.stdout.toString().trimEnd().split('\n')
    assert.equal(tamperedLines[0], `FAILED ${id}: stdout differs from what the process printed; the server's check transcript_sha256 failed`)
    assert.equal(tamperedLines.at(-1), "  FAIL transcript_sha256: the transcript's output does not hash to transcript_sha256")
  })

  for (const transport of TRANSPORTS) {
    test(`signal and ps (${transport})`, async () => {
      const flags = ['--url', server.url, '--transport', transport]
      const marker = `ps-${randomUUID()}`
      const started = await runCli(['run', ...flags, '-d', '--', 'sh', '-c', `echo ${marker}; sleep 30`])
      const id = started.stdout.toString().trim()
      const { pid } = await recordOf(client, marker)
      const paused = await runCli(['signal', ...flags, id, 'pause'])
      assert.equal(paused.stdout.toString(), 'paused\n')
      assert.equal(paused.code, 0)
      await eventually(() => processState(pid!) === 'T', 5000, 'paused')
      const ps = await runCli(['ps', ...flags, '--running'])
      const rows = ps.stdout.toString().trimEnd().split('\n')
      assert.match(rows[0], /^EXECUTION ID +STATUS +EXIT +PID +STARTED +TIME +COMMAND$/)
      const row = rows.find((r) => r.startsWith(id))
      assert.ok(row, ps.stdout.toString())
      assert.match(row, new RegExp(`^${id} +paused +- +${pid} +\\d\\d:\\d\\d:\\d\\d +[\\d.]+s +sh -c 'echo ${marker}; sleep 30'$`))
      assert.equal((await runCli(['signal', ...flags, id, 'cancel'])).stdout.toString(), 'canceled\n')
      const again = await runCli(['signal', ...flags, id, 'kill'])
      assert.equal(again.code, 1)
      assert.match(again.stderr, /^cc-executor: .*has already ended \(-32002\)\n$/)
      const json = JSON.parse((await runCli(['ps', ...flags, '--json'])).stdout.toString())
      assert.equal(json.find((r: { id: string }) => r.id === id).status, 'canceled')
    })
  }

  test('ps --label and --status: the server lists only the matching ones; a bad status or label is a usage error (exit 2)', async () => {
    const [a, b] = ['a', 'b'].map((name) => `ps-${name}-${randomUUID().slice(0, 8)}`)
    const ids: Record<string, string> = {}
    for (const [key, label, command] of [['aOk', a, 'true'], ['aFailed', a, 'exit 3'], ['bOk', b, 'true'], ['bFailed', b, 'exit 4']]) {
      const run = await client.execute({ command, label })
      await run.completed
      ids[key] = run.id
    }
    const rowsOf = (result: { stdout: Buffer }) => {
      const [header, ...rows] = result.stdout.toString().trimEnd().split('\n')
      assert.match(header, /^EXECUTION ID +STATUS +EXIT +PID +STARTED +TIME +COMMAND$/)
      return rows.map((row) => row.split(/ +/))
    }
    for (const transport of TRANSPORTS) {
      const flags = ['--url', server.url, '--transport', transport]
      const byLabel = await runCli(['ps', ...flags, '--label', a])
      assert.equal(byLabel.code, 0, byLabel.stderr)
      assert.deepEqual(rowsOf(byLabel).map(([id, status]) => [id, status]), [[ids.aOk, 'completed'], [ids.aFailed, 'failed']])
      const byStatus = rowsOf(await runCli(['ps', ...flags, '--status', 'failed']))
      assert.ok(byStatus.every(([, status]) => status === 'failed'), JSON.stringify(byStatus))
      const ours = new Set(Object.values(ids))
      assert.deepEqual(byStatus.filter(([id]) => ours.has(id)).map(([id]) => id), [ids.aFailed, ids.bFailed])
      const both = JSON.parse((await runCli(['ps', ...flags, '--label', b, '--status', 'failed', '--json'])).stdout.toString())
      assert.deepEqual(both.map((r: { id: string }) => r.id), [ids.bFailed])
      assert.deepEqual(rowsOf(await runCli(['ps', ...flags, '--label', a, '--status', 'running'])), [])
    }
    const badStatus = await runCli(['ps', '--url', server.url, '--status', 'bogus'])
    assert.equal(badStatus.code, 2)
    assert.equal(badStatus.stderr, "error: option '--status <status>' argument 'bogus' is invalid. Allowed choices are running, paused, completed, failed, canceled, timeout, killed, interrupted.\n")
    assert.equal(badStatus.stdout.length, 0)
    const badLabel = await runCli(['ps', '--url', server.url, '--label', 'no!'])
    assert.equal(badLabel.code, 2)
    assert.match(badLabel.stderr, /^error: option '--label <name>' argument 'no!' is invalid\. label must be 1-128 characters/)
  })

  test('logs --follow prints until the end; an unknown id is -32002', async () => {
    const started = await runCli(['run', '--url', server.url, '-d', '--', 'sh', '-c', 'for i in 1 2 3; do echo n $i; sleep 0.2; done'])
    const id = started.stdout.toString().trim()
    const followed = await runCli(['logs', '--url', server.url, '--follow', id])
    assert.equal(followed.stdout.toString(), lines(1, 3, 'n'))
    assert.equal(followed.code, 0)
    const unknown = await runCli(['logs', '--url', server.url, 'no-such-id'])
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /No execution no-such-id \(-32002\)/)
  })

  test('verify exits 125 when it cannot check: an unknown id', async () => {
    const unknown = await runCli(['verify', '--url', server.url, 'no-such-id'])
    assert.equal(unknown.code, 125)
    assert.match(unknown.stderr, /^cc-executor: .*no-such-id/)
    assert.equal(unknown.stdout.length, 0)
  })
})

describe('cc-executor itself', () => {
  test('runs from any directory through a symlink to the launcher (a global install)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-executor-bin-'))
    try {
      const link = join(dir, 'cc-executor')
      symlinkSync(BIN, link)
      const r = spawnSync(link, ['run', '--url', server.url, '--', 'pwd'], { cwd: dir, env: cleanEnv(), encoding: 'utf8', timeout: 30_000 })
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.stdout, `${ROOT.replace(/\/$/, '')}\n`, "the command runs in the server's directory")
      const version = spawnSync(link, ['--version'], { cwd: dir, env: cleanEnv(), encoding: 'utf8' })
      assert.equal(version.stdout, `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('an unknown option or a bad value is a usage error (exit 2); a server that is not there exits 125', async () => {
    const usage = await runCli(['run', '--bogus-option', 'x'])
    assert.equal(usage.code, 2)
    for (const turns of ['abc', '0']) {
      const bad = await runCli(['claude', '--max-turns', turns, 'hi'])
      assert.equal(bad.code, 2)
      assert.match(bad.stderr, /--max-turns <n>' argument '\w+' is invalid\. expected an integer, 1 or more/)
    }
    // A port nothing listens on (fetch refuses port 1 outright, before connecting).
    const nowhere = `http://127.0.0.1:${await freePort()}`
    for (const args of [['run', '--', 'true'], ['claude', 'hi'], ['verify', 'some-id']]) {
      const down = await runCli([args[0], '--url', nowhere, ...args.slice(1)])
      assert.equal(down.code, 125, `${args[0]}: ${down.stderr}`)
      assert.match(down.stderr, /^cc-executor: .*ECONNREFUSED/)
    }
  })

  test('serve: the server with its flags; SIGTERM stops it (exit 0); a bad value exits 2 with one line', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cc-executor-serve-'))
    try {
      const cli = spawnCli(['serve', '--port', '0', '--cc-executor-data-dir', dataDir, '--max-sessions', '3'], { cwd: tmpdir() })
      const port = await new Promise<number>((resolve, reject) => {
        cli.child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${cli.stderr()}`)))
        createInterface({ input: cli.child.stdout! }).on('line', (line) => {
          const entry = JSON.parse(line)
          if (entry.msg === 'listening') resolve(entry.port)
        })
      })
      const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json()
      assert.equal(health.status, 'healthy')
      assert.equal(health.max_sessions, 3)
      const ran = await runCli(['run', '--url', `http://127.0.0.1:${port}`, '--', 'echo', 'served'])
      assert.equal(ran.stdout.toString(), 'served\n')
      cli.child.kill('SIGTERM')
      assert.equal((await cli.result).code, 0)
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
    const bad = await runCli(['serve', '--port', 'eighty'])
    assert.equal(bad.code, 2)
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr)
    assert.match(bad.stderr, /^cc-executor: invalid PORT \(--port\)/)
    assert.equal(bad.stdout.length, 0)
  })
})
