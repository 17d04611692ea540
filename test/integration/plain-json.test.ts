import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import wabt from 'wabt'
import { isPlainJsonText, PLAIN_WASM, plainJsonBytes, plainScanner } from '../../src/protocol/plain-json.ts'
import { ROOT } from '../helpers/server.ts'

/** The definition both checks must agree with. */
const plainByDefinition = (text: string) => JSON.stringify(text) === `"${text.replaceAll('\n', '\\n')}"`
const isAscii = (text: string) => /^[\0-\x7f]*$/.test(text)
const utf8 = (text: string) => Buffer.from(text, 'utf8')

/** What plainJsonBytes must return for `text` between HEAD and TAIL. */
const HEAD = '{"id":"é","data":"'
const TAIL = '"}'
function expected(text: string): Buffer | false | undefined {
  if (text.length < 512 || !isAscii(text)) return undefined
  return plainByDefinition(text) ? utf8(`${HEAD}${text.replaceAll('\n', '\\n')}${TAIL}`) : false
}
function check(text: string, where: string): void {
  const got = plainJsonBytes(HEAD, text, TAIL)
  const want = expected(text)
  if (want instanceof Buffer) {
    assert.ok(got instanceof Uint8Array, `${where}: bytes expected, got ${String(got)}`)
    assert.ok(want.equals(got), `${where}: wrong bytes`)
  } else assert.equal(got, want, where)
}

/** A small deterministic generator (xorshift32), so that a failure can be reproduced. */
function random(seed: number): () => number {
  let x = seed
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

describe('plain JSON output (unit)', () => {
  test('the embedded WebAssembly is what plain-json.wat compiles to', async () => {
    const source = readFileSync(join(ROOT, 'src/protocol/plain-json.wat'), 'utf8')
    const module = (await wabt()).parseWat('plain-json.wat', source, { simd: true })
    assert.equal(Buffer.from(module.toBinary({}).buffer).toString('base64'), PLAIN_WASM)
  })

  test('on Node, long output is written by the WebAssembly loop', () => {
    assert.equal(plainScanner(), 'wasm')
  })

  test('plainJsonBytes agrees with JSON.stringify for every ASCII character and more, at every place in 16-byte lanes', () => {
    const specials = [...Array(0x80).keys()].map((c) => String.fromCharCode(c))
    specials.push('\u0080', 'é', '\u2028', '🙂', '\ud800', '\udfff')
    let checked = 0
    for (const length of [40, 511, 512, 600, 1007, 4_100]) {
      const base = 'abcdefghijklmno\n'.repeat(Math.ceil(length / 16)).slice(0, length)
      check(base, `base of ${length}`)
      for (const at of new Set([0, 1, 15, 16, 17, length >> 1, length - 17, length - 16, length - 2, length - 1])) {
        for (const ch of specials) {
          check(base.slice(0, at) + ch + base.slice(at + 1), `${JSON.stringify(ch)} at ${at} of ${length}`)
          checked += 1
        }
      }
    }
    assert.ok(checked > 5000)
  })

  test('plainJsonBytes: newlines anywhere, several to a 16-byte block, at any length', () => {
    const next = random(0x9e3779b9)
    for (const alphabet of ['a\n', 'ab\n\n', 'abcdefghij\n', 'abcdefghijklmnopqrstuvwxyz \n', 'ab\n"\\\t~\x7f']) {
      for (let round = 0; round < 300; round += 1) {
        const length = 512 + Math.floor(next() * 1500)
        let text = ''
        for (let i = 0; i < length; i += 1) text += alphabet[Math.floor(next() * alphabet.length)]
        check(text, `${JSON.stringify(alphabet)} round ${round}`)
      }
    }
  })

  test('plainJsonBytes: texts beyond its memory grow it, and what a longer text left there is never read', () => {
    const long = 'x\n'.repeat(150_000)
    check(long, '300,000 characters')
    check(`${long}"`, 'a quote at the end of 300,001')
    // The memory still holds the end of the longer text: a short one must not read it.
    check('y'.repeat(1000), 'a shorter text after it')
    check(`${'"'.repeat(2000)}`, 'quotes after it')
    assert.equal(plainJsonBytes(HEAD, 'z'.repeat(1_048_577), TAIL), undefined, 'longer than 1 MiB: left to the string path')
  })

  test('isPlainJsonText (the string path) agrees with JSON.stringify, and leaves surrogates to it', () => {
    for (const ch of [...Array(0x80).keys()].map((c) => String.fromCharCode(c)).concat(['é', '\u2028'])) {
      const text = `ab${ch}cd\n`
      assert.equal(isPlainJsonText(text), plainByDefinition(text), JSON.stringify(ch))
    }
    // "Not plain" is allowed there (JSON.stringify escapes lone ones), never a wrong "plain".
    assert.equal(isPlainJsonText('a🙂b'), false)
    assert.equal(isPlainJsonText('a\ud800b'), false)
  })

  test('where WebAssembly is missing (node --jitless, as in runtimes that forbid compiling it), output is made as a string', () => {
    const script = [
      `import { plainJsonBytes, plainScanner } from ${JSON.stringify(join(ROOT, 'src/protocol/plain-json.ts'))}`,
      `import { eventFrame } from ${JSON.stringify(join(ROOT, 'src/protocol/jsonrpc.ts'))}`,
      "const data = 'abc\\n'.repeat(500)",
      "const event = { jsonrpc: '2.0', method: 'process.output', params: { execution_id: 'e', seq: 1, type: 'stdout', data } }",
      'console.log(JSON.stringify([typeof WebAssembly, plainScanner(), plainJsonBytes("", data, ""), eventFrame(event).text === JSON.stringify(event)]))',
    ].join('\n')
    const out = execFileSync(process.execPath, ['--jitless', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    assert.deepEqual(JSON.parse(out), ['undefined', 'string', null, true])
  })
})
