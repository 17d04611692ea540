/** @module client/endpoints — one URL in, the HTTP base and the WebSocket endpoint out. */

export interface Endpoints {
  /** `http(s)://host:port[/prefix]`, no trailing slash: `/v1/...` and `/health` hang off it. */
  http: string
  /** `ws(s)://host:port[/prefix]/ws/mcp` */
  ws: string
  /** The scheme the URL was given with. */
  scheme: 'http' | 'ws'
}

/**
 * Accepts `http://host:8003`, `https://host/prefix`, `ws://host:8003/ws/mcp`, `wss://host/prefix/ws`
 * or `ws://host:8003` and derives the other transport's address from it.
 */
export function endpoints(url: string): Endpoints {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new TypeError(`Invalid URL: ${url}`)
  }
  const scheme = parsed.protocol.replace(/:$/, '')
  if (!['http', 'https', 'ws', 'wss'].includes(scheme)) throw new TypeError(`Unsupported URL scheme ${parsed.protocol} in ${url}`)
  const secure = scheme === 'https' || scheme === 'wss'
  let path = parsed.pathname.replace(/\/+$/, '')
  if (scheme === 'ws' || scheme === 'wss') path = path.replace(/\/ws(\/mcp)?$/, '')
  const authority = parsed.host
  return {
    http: `${secure ? 'https' : 'http'}://${authority}${path}`,
    ws: `${secure ? 'wss' : 'ws'}://${authority}${path}/ws/mcp`,
    scheme: scheme.startsWith('ws') ? 'ws' : 'http',
  }
}
