/**
 * @module security/auth — bearer tokens, checked in constant time on every route but /healthz and the
 * console's page (both routed before this check, in app.ts).
 * Accepted as `Authorization: Bearer <token>`, `X-API-Key: <token>`, or — for browsers, which cannot
 * set headers on a WebSocket — a subprotocol (protocol/bearer-protocol).
 * Missing credentials: 401; wrong ones: 403, before any WebSocket upgrade.
 */
import type { MiddlewareHandler } from 'hono'
import { tokenOfProtocols } from '../protocol/bearer-protocol.ts'
import { ErrorCode } from '../protocol/errors.ts'

/** A configured token, known by its digest; `id` names it in logs without revealing it. */
export interface TokenEntry {
  id: string
  digest: Uint8Array
}

const sha256 = async (text: string) => new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))
const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')

/**
 * The tokens of a setting (`CC_EXECUTOR_AUTH_TOKEN`'s comma-separated pieces, a token file's
 * lines): trimmed, blanks dropped. Throws when one is shorter than 16 characters, which a
 * setting's loader reports as its own error.
 */
export function settingTokens(pieces: readonly string[]): string[] {
  const tokens = pieces.map((t) => t.trim()).filter(Boolean)
  if (tokens.some((t) => t.length < 16)) throw new Error('every token needs at least 16 characters')
  return tokens
}

/** Digests the configured tokens once, at startup. */
export async function tokenEntries(tokens: readonly string[]): Promise<TokenEntry[]> {
  return Promise.all(
    tokens.map(async (token) => {
      const digest = await sha256(token)
      return { id: `tok_${hex(digest).slice(0, 8)}`, digest }
    }),
  )
}

/**
 * Equality that takes the same time wherever the inputs differ. Both sides are SHA-256 digests, so
 * their lengths are equal and reveal nothing about the token.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i]
  return difference === 0
}

/** The matching entry, or undefined. Every entry is compared, so the position of a match leaks nothing either. */
export async function authenticate(entries: readonly TokenEntry[], presented: string): Promise<TokenEntry | undefined> {
  const digest = await sha256(presented)
  let match: TokenEntry | undefined
  for (const entry of entries) if (constantTimeEqual(entry.digest, digest) && !match) match = entry
  return match
}

/** The credential a request presents, if any. */
export function presentedToken(headers: Headers): string | undefined {
  const authorization = headers.get('authorization')
  if (authorization?.toLowerCase().startsWith('bearer ')) return authorization.slice(7).trim()
  const apiKey = headers.get('x-api-key')
  if (apiKey) return apiKey.trim()
  return tokenOfProtocols(headers.get('sec-websocket-protocol'))
}

export type AuthVariables = { tokenId: string | null }

export interface AuthOptions {
  entries: readonly TokenEntry[]
  onFailure?: (reason: 'missing' | 'invalid', path: string) => void
}

/** The middleware: with no tokens configured every request passes (token id null). */
export function requireToken({ entries, onFailure }: AuthOptions): MiddlewareHandler<{ Variables: AuthVariables }> {
  return async function requireToken(c, next) {
    if (entries.length === 0) {
      c.set('tokenId', null)
      return next()
    }
    const presented = presentedToken(c.req.raw.headers)
    if (!presented) {
      onFailure?.('missing', c.req.path)
      return c.json({ error: { code: ErrorCode.UNAUTHORIZED, message: 'Unauthorized: a token is required' } }, 401, {
        'www-authenticate': 'Bearer',
      })
    }
    const entry = await authenticate(entries, presented)
    if (!entry) {
      onFailure?.('invalid', c.req.path)
      return c.json({ error: { code: ErrorCode.UNAUTHORIZED, message: 'Forbidden: the token is not valid' } }, 403)
    }
    c.set('tokenId', entry.id)
    return next()
  }
}
