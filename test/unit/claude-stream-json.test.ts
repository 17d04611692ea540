/** Unit tests of the stream-json parser and the Claude argv, on a recorded stream (test/fixtures). */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { claudeArgv, ClaudeParams, MAX_EVENT_TEXT, parseWith, StreamJsonParser, type ClaudeEventFields } from '../../src/index.ts'
import { eventsOf, LONG_LINE } from '../../src/claude/stream-json.ts'

const FIXTURE = readFileSync(new URL('../fixtures/stream-json.jsonl', import.meta.url), 'utf8')

const feed = (pieces: string[]) => {
  const parser = new StreamJsonParser()
  const events: ClaudeEventFields[] = []
  for (const piece of pieces) events.push(...parser.write(piece))
  events.push(...parser.end())
  return { parser, events }
}

test('a recorded stream gives one event per content block, in order, and keeps the summary', () => {
  const { parser, events } = feed([FIXTURE])
  assert.deepEqual(
    events.map((e) => e.kind),
    ['init', 'retry', 'rate_limit', 'text', 'tool_use', 'tool_result', 'text', 'text', 'rate_limit', 'text', 'result'],
  )
  assert.deepEqual(events[0], { kind: 'init', session_id: '0b9e3c1a-5f7d-4c1e-9a2b-7d8e6f5a4b3c', model: 'claude-test', cwd: '/work', tools: ['Bash', 'Read'] })
  assert.deepEqual(events[1], { kind: 'retry', attempt: 1, retry_delay_ms: 577, error_status: 429, error: 'rate_limit' })
  assert.deepEqual(events[2], { kind: 'rate_limit', status: 'allowed_warning', resets_at: 1796600000, error: null })
  assert.deepEqual(events[4], { kind: 'tool_use', id: 'toolu_01', name: 'Bash', input: { command: 'ls' } })
  assert.deepEqual(events[5], { kind: 'tool_result', tool_use_id: 'toolu_01', content: 'a.txt\nb.txt', is_error: false })
  // Two text blocks of one message stay two events; a subagent's carry its parent tool call.
  assert.deepEqual(events.slice(6, 8), [
    { kind: 'text', text: 'Two files.', parent_tool_use_id: 'toolu_00' },
    { kind: 'text', text: ' Done.', parent_tool_use_id: 'toolu_00' },
  ])
  assert.deepEqual(events[8], { kind: 'rate_limit', status: 'rejected', resets_at: null, error: 'overloaded' })
  assert.equal(parser.sessionId, '0b9e3c1a-5f7d-4c1e-9a2b-7d8e6f5a4b3c')
  assert.equal(parser.result?.result, 'Two files. Done.')
  assert.equal(parser.result?.num_turns, 2)
  assert.equal(parser.result?.total_cost_usd, 0.0012)
  assert.equal(parser.toolInUse, null, 'the tool call has its result')
})

test('split at every position, the stream parses to the same events', () => {
  const whole = feed([FIXTURE]).events
  for (let at = 1; at < FIXTURE.length; at += 7) {
    assert.deepEqual(feed([FIXTURE.slice(0, at), FIXTURE.slice(at)]).events, whole, `split at ${at}`)
  }
  const bytewise = feed(FIXTURE.match(/[^]{1,3}/g)!).events
  assert.deepEqual(bytewise, whole)
})

test('a 5 MB line in 64 KiB pieces becomes one tool_result, its content cut at MAX_EVENT_TEXT and saying so', () => {
  const content = 'x'.repeat(5 * 1024 * 1024)
  const line = `${JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't', content }] } })}\n`
  const pieces: string[] = []
  for (let i = 0; i < line.length; i += 65_536) pieces.push(line.slice(i, i + 65_536))
  const { events } = feed(pieces)
  assert.equal(events.length, 1)
  assert.deepEqual(events[0], { kind: 'tool_result', tool_use_id: 't', content: content.slice(0, MAX_EVENT_TEXT), content_truncated: true, content_length: content.length, is_error: false })
  const short = feed([`${JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 'y'.repeat(MAX_EVENT_TEXT) }] } })}\n`]).events
  assert.deepEqual(short, [{ kind: 'text', text: 'y'.repeat(MAX_EVENT_TEXT) }], 'exactly MAX_EVENT_TEXT is not cut')
})

/** `line` in pieces of `size` characters. */
const pieces = (line: string, size: number) => line.match(new RegExp(`[^]{1,${size}}`, 'g'))!

test('a line longer than LONG_LINE, read as it comes, gives the events its whole parse gives, escapes and all', () => {
  // Escapes (\n, \", \\, \uXXXX) sit on both sides of the cut and of every piece boundary; two
  // long blocks of one tool_result join, and a long text and a short one are blocks of one message.
  const unit = 'ab\n"q"\\ \u00e9\u2603 \ud83d\ude00 \u0001x'
  const long = unit.repeat(Math.ceil(LONG_LINE / unit.length) + 7)
  const lines = [
    { type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: long }, { type: 'text', text: 'tail' }, { type: 'text', text: long }], is_error: true }] } },
    { type: 'assistant', message: { content: [{ type: 'text', text: long.slice(0, 1000) }, { type: 'text', text: long }, { type: 'tool_use', id: 'u', name: 'Write', input: { file_path: '/x', content: long } }] } },
    { type: 'result', subtype: 'success', is_error: false, result: 'short', session_id: 's', usage: { note: long.slice(5, LONG_LINE + 9) } },
  ].map((json) => JSON.stringify(json))
  for (const line of lines) {
    assert.ok(line.length > LONG_LINE)
    // What an event carries of any string is cut at MAX_EVENT_TEXT: a tool call's input too, saying so.
    const whole = eventsOf(JSON.parse(line)).map((event) =>
      event.kind === 'tool_use' ? { ...event, input: { file_path: '/x', content: long.slice(0, MAX_EVENT_TEXT) }, input_truncated: true } : event,
    )
    for (const size of [65_536, 4099, 1_000_003]) {
      const { events } = feed([...pieces(line, size), '\n'])
      const expected = whole.map((event) => (event.kind === 'result' ? { ...event, usage: { note: (event.usage as { note: string }).note.slice(0, MAX_EVENT_TEXT) } } : event))
      assert.deepEqual(events, expected, `pieces of ${size}`)
    }
  }
  const [first] = feed([lines[0], '\n']).events
  assert.ok(first.kind === 'tool_result' && first.content_truncated && first.content_length === long.length * 2 + 4, 'the joined length counts the cut blocks whole')
})

test('a long line whose structure alone outgrows the skeleton stays plain output; the next line parses', () => {
  const line = JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't', content: 'ok' }] }, numbers: Array.from({ length: 2_500_000 }, (_, i) => i % 10) })
  const after = JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 'next' }] } })
  assert.deepEqual(feed([...pieces(`${line}\n${after}\n`, 65_536)]).events, [{ kind: 'text', text: 'next' }])
})

test('lines that are not JSON, not objects, or of unknown types yield nothing; a last line without newline counts', () => {
  assert.deepEqual(feed(['plain text\n', '[1,2]\n', '{"broken": \n', '{"type":"nope"}\n', '42\n']).events, [])
  const { events } = feed(['{"type":"assistant","message":{"content":[{"type":"text","text":"tail"}]}}'])
  assert.deepEqual(events, [{ kind: 'text', text: 'tail' }])
})

test('the tool in use is the latest call still waiting for its result', () => {
  const parser = new StreamJsonParser()
  parser.write(`${JSON.stringify({ type: 'assistant', message: { content: [{ type: 'tool_use', id: 'a', name: 'Bash', input: {} }] } })}\n`)
  assert.equal(parser.toolInUse, 'Bash')
  parser.write(`${JSON.stringify({ type: 'assistant', message: { content: [{ type: 'tool_use', id: 'b', name: 'Read', input: {} }] } })}\n`)
  assert.equal(parser.toolInUse, 'Read')
  parser.write(`${JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 'b', content: '' }] } })}\n`)
  assert.equal(parser.toolInUse, 'Bash')
})

test('the argv is built from the params, the prompt last after --, never a shell string', () => {
  const parsed = parseWith(ClaudeParams, { prompt: '--help; rm -rf /', model: 'sonnet', max_turns: 3, allowed_tools: ['Bash(git add:*)', 'Read'], resume: 'abc-123' })
  assert.ok(parsed.ok)
  assert.deepEqual(claudeArgv('claude', parsed.value), [
    'claude', '-p', '--output-format', 'stream-json', '--verbose',
    '--model', 'sonnet', '--max-turns', '3', '--resume', 'abc-123', '--allowed-tools', 'Bash(git add:*)', 'Read',
    '--', '--help; rm -rf /',
  ])
  assert.equal(parseWith(ClaudeParams, { prompt: 'x', resume: '$(id)' }).ok, false)
  assert.equal(parseWith(ClaudeParams, { prompt: 'x', allowed_tools: ['--dangerously-skip-permissions'] }).ok, false)
  assert.equal(parseWith(ClaudeParams, { prompt: 'x', cwd: '/tmp', label: 'nightly build' }).ok, true)
})
