/**
 * Measure 10: Claude tasks. A recorded stream-json stream (written here: 100,000 events of the
 * shapes Claude Code prints) replayed through a Claude task (CLAUDE_BIN is a script that prints the
 * file) against the same bytes through plain execute (`cat` of the file): parsing must not be the
 * bottleneck. And one tool_result line of 5 MB: the server's peak RSS growth while it passes,
 * against the line's size.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cpuMs, rssKiB } from '../../test/helpers/proc.ts'
import type { RpcClient } from '../../test/helpers/rpc-client.ts'

const SESSION = '0b9e3c1a-5f7d-4c1e-9a2b-7d8e6f5a4b3c'

/** A uuid-shaped id for line `i` (Claude Code gives every line one). */
const uuid = (i: number, salt: number) => `${(i * 2654435761 + salt).toString(16).padStart(8, '0').slice(-8)}-5f7d-4c1e-9a2b-${i.toString(16).padStart(12, '0')}`

/**
 * `events` stream-json lines: init, then assistant text / tool_use / user tool_result in turn, then
 * a result, each line with the envelope Claude Code 2.1 prints around its content block (message
 * id, model, usage, uuid, session id; a tool result's `tool_use_result`), as recorded from the real
 * CLI against the tests' scripted Messages API: about 450 bytes a line.
 */
export function recordedStream(events: number): string {
  const lines = [JSON.stringify({ type: 'system', subtype: 'init', cwd: '/work', session_id: SESSION, tools: ['Task', 'Bash', 'Edit', 'Read', 'Write'], mcp_servers: [], model: 'claude-test', permissionMode: 'default', apiKeySource: 'ANTHROPIC_API_KEY', claude_code_version: '2.1.197', output_style: 'default', uuid: uuid(0, 1) })]
  const assistant = (i: number, block: unknown) =>
    JSON.stringify({ type: 'assistant', message: { id: `msg_${uuid(Math.floor(i / 3), 7).replaceAll('-', '')}`, type: 'message', role: 'assistant', model: 'claude-test', content: [block], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10 + i, output_tokens: 1 }, context_management: null }, parent_tool_use_id: null, session_id: SESSION, uuid: uuid(i, 3) })
  for (let i = 1; i < events - 1; i += 1) {
    const kind = i % 3
    if (kind === 0) lines.push(assistant(i, { type: 'text', text: `Step ${i}: looking at the build output and deciding what to run next.` }))
    else if (kind === 1) lines.push(assistant(i, { type: 'tool_use', id: `toolu_${i}`, name: 'Bash', input: { command: `npm test -- --grep case-${i}`, description: 'run the failing case' } }))
    else {
      const stdout = `ok ${i} - case-${i - 1} passes\n# pass 1\n# fail 0`
      lines.push(JSON.stringify({ type: 'user', message: { role: 'user', content: [{ tool_use_id: `toolu_${i - 1}`, type: 'tool_result', content: stdout, is_error: false }] }, parent_tool_use_id: null, session_id: SESSION, uuid: uuid(i, 5), timestamp: new Date(Date.UTC(2026, 11, 6) + i).toISOString(), tool_use_result: { stdout, stderr: '', interrupted: false, isImage: false, noOutputExpected: false } }))
    }
  }
  lines.push(JSON.stringify({ type: 'result', subtype: 'success', is_error: false, api_error_status: null, duration_ms: 1000, duration_api_ms: 900, num_turns: events / 3, result: 'done', stop_reason: 'end_turn', session_id: SESSION, total_cost_usd: 1.25, usage: { input_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 24, service_tier: 'standard' }, modelUsage: {}, permission_denials: [], terminal_reason: 'completed', fast_mode_state: 'off', uuid: uuid(events, 9) }))
  return `${lines.join('\n')}\n`
}

/** One init, a tool_result line of `bytes` characters, and a result. */
export function bigToolResultStream(bytes: number): string {
  return recordedStream(2).replace('\n', `\n${JSON.stringify({ type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'x'.repeat(bytes) }] } })}\n`)
}

/** A directory with a stream file and a CLAUDE_BIN that prints it, whatever its arguments. */
export function replayKit(stream: string): { dir: string; file: string; bin: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'cc-claude-replay-'))
  const file = join(dir, 'stream.jsonl')
  const bin = join(dir, 'claude-replay')
  writeFileSync(file, stream)
  writeFileSync(bin, `#!/bin/sh\nexec cat '${file}'\n`)
  chmodSync(bin, 0o755)
  return { dir, file, bin, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface ReplayRun {
  ms: number
  bytes: number
  claudeEvents: number
  /** The server's CPU time (all its threads) over the run, ms. */
  serverCpuMs: number
  /** Peak server RSS during the run minus before it, KiB. */
  peakGrowthKiB: number
  errors: string[]
}

/** One run: a Claude task (`claude`) or a plain `cat` of the same file (`execute`), every frame parsed. */
export async function replayRun(client: RpcClient, serverPid: number, kind: 'claude' | 'execute', file: string, expectedBytes: number): Promise<ReplayRun> {
  let bytes = 0
  let claudeEvents = 0
  const before = rssKiB(serverPid) ?? 0
  const cpuBefore = cpuMs(serverPid) ?? Number.NaN
  let peak = before
  const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(serverPid) ?? 0)), 5)
  const start = process.hrtime.bigint()
  const params = kind === 'claude' ? { prompt: 'replay' } : { argv: ['cat', file] }
  const execution = client.start(params, (frame) => {
    if (frame.method === 'process.output') bytes += Buffer.byteLength(frame.params.data as string, 'utf8')
    else if (frame.method === 'claude.event') claudeEvents += 1
  }, kind)
  const completed = await execution.completed
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  const serverCpuMs = (cpuMs(serverPid) ?? Number.NaN) - cpuBefore
  clearInterval(sampler)
  peak = Math.max(peak, rssKiB(serverPid) ?? 0)
  const errors: string[] = []
  if (bytes !== expectedBytes) errors.push(`${kind}: received ${bytes} bytes of output, expected ${expectedBytes}`)
  if (completed.status !== 'completed') errors.push(`${kind}: status ${completed.status}`)
  return { ms, bytes, claudeEvents, serverCpuMs, peakGrowthKiB: peak - before, errors }
}
