/**
 * @module claude/verify — the seeds' anti-hallucination check, made exact, for one execution on
 * this server: its transcript read back hashes to the completion's transcript_sha256 with every seq
 * in place, and, for a Claude task, Claude Code's own session transcript holds every tool result we
 * streamed and the final result. A failed check is a value with a detail, never an exception.
 */
import type { Execution, ExecutionStore } from '../executions/registry.ts'
import type { ClaudeRuntime } from '../executions/registry.ts'
import type { Check, VerifyResult } from '../protocol/records.ts'
import type { ExecutionEvent } from '../protocol/schemas.ts'
import { outputHashes } from '../verify.ts'
import { contentText, MAX_EVENT_TEXT } from './stream-json.ts'

export type { Check, VerifyResult } from '../protocol/records.ts'

/** What our transcript says: its output hashes, whether its seqs run 1..n, and the tool results it streamed. */
async function readOurs(store: ExecutionStore, id: string) {
  const output: ExecutionEvent[] = []
  const toolResults: { tool_use_id: string; content: string; content_length?: number }[] = []
  let expected = 1
  let gap: string | null = null
  for await (const line of store.read(id, 1)) {
    const event = JSON.parse(line) as ExecutionEvent
    if (event.params.seq !== expected && gap === null) gap = `seq ${event.params.seq} where ${expected} was due`
    expected = event.params.seq + 1
    if (event.method === 'process.output') output.push(event)
    else if (event.method === 'claude.event' && event.params.kind === 'tool_result') {
      const { tool_use_id, content, content_length } = event.params as unknown as { tool_use_id: string; content: string; content_length?: number }
      toolResults.push({ tool_use_id, content, content_length })
    }
  }
  return { hashes: await outputHashes(output), lastSeq: expected - 1, gap, toolResults }
}

/** What Claude Code's own transcript holds: tool results by id, and the text of every assistant message. */
function readClaudes(text: string) {
  const toolResults = new Map<string, string>()
  const texts = new Set<string>()
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue
    let entry: { type?: unknown; message?: { content?: unknown } }
    try {
      entry = JSON.parse(line)
    } catch {
      continue
    }
    const content = entry.message?.content
    if (!Array.isArray(content)) continue
    const blocks = content.filter((b): b is Record<string, unknown> => typeof b === 'object' && b !== null)
    if (entry.type === 'user') {
      for (const b of blocks) if (b.type === 'tool_result' && typeof b.tool_use_id === 'string') toolResults.set(b.tool_use_id, contentText(b.content))
    } else if (entry.type === 'assistant') {
      const parts = blocks.filter((b) => b.type === 'text' && typeof b.text === 'string').map((b) => b.text as string)
      for (const part of parts) texts.add(part)
      if (parts.length > 1) texts.add(parts.join(''))
    }
  }
  return { toolResults, texts }
}

/**
 * Verifies an execution against its records.
 *
 * @example
 * const { verified, checks } = await verifyExecution(registry.lookup(id), { store, claude })
 */
export async function verifyExecution(execution: Execution, { store, claude }: { store?: ExecutionStore; claude?: ClaudeRuntime }): Promise<VerifyResult> {
  const record = execution.record()
  const checks: Check[] = []
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail })
  const done = () => ({ execution_id: record.id, verified: checks.length > 0 && checks.every((c) => c.ok), checks })

  if (record.state !== 'exited' || !record.transcript_sha256) {
    check('completed', false, record.state === 'exited' ? 'the completion carries no transcript_sha256' : `the execution is still ${record.state}`)
    return done()
  }
  check('completed', true, `${record.status}, last seq ${record.last_seq}`)
  if (!store) {
    check('transcript', false, 'this server keeps no transcripts (no store)')
    return done()
  }
  let ours: Awaited<ReturnType<typeof readOurs>>
  try {
    ours = await readOurs(store, record.id)
  } catch (error) {
    check('transcript', false, `our transcript cannot be read: ${String(error)}`)
    return done()
  }
  const complete = ours.gap === null && ours.lastSeq === record.last_seq
  check('transcript', complete, complete ? `seq 1-${ours.lastSeq}, none missing` : (ours.gap ?? `ends at seq ${ours.lastSeq}, the record at ${record.last_seq}`))
  const expected = record.transcript_sha256
  const same = expected.stdout === ours.hashes.stdout && expected.stderr === ours.hashes.stderr
  check('transcript_sha256', same, same ? `stdout ${expected.stdout.slice(0, 12)}…, stderr ${expected.stderr.slice(0, 12)}…` : 'the transcript\'s output does not hash to transcript_sha256')
  if (record.kind !== 'claude') return done()

  const recorded = record.claude_transcript
  let path = recorded
  let text = path && claude ? await claude.readText(path).catch(() => null) : null
  if (text === null && recorded && claude?.findTranscript) {
    path = await claude.findTranscript(recorded).catch(() => null)
    text = path ? await claude.readText(path).catch(() => null) : null
  }
  if (text === null) {
    check('claude_transcript', false, recorded ? `Claude Code's transcript ${recorded} is missing or unreadable` : 'no Claude session is known for this task')
    return done()
  }
  check('claude_transcript', true, path!)
  const theirs = readClaudes(text)
  // A result cut in its claude.event matches by its beginning and its length.
  const matches = (r: (typeof ours.toolResults)[number], their: string | undefined) =>
    their !== undefined && (r.content_length === undefined ? their === r.content : their.length === r.content_length && their.startsWith(r.content))
  const missing = ours.toolResults.filter((r) => !matches(r, theirs.toolResults.get(r.tool_use_id)))
  check(
    'tool_results',
    missing.length === 0,
    missing.length === 0
      ? `all ${ours.toolResults.length} streamed tool results are in Claude's transcript`
      : `${missing.length} of ${ours.toolResults.length} streamed tool results are missing or differ in Claude's transcript (first: ${missing[0].tool_use_id})`,
  )
  const result = record.claude?.result ?? null
  if (result === null || result === '') check('result', true, 'the task reported no result text')
  else {
    // A result in a stream-json line longer than LONG_LINE is cut at MAX_EVENT_TEXT, like every string there.
    const found = theirs.texts.has(result) || (result.length === MAX_EVENT_TEXT && [...theirs.texts].some((t) => t.startsWith(result)))
    check('result', found, found ? 'the final result is in Claude\'s transcript' : 'the final result is not in Claude\'s transcript')
  }
  return done()
}
