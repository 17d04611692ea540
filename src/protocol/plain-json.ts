/**
 * @module protocol/plain-json — output whose JSON escaping is only `\n` → `\\n`, written as bytes.
 *
 * Most output is printable ASCII lines. For such text a WebAssembly SIMD loop writes the event's
 * UTF-8 bytes straight from the text: 16 bytes a step, with no intermediate strings (a regular
 * expression that only decides whether a text is plain is already a full pass over it). The
 * bytes go to the transcript and to Node's sockets as they are (protocol/frame). Where WebAssembly
 * cannot be compiled at run time (Cloudflare Workers forbids it) or a text is short or not ASCII,
 * eventFrame() builds a string instead, and isPlainJsonText's regular expression decides how.
 */

/** Text that needs no JSON escaping except its newlines (no other control character, quote, backslash or surrogate). */
const PLAIN = /^[^\0-\t\v-\x1f"\\\ud800-\udfff]*$/

/** True when JSON.stringify(text) would escape nothing but newlines. */
export const isPlainJsonText = (text: string): boolean => PLAIN.test(text)

/**
 * plain-json.wat, compiled (`npx wabt` is not needed to run: test/plain-json.test.ts checks that this
 * is what the .wat source compiles to). Exports `memory` and `escape(len, out)`: writes the first
 * `len` bytes at `out` with each `\n` as `\\n`, and returns where it stopped, or -1 at a byte other
 * than `\n` or printable ASCII but `"` and `\`.
 */
export const PLAIN_WASM =
  'AGFzbQEAAAABBwFgAn9/AX8DAgEABQMBAAQHEwIGbWVtb3J5AgAGZXNjYXBlAAAKqAMBpQMDAX8BewR/AkADQCACQRBqIABLDQEgAv0ABAAhAyAD/QwgICAgICAgICAgICAgICAg/SUgA/0MCgoKCgoKCgoKCgoKCgoKCv0j/U8gA/0MIiIiIiIiIiIiIiIiIiIiIv0jIAP9DFxcXFxcXFxcXFxcXFxcXFz9I/1Q/VD9UwRAQX8PCyAD/QwKCgoKCgoKCgoKCgoKCgoK/SP9ZCEEIAEgA/0LBAAgBEUEQCABQRBqIQEFIARpQQFGBEAgBGghBSABIAVqQQFqIAIgBWr9AAQA/QsEACABIAVqQdzcATsBACABQRFqIQEFIAJBEGohBiACIQUDQCAFLQAAIQcgB0EKRgRAIAFB3NwBOwEAIAFBAmohAQUgASAHOgAAIAFBAWohAQsgBUEBaiEFIAUgBkkNAAsLCyACQRBqIQIMAAsLAkADQCACIABPDQEgAi0AACEHIAdBCkYEQCABQdzcATsBACABQQJqIQEFIAdBIEkgB0GAAU9yIAdBIkYgB0HcAEZycgRAQX8PCyABIAc6AAAgAUEBaiEBCyACQQFqIQIMAAsLIAEL'

/** Below this length a string is as quick as the call into WebAssembly; above the other, memory would grow too far. */
const SCAN_FROM = 512
const SCAN_TO = 1_048_576

interface Escaper {
  memory: WebAssembly.Memory
  bytes: Uint8Array
  escape: (length: number, out: number) => number
}

let escaper: Escaper | null | undefined
const encoder = new TextEncoder()

function compile(): Escaper | null {
  try {
    const module = new WebAssembly.Module(Uint8Array.from(atob(PLAIN_WASM), (c) => c.charCodeAt(0)))
    const { exports } = new WebAssembly.Instance(module)
    const memory = exports.memory as WebAssembly.Memory
    return { memory, bytes: new Uint8Array(memory.buffer), escape: exports.escape as Escaper['escape'] }
  } catch {
    return null
  }
}

/** Which path makes long output here: 'wasm', or 'string' where WebAssembly is not available. */
export function plainScanner(): 'wasm' | 'string' {
  escaper ??= compile()
  return escaper ? 'wasm' : 'string'
}

/**
 * The UTF-8 bytes of `head + JSON.stringify(text).slice(1, -1) + tail` when that escaping is only
 * `\n` → `\\n`. `false` when the text needs more escaping than that; `undefined` when this cannot
 * tell (a short or non-ASCII text, or no WebAssembly), and a string must be built.
 */
export function plainJsonBytes(head: string, text: string, tail: string): Uint8Array | false | undefined {
  if (text.length < SCAN_FROM || text.length > SCAN_TO) return undefined
  const wasm = (escaper ??= compile())
  if (!wasm) return undefined
  // The text at 0 (the loop reads up to 16 bytes past it), the output after it: at most 3 bytes per
  // character of head and tail, 2 per character of text, and 16 the loop writes past its end.
  const out = (text.length + 31) & ~15
  const needed = out + 3 * (head.length + tail.length) + 2 * text.length + 16
  if (needed > wasm.bytes.length) {
    wasm.memory.grow(Math.ceil((needed - wasm.bytes.length) / 65_536))
    wasm.bytes = new Uint8Array(wasm.memory.buffer)
  }
  const { bytes } = wasm
  const { read, written } = encoder.encodeInto(text, bytes)
  // One byte per character: every character is ASCII. Other texts are left to the string path.
  if (read !== text.length || written !== read) return undefined
  const dataAt = out + encoder.encodeInto(head, bytes.subarray(out)).written
  const end = wasm.escape(written, dataAt)
  if (end < 0) return false
  return bytes.slice(out, end + encoder.encodeInto(tail, bytes.subarray(end)).written)
}
