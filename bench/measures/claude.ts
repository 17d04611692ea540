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
import { rssKiB } from '../../test/helpers/proc.ts'
import type { RpcClient } from '../../test/helpers/rpc-client.ts'

const SESSION = '0b9e3c1a-5f7d-4c1e-9a2b-7d8e6f5a4b3c'

/** `events` stream-json lines: init, then assistant text / tool_use / user tool_result in turn, then a result. */
export function recordedStream(events: number): string {
  const lines = [JSON.stringify({ type: 'system', subtype: 'init', session_id: SESSION, cwd: '/work', model: 'claude-test', tools: ['Bash'] })]
  for (let i = 1; i < events - 1; i += 1) {
    const kind = i % 3
    if (kind === 0) lines.push(JSON.stringify({ type: 'assistant', message: { role: 'assistant', content: [{ type: 'text', text: `Step ${i}: looking at the build output and deciding what to run next.` }] }, session_id: SESSION }))
    else if (kind === 1) lines.push(JSON.stringify({ type: 'assistant', message: { role: 'assistant', content: [{ type: 'tool_use', id: `toolu_${i}`, name: 'Bash', input: { command: `npm test -- --grep case-${i}` } }] }, session_id: SESSION }))
    else lines.push(JSON.stringify({ type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_${i - 1}`, content: `ok ${i} - case-${i - 1} passes\n# pass 1\n# fail 0`, is_error: false }] }, session_id: SESSION }))
  }
  lines.push(JSON.stringify({ type: 'result', subtype: 'success', is_error: false, num_turns: events / 3, total_cost_usd: 1.25, duration_ms: 1000, duration_api_ms: 900, result: 'done', session_id: SESSION }))
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
  /** Peak server RSS during the run minus before it, KiB. */
  peakGrowthKiB: number
  errors: string[]
}

/** One run: a Claude task (`claude`) or a plain `cat` of the same file (`execute`), every frame parsed. */
export async function replayRun(client: RpcClient, serverPid: number, kind: 'claude' | 'execute', file: string, expectedBytes: number): Promise<ReplayRun> {
  let bytes = 0
  let claudeEvents = 0
  const before = rssKiB(serverPid) ?? 0
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
  clearInterval(sampler)
  peak = Math.max(peak, rssKiB(serverPid) ?? 0)
  const errors: string[] = []
  if (bytes !== expectedBytes) errors.push(`${kind}: received ${bytes} bytes of output, expected ${expectedBytes}`)
  if (completed.status !== 'completed') errors.push(`${kind}: status ${completed.status}`)
  return { ms, bytes, claudeEvents, peakGrowthKiB: peak - before, errors }
}
