/**
 * @module security/host-check — DNS-rebinding and cross-site protection for a server on loopback.
 * A browser lets any web page send a WebSocket handshake or a "simple" POST (text/plain, no
 * preflight) to 127.0.0.1, and a name the attacker rebinds to 127.0.0.1 makes even the Host
 * header theirs. So on loopback every route (/ws/mcp, /ws/claude, /v1, /mcp, the console) takes
 * only a loopback name in Host, and in Origin when a browser sends one; a client that is not a
 * browser sends no Origin and is unaffected.
 */
import type { MiddlewareHandler } from 'hono'

/** The names a loopback server is reached by (URL hostnames: IPv6 in brackets). */
export const LOOPBACK_HOSTNAMES: readonly string[] = ['127.0.0.1', 'localhost', '[::1]']

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|\[::1\])$/

/** Whether a listening address is a loopback one (reachable from this machine only). */
export const isLoopback = (host: string): boolean => LOOPBACK.test(host)

/**
 * The host names Host and Origin may carry for a server listening on `host`: on loopback, the
 * loopback names and `host` itself; elsewhere undefined (not checked: the server has a public
 * name, and its tokens guard it).
 */
export function allowedHostnamesFor(host: string): readonly string[] | undefined {
  if (!isLoopback(host)) return undefined
  return [...LOOPBACK_HOSTNAMES, host.includes(':') && !host.startsWith('[') ? `[${host}]` : host]
}

function hostnameOf(value: string): string | undefined {
  try {
    return new URL(value.includes('://') ? value : `http://${value}`).hostname
  } catch {
    return undefined
  }
}

/**
 * Refuses, with 403 and a JSON-RPC error body (which /v1 clients read as `error` too), a request
 * whose Host or Origin names another host than `allowed`.
 */
export function hostCheck(allowed: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header('host')
    const origin = c.req.header('origin')
    let message: string | undefined
    if (!allowed.includes(hostnameOf(host ?? '') ?? '')) message = `Forbidden: Host ${host} is not this server's (DNS rebinding protection)`
    else if (origin !== undefined && !allowed.includes(hostnameOf(origin) ?? '')) message = `Forbidden: Origin ${origin} is not allowed`
    if (message === undefined) return next()
    return c.json({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }, 403)
  }
}
