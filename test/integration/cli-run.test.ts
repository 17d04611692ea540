/** The CLI's `run`: streams, exit codes, reconnection, job control, the status line. */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ExecutorClient } from '../../src/client/index.ts'
import { BIN, cleanEnv, lines, recordOf, runCli, spawnCli } from '../helpers/cli.ts'
import { eventually, groupMembers, processState, sleep } from '../helpers/proc.ts'
import { ROOT, startServer, type RunningServer } from '../helpers/server.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

const TRANSPORTS = ['ws', 'http'] as const
// A long SIGTERM → SIGKILL grace, so that a second Ctrl-C (KILL) is seen to cut it short.
const KILL_GRACE_MS = 15_000

let server: RunningServer
let client: ExecutorClient
before(async () => {
  server = await startServer({ KILL_GRACE_MS: String(KILL_GRACE_MS) })
  client = new ExecutorClient({ url: server.url, transport: 'http' })
})
after(async () => {
  await client.close()
  await server.stop()
})

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

for (const transport of TRANSPORTS) {
  describe(`cc-executor run (${transport})`, () => {
    const url = () => ['--url', server.url, '--transport', transport]

    test("stdout to stdout, stderr to stderr, and the remote exit code: run -- sh -c 'echo out; echo err >&2; exit 7'", async () => {
      const result = await runCli(['run', ...url(), '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'])
      assert.equal(result.stdout.toString(), 'out\n')
      assert.equal(result.stderr, 'err\n')
      assert.equal(result.code, 7)
    })

    test('5 MB of UTF-8 (multi-byte characters, a line longer than a chunk) arrive byte for byte as a local run prints them', async () => {
      const command =
        'awk \'BEGIN { for (i = 0; i < 120000; i++) printf "%06d é ✓ 日本語 🎉 %s\\n", i, substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26); ' +
        'for (j = 0; j < 40000; j++) printf "日本"; printf "\\n"; for (i = 0; i < 3000; i++) printf "err %d ü ✗\\n", i > "/dev/stderr" }\''
      const local = spawnSync('bash', ['-c', command], { maxBuffer: 64 * 1024 * 1024 })
      assert.equal(local.status, 0)
      assert.ok(local.stdout.length > 5_000_000, `${local.stdout.length} bytes`)
      const remote = await runCli(['run', ...url(), command], { timeoutMs: 60_000 })
      assert.equal(remote.code, 0, remote.stderr.slice(0, 500))
      assert.equal(remote.stdout.length, local.stdout.length)
      assert.equal(sha256(remote.stdout), sha256(local.stdout))
      assert.equal(sha256(Buffer.from(remote.stderr)), sha256(local.stderr))
    })

    test('a connection dropped mid-run loses nothing: the CLI reconnects after the last seq it has', async () => {
      const proxy = await startTcpProxy(server.port)
      try {
        const cli = spawnCli(['run', '--url', proxy.url, '--transport', transport, '--', 'sh', '-c', 'for i in $(seq 1 60); do echo line $i; sleep 0.05; done; echo end >&2; exit 3'])
        await eventually(() => cli.stdout().includes('line 8\n'), 10_000, 'line 8')
        assert.ok(proxy.breakAll() > 0, 'a live connection was cut')
        const result = await cli.result
        assert.equal(result.stdout.toString(), lines(1, 60))
        assert.equal(result.stderr, 'end\n')
        assert.equal(result.code, 3)
        assert.ok(proxy.accepted >= 2, 'it connected again')
        if (transport === 'http') assert.ok(proxy.requests.some((r) => /events\?after_seq=\d+/.test(r)), proxy.requests.join('\n'))
      } finally {
        await proxy.close()
      }
    })

    test('Ctrl-C (SIGINT) cancels the remote process group; the CLI exits 130', async () => {
      const marker = `sigint-${randomUUID()}`
      const cli = spawnCli(['run', ...url(), '--', 'sh', '-c', `echo ${marker}; sleep 30 & sleep 30; wait`])
      await eventually(() => cli.stdout().includes(marker), 10_000, 'the command to start')
      const { pgid, id } = await recordOf(client, marker)
      assert.ok(groupMembers(pgid!).length >= 2, 'the group runs')
      cli.child.kill('SIGINT')
      const result = await cli.result
      assert.equal(result.code, 130)
      assert.equal(result.stderr, '', 'no noise: the user asked for it')
      await eventually(() => groupMembers(pgid!).length === 0, 5000, 'the group to be gone')
      assert.equal((await client.status(id)).status, 'canceled')
    })
  })
}

describe('cc-executor run: job control', () => {
  test('a second Ctrl-C kills at once what ignores SIGTERM', async () => {
    const marker = `twice-${randomUUID()}`
    const cli = spawnCli(['run', '--url', server.url, '--', 'sh', '-c', `trap '' TERM; echo ${marker}; sleep 30`])
    await eventually(() => cli.stdout().includes(marker), 10_000, 'the command to start')
    const { pgid } = await recordOf(client, marker)
    cli.child.kill('SIGINT')
    await sleep(700)
    assert.ok(groupMembers(pgid!).length > 0, 'SIGTERM is ignored: the group lives on through the grace')
    assert.equal(cli.child.exitCode, null, 'the CLI waits for the end')
    const killedAt = Date.now()
    cli.child.kill('SIGINT')
    const result = await cli.result
    assert.equal(result.code, 130)
    assert.ok(Date.now() - killedAt < KILL_GRACE_MS / 3, 'KILL did not wait for the grace')
    await eventually(() => groupMembers(pgid!).length === 0, 3000, 'the group to be gone')
  })

  test('Ctrl-Z (SIGTSTP) pauses the remote process and stops the CLI; SIGCONT resumes both', async () => {
    const marker = `tstp-${randomUUID()}`
    const cli = spawnCli(['run', '--url', server.url, '--', 'sh', '-c', `echo ${marker}; for i in $(seq 1 30); do echo tick $i; sleep 0.1; done`])
    await eventually(() => cli.stdout().includes('tick 3\n'), 10_000, 'tick 3')
    const { pid } = await recordOf(client, marker)
    cli.child.kill('SIGTSTP')
    const waitFor = (check: () => boolean, ms: number, what: string) =>
      eventually(check, ms, what).catch((error: Error) => {
        throw new Error(`${error.message}; the CLI's stderr: ${JSON.stringify(cli.stderr())}`)
      })
    await waitFor(() => processState(cli.child.pid!) === 'T', 15_000, 'the CLI to stop')
    await waitFor(() => processState(pid!) === 'T', 5000, 'the remote process to be paused')
    const seen = cli.stdout()
    await sleep(600)
    assert.equal(cli.stdout(), seen, 'nothing runs while stopped')
    cli.child.kill('SIGCONT')
    const result = await cli.result
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout.toString(), `${marker}\n${lines(1, 30, 'tick')}`)
  })
})

describe('the status line', () => {
  const scriptRun = (inner: string) =>
    spawnSync('script', ['-qfec', inner, '/dev/null'], { env: cleanEnv({ SHELL: '/bin/sh' }), cwd: ROOT, timeout: 30_000 }).stdout.toString('utf8')

  test('on a TTY stderr: drawn in place, cleared before output, never in stdout', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-executor-cli-'))
    try {
      const out = join(dir, 'stdout')
      const terminal = scriptRun(`${quote(process.execPath)} ${quote(BIN)} run --url ${server.url} -- sh -c 'sleep 1; echo done; echo oops >&2; sleep 0.6' > ${quote(out)}`)
      assert.match(terminal, /\r\x1b\[2K\x1b\[2m\[cc-executor [0-9a-f]{8}\] running \d+\.\ds \| heartbeat /, JSON.stringify(terminal.slice(0, 300)))
      assert.ok(terminal.includes('\r\x1b[2Koops\r\n'), 'stderr output starts on a cleared line')
      assert.ok(terminal.lastIndexOf('\r\x1b[2K') > terminal.lastIndexOf('[cc-executor'), 'cleared before exit')
      assert.equal(readFileSync(out, 'utf8'), 'done\n', 'stdout holds exactly the output')
      // stdout on the same terminal: the line is cleared before stdout is written, too.
      const both = scriptRun(`${quote(process.execPath)} ${quote(BIN)} run --url ${server.url} -- sh -c 'sleep 0.8; echo done'`)
      assert.match(both, /\[cc-executor [0-9a-f]{8}\] running/)
      assert.ok(both.includes('\r\x1b[2Kdone\r\n'), JSON.stringify(both.slice(-200)))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('without a TTY: no status line, no escape codes', async () => {
    const result = await runCli(['run', '--url', server.url, '--', 'sh', '-c', 'sleep 0.8; echo done; echo oops >&2'])
    assert.equal(result.code, 0)
    assert.equal(result.stdout.toString(), 'done\n')
    assert.equal(result.stderr, 'oops\n')
  })
})

