/**
 * The CLI's `claude`: a Claude task shown as a conversation, with the job control, exit codes and
 * `verify` of the other commands; the real Claude Code CLI against the scripted Messages API.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { rmSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { ExecutorClient } from '../../src/client/index.ts'
import { recordOf, runCli, spawnCli, type CliProcess } from '../helpers/cli.ts'
import { runThenReport, startClaudeServer, type ClaudeServer } from '../helpers/messages-api.ts'
import { eventually, processState } from '../helpers/proc.ts'
import { startServer } from '../helpers/server.ts'

const TASK_TIMEOUT = 60_000

let ctx: ClaudeServer
let client: ExecutorClient
before(async () => {
  ctx = await startClaudeServer()
  client = new ExecutorClient({ url: ctx.server.url, transport: 'http' })
})
after(async () => {
  await client.close()
  await ctx.close()
})

/** The summary line's session and execution id. */
function summaryOf(stderr: string, status = 'completed') {
  const summary = new RegExp(`\\[${status}\\] session (\\S+) · (\\S+) turns · \\S+ · [\\d.]+s · execution (\\S+)`).exec(stderr)
  assert.ok(summary, stderr)
  return { session: summary[1], turns: summary[2], id: summary[3] }
}

/** A task whose Bash tool call sleeps until it is ended, once the CLI shows the call. */
async function longTask(args: string[] = []): Promise<{ cli: CliProcess; marker: string }> {
  ctx.setScript(runThenReport)
  const marker = `cli-claude-${randomUUID()}`
  const cli = spawnCli(['claude', '--url', ctx.server.url, ...args, `sleep 613 # ${marker}`])
  await eventually(() => cli.stderr().includes('→ Bash'), TASK_TIMEOUT, 'the tool call')
  return { cli, marker }
}

describe('cc-executor claude', () => {
  test('shows the text on stdout, the tool call and a summary on stderr, and verify checks it', async () => {
    ctx.setScript(runThenReport)
    const result = await runCli(['claude', '--url', ctx.server.url, '--max-turns', '3', '--label', 'cli', 'echo from-the-cli'], { timeoutMs: TASK_TIMEOUT })
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout.toString(), 'I will run it.\nThe command printed: from-the-cli\n')
    assert.match(result.stderr, /→ Bash \{"command":"echo from-the-cli"/)
    assert.match(result.stderr, /← from-the-cli/)
    const summary = /\[completed\] session ([0-9a-f-]{36}) · 2 turns · \$\d+\.\d{4} · [\d.]+s · execution (\S+)/.exec(result.stderr)
    assert.ok(summary, result.stderr)
    const verify = await runCli(['verify', '--url', ctx.server.url, summary[2]])
    assert.equal(verify.code, 0, verify.stdout.toString() + verify.stderr)
    assert.match(verify.stdout.toString(), /^OK /)
    assert.match(verify.stdout.toString(), /ok {3}tool_results: all 1 streamed tool results/)
    const json = await runCli(['claude', '--url', ctx.server.url, '--json', '--resume', summary[1], 'echo again'], { timeoutMs: TASK_TIMEOUT })
    assert.equal(json.code, 0, json.stderr)
    const lines = json.stdout.toString().trim().split('\n').map((l) => JSON.parse(l))
    assert.equal(lines[0].type, 'system')
    assert.equal(lines[0].session_id, summary[1])
    assert.equal(lines.at(-1).type, 'result')
    const bad = await runCli(['claude', '--url', ctx.server.url, '--resume', 'x;y', 'hi'])
    assert.equal(bad.code, 125)
    assert.match(bad.stderr, /resume must be a Claude session id/)
  })

  test("verify's headline is FAILED, naming the check, once Claude's transcript is removed", async () => {
    ctx.setScript(runThenReport)
    const result = await runCli(['claude', '--url', ctx.server.url, 'echo verify-me'], { timeoutMs: TASK_TIMEOUT })
    assert.equal(result.code, 0, result.stderr)
    const { id } = summaryOf(result.stderr)
    rmSync((await client.status(id)).claude_transcript!)
    const verify = await runCli(['verify', '--url', ctx.server.url, id])
    assert.equal(verify.code, 1)
    const [headline, ...checks] = verify.stdout.toString().trimEnd().split('\n')
    assert.equal(headline, `FAILED ${id}: the server's check claude_transcript failed`)
    assert.ok(checks.some((line) => line.startsWith('  FAIL claude_transcript: ')), verify.stdout.toString())
  })

  test("Claude Code's own stderr is shown (-q hides it); the prompt may follow --allowed-tools after --", async () => {
    const missing = randomUUID()
    const result = await runCli(['claude', '--url', ctx.server.url, '--resume', missing, '--allowed-tools', 'Bash', 'Read', '--', 'hi'], { timeoutMs: TASK_TIMEOUT })
    assert.equal(result.code, 1)
    assert.match(result.stderr, new RegExp(`No conversation found with session ID: ${missing}`))
    assert.match(result.stderr, /\[failed\] session/)
    const quiet = await runCli(['claude', '--url', ctx.server.url, '-q', '--resume', missing, 'hi'], { timeoutMs: TASK_TIMEOUT })
    assert.equal(quiet.code, 1)
    assert.equal(quiet.stderr, '')
  })

  for (const [signal, code] of [['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    test(`${signal} cancels the task; the CLI exits ${code}`, async () => {
      const { cli } = await longTask()
      cli.child.kill(signal)
      const result = await cli.result
      assert.equal(result.code, code, result.stderr)
      const { id } = summaryOf(result.stderr, 'canceled')
      assert.equal((await client.status(id)).status, 'canceled')
    })
  }

  test('a closed stdout (| head) cancels the task; the CLI exits 141', async () => {
    ctx.setScript(runThenReport)
    const marker = `cli-claude-${randomUUID()}`
    const cli = spawnCli(['claude', '--url', ctx.server.url, `sleep 613 # ${marker}`])
    cli.child.stdout!.destroy()
    const result = await cli.result
    assert.equal(result.code, 141, result.stderr)
    const { id } = summaryOf(result.stderr, 'canceled')
    assert.equal((await client.status(id)).status, 'canceled')
    assert.doesNotMatch(result.stderr, /EPIPE/)
  })

  test('Ctrl-Z (SIGTSTP) pauses the task and stops the CLI, SIGCONT resumes it, Ctrl-C cancels it (130)', async (t) => {
    const { cli, marker } = await longTask()
    // Failed half-way, the CLI would stay stopped, and its paused task with it, past this file's end.
    t.after(() => {
      if (cli.child.exitCode !== null || cli.child.signalCode !== null) return
      cli.child.kill('SIGCONT')
      cli.child.kill('SIGINT')
    })
    const { id, pid } = await recordOf(client, marker)
    cli.child.kill('SIGTSTP')
    await eventually(() => processState(cli.child.pid!) === 'T', 15_000, 'the CLI to stop')
    // A process in uninterruptible sleep (D: a page fault from disk) stops once it leaves it.
    await eventually(() => processState(pid!) === 'T', 5000, 'Claude Code to be stopped')
    assert.equal((await client.status(id)).state, 'paused')
    cli.child.kill('SIGCONT')
    await eventually(() => processState(pid!) !== 'T', 5000, 'Claude Code to run again')
    assert.equal((await client.status(id)).state, 'running')
    cli.child.kill('SIGINT')
    const result = await cli.result
    assert.equal(result.code, 130, result.stderr)
    summaryOf(result.stderr, 'canceled')
    assert.equal((await client.status(id)).status, 'canceled')
  })
})

test('a server whose CLAUDE_BIN does not exist: exit 127, naming the setting', async () => {
  const server = await startServer({ CLAUDE_BIN: '/nonexistent/claude-code' })
  try {
    const result = await runCli(['claude', '--url', server.url, 'hi'])
    assert.equal(result.code, 127)
    assert.match(result.stderr, /^cc-executor: Claude Code cannot be started \(CLAUDE_BIN=\/nonexistent\/claude-code\)/)
  } finally {
    await server.stop()
  }
})
