/**
 * @module protocol/plain-json — does a text need JSON escaping other than `\n` → `\\n`?
 *
 * Most output is printable ASCII lines, and eventText() writes such text with one replaceAll
 * instead of JSON.stringify's character-by-character escaping. Deciding that a 64 KiB text is plain
 * is the costly part: a regular expression reads ~1 GB/s. A WebAssembly SIMD loop reads 16 bytes at
 * a time, 5× faster including the copy into its memory (`npm run bench`, measure 1). Where
 * WebAssembly cannot be compiled at run time (Cloudflare Workers forbids it) or a text is short or
 * not ASCII, the regular expression decides.
 */

/** Text that needs no JSON escaping except its newlines (no other control character, quote, backslash or surrogate). */
const PLAIN = /^[^\0-\t\v-\x1f"\\\ud800-\udfff]*$/

/**
 * plain-json.wat, compiled (`npx wabt` is not needed to run: test/plain-json.test.ts checks that this
 * is what the .wat source compiles to). Exports `memory` and `plain(len)`: 1 when each of the first
 * `len` bytes (a multiple of 16) is `\n` or printable ASCII other than `"` and `\`.
 */
export const PLAIN_WASM =
  'AGFzbQEAAAABBgFgAX8BfwMCAQAFAwEABAcSAgZtZW1vcnkCAAVwbGFpbgAACpABAY0BAgF/AnsCQANAIAEgAE8NASAB/QAEACECIAMgAv0MICAgICAgICAgICAgICAgIP0lIAL9DAoKCgoKCgoKCgoKCgoKCgr9I/1PIAL9DCIiIiIiIiIiIiIiIiIiIiL9IyAC/QxcXFxcXFxcXFxcXFxcXFxc/SP9UP1Q/VAhAyABQRBqIQEMAAsLIAP9U0UL'

/** Below this length the regular expression is as quick as the call into WebAssembly. */
const SCAN_FROM = 512

interface Scanner {
  bytes: Uint8Array
  plain: (length: number) => number
}

let scanner: Scanner | null | undefined
const encoder = new TextEncoder()

function compile(): Scanner | null {
  try {
    const module = new WebAssembly.Module(Uint8Array.from(atob(PLAIN_WASM), (c) => c.charCodeAt(0)))
    const { exports } = new WebAssembly.Instance(module)
    return { bytes: new Uint8Array((exports.memory as WebAssembly.Memory).buffer), plain: exports.plain as Scanner['plain'] }
  } catch {
    return null
  }
}

/** Which check decides long texts here: 'wasm', or 'regexp' where WebAssembly is not available. */
export function plainScanner(): 'wasm' | 'regexp' {
  scanner ??= compile()
  return scanner ? 'wasm' : 'regexp'
}

/** True when JSON.stringify(text) would escape nothing but newlines. */
export function isPlainJsonText(text: string): boolean {
  if (text.length >= SCAN_FROM) {
    scanner ??= compile()
    if (scanner) {
      const { bytes } = scanner
      if (text.length <= bytes.length - 16) {
        const { read, written } = encoder.encodeInto(text, bytes)
        // One byte per character: every character is ASCII. Other texts are left to the regular expression.
        if (read === text.length && written === read) {
          const end = (written + 15) & ~15
          bytes.fill(0x20, written, end)
          return scanner.plain(end) === 1
        }
      }
    }
  }
  return PLAIN.test(text)
}
