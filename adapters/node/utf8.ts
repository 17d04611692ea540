/**
 * @module adapters/node/utf8 — a frame's UTF-8 bytes, encoded once. The transcript appends an
 * event's text and then every socket sends the same text: the last encoding is kept for them.
 */
let lastText: string | undefined
let lastBytes = Buffer.alloc(0)

export function utf8(text: string): Buffer {
  // Identical strings compare by reference first, so the hit is O(1).
  if (text !== lastText) {
    lastBytes = Buffer.from(text, 'utf8')
    lastText = text
  }
  return lastBytes
}
