import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { TestClient } from '../helpers/client.ts'
import { startServer, type RunningServer } from '../helpers/server.ts'

let server: RunningServer
before(async () => {
  server = await startServer()
})
after(async () => {
  await server.stop()
})

describe('execute over WebSocket against real processes', () => {
  test('the first frame is connected, with a session id, the version and the capabilities', async () => {
    const client = await TestClient.connect(server.wsUrl)
    const first = await client.waitFor(() => true)
    assert.equal(first.method, 'connected')
    assert.match(first.params.session_id, /^[0-9a-f-]{36}$/)
    assert.match(first.params.version, /^\d+\.\d+\.\d+/)
    assert.ok(first.params.capabilities.includes('execute'))
    assert.ok(first.params.capabilities.includes('control'))
    await client.close()
  })

  test('the execute result precedes every notification, seq has no gaps and completion is last', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { id, completed } = await client.run({ command: 'for i in 1 2 3; do echo line $i; echo err $i >&2; done' })
    const resultIndex = client.frames.findIndex((f) => f.result?.execution_id === id)
    const firstEvent = client.frames.findIndex((f) => f.params?.execution_id === id)
    assert.ok(resultIndex >= 0 && resultIndex < firstEvent, 'result comes before the first notification')
    const events = client.events(id)
    assert.deepEqual(events.map((e) => e.params.seq), events.map((_, i) => i + 1))
    assert.equal(events[0].method, 'process.started')
    assert.equal(events.at(-1)!.method, 'process.completed')
    assert.equal(events.filter((e) => e.method === 'process.completed').length, 1)
    assert.equal(completed.seq, events.length)
    await client.close()
  })

  test('stdout and stderr stay separate, with exact byte counts', async () => {
    const client = await TestClient.open(server.wsUrl)
    const r = await client.run({ command: 'echo out; echo err >&2; echo out2' })
    assert.equal(r.stdout, 'out\nout2\n')
    assert.equal(r.stderr, 'err\n')
    assert.equal(r.completed.stdout_bytes, 9)
    assert.equal(r.completed.stderr_bytes, 4)
    await client.close()
  })

  test('exit code 0 completes, 3 fails, and a missing command fails with 127', async () => {
    const client = await TestClient.open(server.wsUrl)
    const ok = await client.run({ command: 'true' })
    assert.equal(ok.completed.status, 'completed')
    assert.equal(ok.completed.exit_code, 0)
    assert.equal(ok.completed.signal, null)
    const three = await client.run({ command: 'exit 3' })
    assert.equal(three.completed.status, 'failed')
    assert.equal(three.completed.exit_code, 3)
    const missing = await client.run({ command: 'definitely-not-a-command-xyz' })
    assert.equal(missing.completed.status, 'failed')
    assert.equal(missing.completed.exit_code, 127)
    assert.match(missing.stderr, /not found/)
    for (const c of [ok, three, missing]) {
      assert.equal(typeof c.completed.execution_time, 'number')
      assert.ok(c.completed.reason.length > 0)
    }
    await client.close()
  })

  test('unicode passes intact and invalid UTF-8 bytes become U+FFFD', async () => {
    const client = await TestClient.open(server.wsUrl)
    const text = 'héllo wörld ✓ 日本語 🚀'
    const r = await client.run({ argv: ['printf', '%s\\n', text] })
    assert.equal(r.stdout, `${text}\n`)
    const bad = await client.run({ command: "printf 'a\\377\\376b\\n'" })
    assert.equal(bad.stdout, 'a\uFFFD\uFFFDb\n')
    assert.equal(bad.completed.stdout_bytes, 5)
    // A 4-byte character split by the pipe across two reads must still decode as one character.
    const split = await client.run({ command: "printf '\\360\\237'; sleep 0.01; printf '\\232\\200\\n'" })
    assert.equal(split.stdout, '🚀\n')
    await client.close()
  })

  test('a line read alone reaches the client and the transcript as printed, at every message size around the WebSocket header forms and the small-message limit', async () => {
    const client = await TestClient.open(server.wsUrl)
    // One line per read: a short ASCII message is written by the socket adapter from its string, a
    // longer or non-ASCII one from bytes. Message sizes span 125/126 (the header's 7- and 16-bit
    // lengths) through the 4,096-byte small-message limit.
    const lines = [
      'a',
      ...[3, 4, 5, 6, 7, 8].map((n) => 'x'.repeat(n)),
      ...Array.from({ length: 24 }, (_, i) => 'y'.repeat(3_900 + 8 * i)),
      'é'.repeat(40),
      '日本 🚀',
      'q"\\\t'.repeat(30),
    ]
    const script = `import sys, time\nfor line in ${JSON.stringify(lines)}:\n    sys.stdout.write(line + "\\n"); sys.stdout.flush(); time.sleep(0.005)`
    const { id, stdout, completed } = await client.run({ argv: ['python3', '-c', script] })
    assert.equal(stdout, lines.map((line) => `${line}\n`).join(''))
    assert.equal(completed.stdout_bytes, Buffer.byteLength(stdout))
    const sizes = client.events(id).filter((e) => e.method === 'process.output').map((e) => Buffer.byteLength(JSON.stringify(e)))
    assert.ok(sizes.some((s) => s < 4096) && sizes.some((s) => s > 4096), `message sizes span the limit: ${sizes.join(', ')}`)
    // Each event is in the transcript before it is sent: the completion's arrival means all of them are there.
    const transcript = readFileSync(join(server.dataDir, `${id}.ndjson`), 'utf8').split('\n')
    assert.equal(transcript.pop(), '', 'every transcript line ends with a newline')
    const written = transcript.map((line) => JSON.parse(line)).filter((e) => e.method === 'process.output')
    assert.equal(written.map((e) => e.params.data).join(''), stdout)
    await client.close()
  })

  test('a 200,000-character line arrives whole, in numbered chunks', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { execution_id: id } = await client.execute({ command: "head -c 200000 /dev/zero | tr '\\0' x; echo" })
    await client.completion(id)
    const chunks = client.events(id).filter((f) => f.method === 'process.output')
    assert.equal(chunks.map((c) => c.params.data).join(''), 'x'.repeat(200_000) + '\n')
    assert.equal(chunks.length, 4)
    chunks.forEach((c, i) => {
      assert.equal(c.params.chunk_index, i)
      assert.equal(c.params.total_chunks, 4)
      assert.equal(c.params.truncated, i < 3)
      assert.ok(c.params.data.length <= 65_536)
    })
    await client.close()
  })

  test('10,000 lines arrive complete and in order, many lines per message', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { id, stdout } = await client.run({ command: 'seq 1 10000' })
    assert.equal(stdout, Array.from({ length: 10_000 }, (_, i) => `${i + 1}\n`).join(''))
    const messages = client.events(id).filter((f) => f.method === 'process.output').length
    assert.ok(messages < 1000, `coalesced into ${messages} messages`)
    await client.close()
  })

  test('a partial line is shown within 50 ms, before the process continues', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { execution_id: id } = await client.execute({ command: "printf 'Password: '; sleep 2; echo done" })
    const started = Date.now()
    const prompt = await client.waitFor((f) => f.method === 'process.output' && f.params.execution_id === id)
    assert.equal(prompt.params.data, 'Password: ')
    assert.ok(Date.now() - started < 1000, 'the prompt arrived while the command was still sleeping')
    assert.equal(client.frames.some((f) => f.method === 'process.completed'), false)
    await client.completion(id)
    assert.equal(client.output(id), 'Password: done\n')
    await client.close()
  })

  test('cat does not hang: stdin is closed by default', async () => {
    const client = await TestClient.open(server.wsUrl)
    const r = await client.run({ command: 'cat' }, 5000)
    assert.equal(r.completed.status, 'completed')
    assert.equal(r.stdout, '')
    await client.close()
  })

  test('stdin as a string is written and closed; stdin "pipe" takes input requests', async () => {
    const client = await TestClient.open(server.wsUrl)
    const given = await client.run({ command: 'tr a-z A-Z', stdin: 'hello\n' })
    assert.equal(given.stdout, 'HELLO\n')
    const { execution_id: id } = await client.execute({ command: 'while read line; do echo "got $line"; done', stdin: 'pipe' })
    const w = await client.request('input', { data: 'one\n' })
    assert.deepEqual(w.result, { written: 4 })
    await client.waitFor((f) => f.method === 'process.output' && f.params.data.includes('got one'))
    await client.request('input', { data: 'two\n', eof: true })
    const done = await client.completion(id)
    assert.equal(done.params.status, 'completed')
    assert.equal(client.output(id), 'got one\ngot two\n')
    const closed = await client.request('input', { data: 'x', execution_id: id })
    assert.equal(closed.error?.code, -32002)
    await client.close()
  })

  test('input waiting for a child that does not read is bounded by MAX_BUFFER_SIZE: more is refused with -32005', async () => {
    const client = await TestClient.open(server.wsUrl)
    const { execution_id: id } = await client.execute({ command: 'sleep 30', stdin: 'pipe' })
    const fiveMB = 'x'.repeat(5_000_000)
    // Sent without waiting for the replies: the first is held (the pipe takes 64 KiB), the second would pass 8 MiB.
    const first = client.request('input', { data: fiveMB })
    const second = await client.request('input', { data: fiveMB })
    assert.equal(second.error?.code, -32005, JSON.stringify(second.error))
    assert.match(second.error.message, /stdin/)
    await client.request('control', { type: 'CANCEL' })
    assert.equal((await first).error?.code, -32002, 'the held input fails once the child is gone: it was never read')
    await client.completion(id)

    // A reader keeps up: input sent without waiting, but within the bound, all arrives.
    const { execution_id: counted } = await client.execute({ command: 'wc -c', stdin: 'pipe' })
    const replies = await Promise.all([1, 2, 3, 4].map(() => client.request('input', { data: 'y'.repeat(1_000_000) })))
    assert.deepEqual(replies.map((r) => r.result?.written), [1_000_000, 1_000_000, 1_000_000, 1_000_000])
    await client.request('input', { data: '', eof: true })
    await client.completion(counted)
    assert.equal(client.output(counted).trim(), '4000000')
    await client.close()
  })

  test('argv runs without a shell, and cwd and env are honoured', async () => {
    const client = await TestClient.open(server.wsUrl)
    const literal = await client.run({ argv: ['echo', '$HOME', '; rm -rf /', '`id`'] })
    assert.equal(literal.stdout, '$HOME ; rm -rf / `id`\n')
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'cc-exec-cwd-')))
    const cwd = await client.run({ command: 'pwd', cwd: dir })
    assert.equal(cwd.stdout, `${dir}\n`)
    const env = await client.run({ command: 'echo "$CC_TEST_VALUE|$PYTHONUNBUFFERED|${PATH:+path}"', env: { CC_TEST_VALUE: 'a b=c' } })
    assert.equal(env.stdout, 'a b=c|1|path\n', 'env merges over the server environment, with unbuffering on')
    const badCwd = await client.request('execute', { command: 'pwd', cwd: join(dir, 'missing') })
    assert.equal(badCwd.error?.code, -32602)
    const missingProgram = await client.request('execute', { argv: ['no-such-program-xyz'] })
    assert.equal(missingProgram.error?.code, -32603)
    assert.equal((missingProgram.error?.data as { cause: string }).cause, 'ENOENT')
    await client.close()
    rmSync(dir, { recursive: true })
  })

  test('each argument and env entry is at most 131,071 UTF-8 bytes (MAX_ARG_STRLEN): more is -32602 and nothing starts; too much in all is -32602 E2BIG', async () => {
    const client = await TestClient.open(server.wsUrl)
    const count = async () => (await client.request('list', {})).result.executions.length
    const fits = 'x'.repeat(131_071)
    const counted = await client.run({ argv: ['sh', '-c', 'printf %s "$1" | wc -c', 'sh', fits] })
    assert.equal(counted.stdout.trim(), '131071')
    const command = await client.run({ command: `echo fits #${'x'.repeat(131_071 - 'echo fits #'.length)}` })
    assert.equal(command.stdout, 'fits\n')
    const before = await count()
    // 50,000 characters of 3 bytes each: under any limit in characters, 150,000 bytes in UTF-8.
    const wide = '€'.repeat(50_000)
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ command: `echo ${'x'.repeat(131_067)}` }, /command must be at most 131071 bytes in UTF-8/],
      [{ command: `echo ${wide}` }, /command must be at most 131071 bytes/],
      [{ argv: ['echo', `${fits}x`] }, /argv.* must be at most 131071 bytes/],
      [{ argv: ['echo', wide] }, /argv.* must be at most 131071 bytes/],
      [{ command: 'true', env: { BIG: wide } }, /env variables must be at most 131071 bytes/],
      // An array is not an object of variables (v.record alone would make it {"0": "A=1"}).
      [{ command: 'true', env: ['A=1'] }, /env must be an object/],
    ]
    for (const [params, message] of cases) {
      const reply = await client.request('execute', params)
      assert.equal(reply.error?.code, -32602, `${reply.error?.message}`)
      assert.match(reply.error!.message, message)
    }
    // Each fits, but 20 of them are more than the system's ARG_MAX (2 MiB here).
    const together = await client.request('execute', { argv: ['echo', ...Array<string>(20).fill(fits)] })
    assert.equal(together.error?.code, -32602)
    assert.equal((together.error?.data as { cause: string }).cause, 'E2BIG')
    assert.match(together.error!.message, /too large together/)
    assert.equal(await count(), before, 'nothing was started')
    await client.close()
  })

  test('a client-chosen execution_id is used, and a duplicate is refused', async () => {
    const client = await TestClient.open(server.wsUrl)
    const r = await client.run({ command: 'echo x', execution_id: 'job-42' })
    assert.equal(r.id, 'job-42')
    const dup = await client.request('execute', { command: 'echo y', execution_id: 'job-42' })
    assert.equal(dup.error?.code, -32602)
    const status = await client.request('status', { execution_id: 'job-42' })
    assert.equal(status.result.status, 'completed')
    assert.equal(status.result.exit_code, 0)
    const list = await client.request('list')
    assert.ok(list.result.executions.some((e: { id: string }) => e.id === 'job-42'))
    await client.close()
  })
})
