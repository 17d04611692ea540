/**
 * @module protocol/bearer-protocol — a token carried as a WebSocket subprotocol, for clients that
 * cannot set headers on a WebSocket (browsers). A subprotocol may hold only an HTTP token's
 * characters, which `/`, `=` and others of a base64 token are not (the WebSocket constructor throws
 * on them), so a client offers `base64url.bearer.<the token's UTF-8 in unpadded base64url>` beside
 * `bearer`, which the server then selects. The server still takes the older `bearer.<token>`.
 */

const ENCODED = 'base64url.bearer.'
const PLAIN = 'bearer.'

/** The subprotocols a client offers to present `token`. */
export function bearerProtocols(token: string): string[] {
  let binary = ''
  for (const byte of new TextEncoder().encode(token)) binary += String.fromCharCode(byte)
  return ['bearer', `${ENCODED}${btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')}`]
}

/** base64url (RFC 4648 §5, padded or not) of UTF-8 text, decoded; undefined when it is not that. */
function fromBase64url(text: string): string | undefined {
  try {
    const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'))
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)))
  } catch {
    return undefined
  }
}

/** The token a `Sec-WebSocket-Protocol` header presents, if any. */
export function tokenOfProtocols(header: string | null): string | undefined {
  const protocols = header?.split(',').map((p) => p.trim()) ?? []
  const encoded = protocols.find((p) => p.startsWith(ENCODED))
  // One that does not decode is presented as it is: a wrong token (403), not a missing one.
  if (encoded !== undefined) return fromBase64url(encoded.slice(ENCODED.length)) ?? encoded
  return protocols.find((p) => p.startsWith(PLAIN))?.slice(PLAIN.length)
}
