import wabt from '/work/main/node_modules/wabt/index.js'
import { readFileSync } from 'node:fs'
const w = await wabt()
const bin = w.parseWat('esc.wat', readFileSync('/tmp/mb/esc7/esc.wat', 'utf8'), { simd: true }).toBinary({}).buffer
const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bin)) as any
const mem = new Uint8Array(exports.memory.buffer)
const enc = new TextEncoder(), dec = new TextDecoder()
const esc = (s: string) => { const { written } = enc.encodeInto(s, mem); const end = exports.escape(written, 131072); return end < 0 ? null : dec.decode(mem.subarray(131072, end)) }
// correctness: random texts
let n = 0
for (let k = 0; k < 20000; k++) {
  const len = Math.floor(Math.random() * 200)
  const alphabet = k % 3 === 0 ? 'ab\n' : k % 3 === 1 ? 'abcdefghij\n' : 'abcdefghijklmnopqrstuvwxyz0123456789 \n"\\\t~\x7f'
  let s = ''; for (let i = 0; i < len; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)]
  const plain = JSON.stringify(s) === `"${s.replaceAll('\n', '\\n')}"`
  const got = esc(s)
  if (plain ? got !== s.replaceAll('\n', '\\n') : got !== null) { console.log('MISMATCH', JSON.stringify(s), got); process.exit(1) }
  n++
}
console.log('ok', n)
const line = 'cc-executor-bench-'.padEnd(114, '0123456789abcdefghijklmnopqrstuvwxyz') + '\n'
const chunk = Buffer.from(line.repeat(570).slice(0, 65536))
mem.set(chunk, 0)
for (let r = 0; r < 5; r++) { const t = performance.now(); for (let i = 0; i < 1900; i++) exports.escape(65536 - 65536 % 115, 131072); console.log('escape ms', (performance.now() - t).toFixed(1)) }
