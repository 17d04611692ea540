import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Frame } from '../../src/protocol/frame.ts'
import { eventFrame, OutputFields, parseReceived } from '../../src/protocol/jsonrpc.ts'
import type { ExecutionEvent } from '../../src/protocol/schemas.ts'

const output = (data: string): ExecutionEvent => ({
  jsonrpc: '2.0',
  method: 'process.output',
  params: { execution_id: 'e-1', seq: 7, type: 'stdout', data, chunk_index: 0, total_chunks: 1, truncated: false },
})

/** The event's text, after checking that its bytes are that text's UTF-8. */
const eventText = (event: ExecutionEvent): string => {
  const frame = eventFrame(event)
  const text = frame.text
  assert.equal(Buffer.from(frame.bytes).toString('utf8'), text, 'bytes and text agree')
  assert.equal(Buffer.from(eventFrame(event).bytes).toString('utf8'), text, 'and so does a frame whose bytes are asked for first')
  assert.equal(Buffer.from(eventFrame(event).line).toString('utf8'), `${text}\n`, 'and its line is its bytes and a newline')
  return text
}

describe('eventFrame (unit)', () => {
  // Long ASCII plain text is written as bytes (WebAssembly), shorter plain text with replaceAll;
  // everything else must fall back to JSON.stringify's escaping.
  const samples = {
    'long plain': 'a line of output\n'.repeat(100),
    'long plain, one newline': `${'x'.repeat(5000)}\n`,
    'long with a quote at the end': `${'ab\n'.repeat(300)}"`,
    'long with a tab': `${'ab\n'.repeat(300)}\t`,
    'long non-ASCII': `${'ab\n'.repeat(300)}é`,
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

  for (const [name, data] of Object.entries(samples)) {
    test(`${name}: parseReceived of that text gives the same event, forwarded with the same text`, () => {
      const text = eventText(output(data))
      const received = parseReceived(text) as ExecutionEvent
      assert.equal(eventText(received), text)
      assert.deepEqual(JSON.parse(JSON.stringify(received)), output(data), 'the lazily parsed data serialises too')
      assert.deepEqual(received, output(data))
    })
  }

  test('parseReceived: output lines of another shape are parsed whole; a bad data literal fails when read', () => {
    const dataFirst = '{"jsonrpc":"2.0","method":"process.output","params":{"data":"x\\n","execution_id":"e-1","seq":7,"type":"stdout"}}'
    assert.equal((parseReceived(dataFirst) as { params: { data: string } }).params.data, 'x\n')
    const spaced = '{"jsonrpc":"2.0","method":"process.output","params":{"execution_id":"e-1","seq":7,"type":"stdout","data": "y"}}'
    assert.equal((parseReceived(spaced) as { params: { data: string } }).params.data, 'y')
    const broken = '{"jsonrpc":"2.0","method":"process.output","params":{"execution_id":"e-1","seq":7,"type":"stdout","data":"a\u0001"b"}}'
    const event = parseReceived(broken) as { params: { seq: number; data: string } }
    assert.equal(event.params.seq, 7)
    assert.throws(() => event.params.data, SyntaxError)
    assert.throws(() => parseReceived('{"jsonrpc":"2.0","method":"process.output","params":{"seq":,"data":"z"}}'), SyntaxError)
  })

  test('a Frame made from text or from its line gives every form, and its size is what it was made of', () => {
    const text = '{"a":"é"}'
    const fromText = Frame.ofText(text)
    assert.equal(fromText.size, text.length)
    assert.deepEqual([...fromText.bytes], [...Buffer.from(text)])
    assert.deepEqual([...fromText.line], [...Buffer.from(`${text}\n`)])
    const fromLine = Frame.ofLine(Buffer.from(`${text}\n`))
    assert.equal(fromLine.size, Buffer.byteLength(text))
    assert.equal(fromLine.text, text)
    assert.deepEqual([...fromLine.bytes], [...Buffer.from(text)])
    assert.throws(() => Frame.ofLine(Buffer.from(text)), /ends with a newline/)
  })

  test("a Frame's UTF-8 length is counted once for text, and taken from its bytes for a line", () => {
    const text = '{"a":"é€😀"}'
    const counted: string[] = []
    const count = (t: string) => (counted.push(t), Buffer.byteLength(t))
    const fromText = Frame.ofText(text)
    assert.equal(fromText.utf8Length(count), Buffer.byteLength(text))
    assert.equal(fromText.utf8Length(count), Buffer.byteLength(text))
    assert.deepEqual(counted, [text], 'counted once')
    assert.equal(Frame.ofLine(Buffer.from(`${text}\n`)).utf8Length(count), Buffer.byteLength(text))
    assert.equal(counted.length, 1, 'a line has its length without counting')
  })

  test('an output event is JSON.stringify of it with data moved last, whatever the shape of its params', () => {
    const dataLast = (event: ExecutionEvent) => {
      const { data, ...rest } = event.params as { data: string }
      return JSON.stringify({ ...event, params: { ...rest, data } })
    }
    const changed = (params: Record<string, unknown>) => ({ ...output('x'), params: { ...output('x').params, ...params } }) as unknown as ExecutionEvent
    const shapes: ExecutionEvent[] = [
      output('usual\n'),
      output('x'.repeat(2000)),
      changed({ execution_id: 'e "1" \\ é', type: 'stderr' }),
      changed({ data: 'cut', chunk_index: 2, total_chunks: 3, truncated: true }),
      { jsonrpc: '2.0', method: 'process.output', params: { execution_id: 'e-1', seq: 1, type: 'stdout', data: 'fewer members' } } as unknown as ExecutionEvent,
      changed({ extra: 1 }),
      changed({ seq: '7', truncated: 0 }),
      // Short output whose data is already last (as the recorder makes it), ASCII or not, with escapes.
      { jsonrpc: '2.0', method: 'process.output', params: { execution_id: 'e-1', seq: 2, type: 'stdout', chunk_index: 0, total_chunks: 1, truncated: false, data: 'a "b" \\ é\u0001\n' } } as ExecutionEvent,
      changed({ extra: 1, data: 'last again' }),
    ]
    for (const event of shapes) assert.equal(eventText(event), dataLast(event))
  })

  test("an executor's own output params (OutputFields) are written out as JSON.stringify would, at every length and with any characters", () => {
    const made = (data: string, id = 'e-1', type: 'stdout' | 'stderr' = 'stdout', chunk = [0, 1, false] as const) => ({
      jsonrpc: '2.0',
      method: 'process.output',
      params: new OutputFields(id, 42, type, chunk[0], chunk[1], chunk[2], data),
    }) as ExecutionEvent
    const texts = ['', 'usual\n', 'a "b" \\ é\u0001\n\t', '日本 🚀\n', '\ud800 lone', 'x'.repeat(255), 'x'.repeat(256), 'y\n'.repeat(400), 'é'.repeat(700), 'z'.repeat(70_000)]
    for (const data of texts) {
      const event = made(data)
      assert.equal(eventText(event), JSON.stringify(event), `data of ${data.length}`)
      assert.equal(JSON.stringify(event), JSON.stringify({ ...event, params: { ...event.params } }), 'members in their wire order, data last')
    }
    const other = made('cut', 'e "q" \\', 'stderr', [2, 3, true] as never)
    assert.equal(eventText(other), JSON.stringify(other))
  })

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
