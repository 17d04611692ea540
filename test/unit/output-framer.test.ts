import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { OutputFramer, type OutputPiece } from '../../src/executor/output-framer.ts'

const utf8 = (s: string) => new TextEncoder().encode(s)
const tick = (ms = 5) => new Promise((resolve) => setTimeout(resolve, ms))
const frame = (options?: ConstructorParameters<typeof OutputFramer>[1]) => {
  const pieces: OutputPiece[] = []
  return { framer: new OutputFramer((p) => pieces.push(p), options), pieces }
}

describe('OutputFramer (unit)', () => {
  test('complete lines go out at once, many per message', () => {
    const { framer, pieces } = frame()
    framer.write(utf8('a\nb\nc\n'))
    assert.deepEqual(pieces, [{ data: 'a\nb\nc\n', chunk_index: 0, total_chunks: 1, truncated: false }])
  })

  test('a partial line waits for its newline, or at most flushMs', async () => {
    const { framer, pieces } = frame({ flushMs: 30 })
    framer.write(utf8('one\ntw'))
    assert.deepEqual(pieces.map((p) => p.data), ['one\n'])
    framer.write(utf8('o\nthr'))
    assert.deepEqual(pieces.map((p) => p.data), ['one\n', 'two\n'])
    await new Promise((r) => setTimeout(r, 60))
    assert.deepEqual(pieces.map((p) => p.data), ['one\n', 'two\n', 'thr'])
  })

  test('a multi-byte character split across writes decodes once', () => {
    const { framer, pieces } = frame()
    const bytes = utf8('é🚀\n')
    framer.write(bytes.subarray(0, 2))
    framer.write(bytes.subarray(2, 4))
    framer.write(bytes.subarray(4))
    framer.end()
    assert.equal(pieces.map((p) => p.data).join(''), 'é🚀\n')
  })

  test('an incomplete sequence at the end becomes U+FFFD', () => {
    const { framer, pieces } = frame()
    framer.write(new Uint8Array([0x61, 0xf0, 0x9f]))
    framer.end()
    assert.equal(pieces.map((p) => p.data).join(''), 'a\uFFFD')
  })

  test('a long line is split into chunks; short lines beside it are not', async () => {
    const { framer, pieces } = frame({ maxChunk: 4 })
    framer.write(utf8('ab\n0123456789\ncd\n'))
    await tick()
    assert.deepEqual(pieces, [
      { data: 'ab\n', chunk_index: 0, total_chunks: 1, truncated: false },
      { data: '0123', chunk_index: 0, total_chunks: 3, truncated: true },
      { data: '4567', chunk_index: 1, total_chunks: 3, truncated: true },
      { data: '89\n', chunk_index: 2, total_chunks: 3, truncated: false },
      { data: 'cd\n', chunk_index: 0, total_chunks: 1, truncated: false },
    ])
  })

  test('a chunk boundary never splits a surrogate pair', () => {
    const { framer, pieces } = frame({ maxChunk: 4 })
    framer.write(utf8('abc🚀def\n'))
    assert.ok(pieces.every((p) => !/[\uD800-\uDBFF]$/.test(p.data)))
    assert.equal(pieces.map((p) => p.data).join(''), 'abc🚀def\n')
  })

  test('a partial line longer than holdLimit is sent at once, marked as continuing', () => {
    const { framer, pieces } = frame({ maxChunk: 4, holdLimit: 8 })
    framer.write(utf8('0123456789'))
    assert.equal(pieces.map((p) => p.data).join(''), '0123456789')
    assert.ok(pieces.every((p) => p.truncated))
    framer.write(utf8('end\n'))
    assert.equal(pieces.at(-1)!.data, 'end\n')
  })

  test('reads in bulk become full messages: lines left over from one read wait a tick for the next', async () => {
    const { framer, pieces } = frame({ maxChunk: 1000 })
    const line = `${'x'.repeat(114)}\n`
    const text = line.repeat(100) // 11,500 characters, read in 7 pieces that cut lines anywhere
    for (let at = 0; at < text.length; at += 1700) framer.write(utf8(text.slice(at, at + 1700)))
    const full = Math.floor(1000 / 115) * 115
    assert.ok(pieces.length >= 10, `${pieces.length} messages`)
    assert.ok(pieces.every((p) => p.data.length === full), 'each full: none of one or two lines between them')
    await tick()
    assert.equal(pieces.map((p) => p.data).join(''), text, 'the lines held back go on the next tick')
    assert.ok(pieces.slice(0, -1).every((p) => p.data.length === full))
  })

  test('held lines go on the next tick; a partial line after them still waits for flushMs', async () => {
    const { framer, pieces } = frame({ maxChunk: 10, flushMs: 40 })
    framer.write(utf8('aaaa\nbbbb\ncccc\ndd'))
    assert.deepEqual(pieces.map((p) => p.data), ['aaaa\nbbbb\n'])
    await tick()
    assert.deepEqual(pieces.map((p) => p.data), ['aaaa\nbbbb\n', 'cccc\n'])
    framer.write(utf8('d'))
    await tick()
    assert.equal(pieces.length, 2, 'the partial line is held')
    await tick(60)
    assert.deepEqual(pieces.map((p) => p.data), ['aaaa\nbbbb\n', 'cccc\n', 'ddd'])
  })

  test('lines under one message are never held', () => {
    const { framer, pieces } = frame({ maxChunk: 10 })
    framer.write(utf8('aaaa\nbbbb\n'))
    framer.write(utf8('cc\n'))
    assert.deepEqual(pieces.map((p) => p.data), ['aaaa\nbbbb\n', 'cc\n'])
  })
})
