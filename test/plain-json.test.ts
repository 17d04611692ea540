import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import wabt from 'wabt'
import { isPlainJsonText, PLAIN_WASM, plainScanner } from '../src/protocol/plain-json.ts'
import { ROOT } from './helpers/server.ts'

/** The definition isPlainJsonText() must agree with. */
const plainByDefinition = (text: string) => JSON.stringify(text) === `"${text.replaceAll('\n', '\\n')}"`

describe('isPlainJsonText (unit)', () => {
  test('the embedded WebAssembly is what plain-json.wat compiles to', async () => {
    const source = readFileSync(join(ROOT, 'src/protocol/plain-json.wat'), 'utf8')
    const module = (await wabt()).parseWat('plain-json.wat', source, { simd: true })
    assert.equal(Buffer.from(module.toBinary({}).buffer).toString('base64'), PLAIN_WASM)
  })

  test('on Node, long texts are checked by the WebAssembly scanner', () => {
    assert.equal(plainScanner(), 'wasm')
  })

  test('agrees with JSON.stringify for every character at every place in 16-byte lanes, short and long texts', () => {
    const specials = [...Array(0x80).keys()].map((c) => String.fromCharCode(c))
    specials.push('\u0080', 'é', '\u2028', '🙂', '\ud800', '\udfff')
    let checked = 0
    for (const length of [40, 512, 600, 1007, 65_536]) {
      const base = 'abcdefghijklmno\n'.repeat(Math.ceil(length / 16)).slice(0, length)
      assert.equal(isPlainJsonText(base), true)
      for (const at of new Set([0, 1, 15, 16, 17, length >> 1, length - 17, length - 16, length - 2, length - 1])) {
        for (const ch of specials) {
          const text = base.slice(0, at) + ch + base.slice(at + 1)
          const where = `${JSON.stringify(ch)} at ${at} of ${length}`
          // Surrogates, paired or not, are left to JSON.stringify: "not plain" is allowed there, never a wrong "plain".
          if (/[\ud800-\udfff]/.test(ch)) assert.equal(isPlainJsonText(text), false, where)
          else assert.equal(isPlainJsonText(text), plainByDefinition(text), where)
          checked += 1
        }
      }
    }
    assert.ok(checked > 5000)
  })

  test('a text longer than the scanner memory, and one after a longer one, are still checked', () => {
    const long = 'x'.repeat(300_000)
    assert.equal(isPlainJsonText(long), true)
    assert.equal(isPlainJsonText(`${long}"`), false)
    // The scanner memory still holds the end of an earlier, longer text: it must not be read.
    assert.equal(isPlainJsonText(`${'"'.repeat(2000)}`), false)
    assert.equal(isPlainJsonText('y'.repeat(1000)), true)
  })

  test('where WebAssembly is missing (node --jitless, as in runtimes that forbid compiling it), the regular expression decides', () => {
    const script = [
      `import { isPlainJsonText, plainScanner } from ${JSON.stringify(join(ROOT, 'src/protocol/plain-json.ts'))}`,
      "const long = 'abc\\n'.repeat(500)",
      "console.log(JSON.stringify([typeof WebAssembly, plainScanner(), isPlainJsonText(long), isPlainJsonText(long + '\"'), isPlainJsonText(long + '\\t')]))",
    ].join('\n')
    const out = execFileSync(process.execPath, ['--jitless', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    assert.deepEqual(JSON.parse(out), ['undefined', 'regexp', true, false, false])
  })
})
