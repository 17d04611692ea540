import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { eventText, parseReceived } from '../src/protocol/jsonrpc.ts'
import type { ExecutionEvent } from '../src/protocol/schemas.ts'

const output = (data: string): ExecutionEvent => ({
  jsonrpc: '2.0',
  method: 'process.output',
  params: { execution_id: 'e-1', seq: 7, type: 'stdout', data, chunk_index: 0, total_chunks: 1, truncated: false },
})

describe('eventText (unit)', () => {
  // Plain text takes the replaceAll path; everything else must fall back to JSON.stringify's escaping.
  const samples = {
    plain: 'line one\nline two\n',
    'no newline': 'x'.repeat(1000),
    empty: '',
    tab: 'a\tb\n',
    'carriage return': '10%\r20%\r',
    escape: '\u001b[31mred\u001b[0m\n',
    nul: 'a\u0000b',
    quote: 'say "hi"\n',
    backslash: 'C:\\path\\n\n',
    unicode: 'héllo wörld ✓\n',
    emoji: '🙂 pair\n',
    'lone surrogate': 'bad \ud800 half',
    'line separators': 'a\u2028b\u2029c\n',
    'DEL and C1': '\u007f\u0085\n',
  }
  for (const [name, data] of Object.entries(samples)) {
    test(`${name}: the text parses back to the same event`, () => {
      const event = output(data)
      const text = eventText(event)
      assert.deepEqual(JSON.parse(text), event)
      assert.equal(text.includes('\n'), false, 'one event is one NDJSON line')
    })
  }

  test('other events are JSON.stringify', () => {
    const event: ExecutionEvent = { jsonrpc: '2.0', method: 'process.paused', params: { execution_id: 'e-1', seq: 3 } }
    assert.equal(eventText(event), JSON.stringify(event))
  })

  test('an event parsed with parseReceived is forwarded with the text it came with', () => {
    // Key order and spacing differ from what eventText would make: the received text is kept as it is.
    const line = '{ "params": {"seq": 1, "execution_id": "e-1"}, "method": "process.resumed", "jsonrpc": "2.0" }'
    const event = parseReceived(line) as ExecutionEvent
    assert.equal(eventText(event), line)
    assert.equal(eventText({ ...event }), JSON.stringify(event), 'a copy is serialised afresh')
  })
})
