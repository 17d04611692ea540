import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { NdjsonParseStream } from '../../src/protocol/ndjson.ts'

async function parse(chunks: (string | Uint8Array)[]): Promise<unknown[]> {
  const values: unknown[] = []
  const source = new ReadableStream<string | Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk)
      controller.close()
    },
  })
  for await (const value of source.pipeThrough(new NdjsonParseStream())) values.push(value)
  return values
}

describe('NdjsonParseStream (unit)', () => {
  const values = [{ a: 1 }, { long: 'x'.repeat(300) }, [1, 2], 'text', { last: true }]
  const text = `${values.map((v) => JSON.stringify(v)).join('\n')}\n  \n\n`

  test('every split of the text into two chunks, and one character per chunk, gives the same values', async () => {
    for (let at = 0; at <= text.length; at++) assert.deepEqual(await parse([text.slice(0, at), text.slice(at)]), values, `split at ${at}`)
    assert.deepEqual(await parse([...text]), values)
  })

  test('UTF-8 bytes split anywhere, inside a multi-byte character too, give the same values', async () => {
    const wide = [{ s: 'grüße ✓ 🎉' }, { t: 'ok' }]
    const bytes = new TextEncoder().encode(`${wide.map((v) => JSON.stringify(v)).join('\n')}\n`)
    for (let at = 0; at <= bytes.length; at++) assert.deepEqual(await parse([bytes.subarray(0, at), bytes.subarray(at)]), wide, `split at byte ${at}`)
    assert.deepEqual(await parse([...bytes].map((b) => Uint8Array.of(b))), wide)
    // A last line whose bytes end without a newline is decoded and parsed at the end.
    assert.deepEqual(await parse([new TextEncoder().encode('{"z":"ü"}')]), [{ z: 'ü' }])
  })

  test('a last line without a newline is parsed at the end', async () => {
    assert.deepEqual(await parse(['{"a":1}\n{"b"', ':2}']), [{ a: 1 }, { b: 2 }])
  })

  test('a malformed line errors the stream', async () => {
    await assert.rejects(parse(['{"a":1}\n{"b":\n']), SyntaxError)
  })
})
