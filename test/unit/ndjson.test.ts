import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { NdjsonParseStream } from '../../src/protocol/ndjson.ts'

async function parse(chunks: string[]): Promise<unknown[]> {
  const values: unknown[] = []
  const source = new ReadableStream<string>({
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

  test('a last line without a newline is parsed at the end', async () => {
    assert.deepEqual(await parse(['{"a":1}\n{"b"', ':2}']), [{ a: 1 }, { b: 2 }])
  })

  test('a malformed line errors the stream', async () => {
    await assert.rejects(parse(['{"a":1}\n{"b":\n']), SyntaxError)
  })
})
