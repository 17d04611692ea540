/**
 * @module console/serve — the web console's routes: the page at `/`, `/console` and
 * `/executions/<id>` (the page itself tells an unknown id), and its bundled assets under
 * `/console/assets/` by content-hashed names. They need no token: the page holds no data, and asks
 * for the token before it fetches any (app.ts mounts these before the token check).
 */
import { Hono, type Context } from 'hono'
import { ASSETS, SCRIPT, STYLE } from './assets.generated.ts'

/** Decoded at the first request, once. */
const bytes = new Map<string, Uint8Array>()
function assetBytes(name: string): Uint8Array {
  let decoded = bytes.get(name)
  if (!decoded) {
    const binary = atob(ASSETS[name].base64)
    decoded = new Uint8Array(binary.length)
    for (let i = 0; i < binary.length; i++) decoded[i] = binary.charCodeAt(i)
    bytes.set(name, decoded)
  }
  return decoded
}

const escapeAttribute = (text: string) => text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)

/** No inline script, no foreign origin; xterm sets inline styles, hence 'unsafe-inline' for styles only. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/**
 * The page, with asset URLs relative to where the app is mounted: the request's path without the
 * route's own part (`suffix`), so that `app.route('/exec', …)` serves `/exec/console/assets/…`.
 */
function page(c: Context<any>, suffix: string) {
  const path = c.req.path
  let base = path.endsWith(suffix) ? path.slice(0, path.length - suffix.length) : '/'
  if (!base.endsWith('/')) base += '/'
  const b = escapeAttribute(base)
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="cc-executor-base" content="${b}">
<title>cc-executor console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${b}console/assets/${STYLE}">
<script type="module" src="${b}console/assets/${SCRIPT}"></script>
</head>
<body><noscript>The cc-executor console needs JavaScript.</noscript><div id="app"></div></body>
</html>
`
  return c.html(html, 200, {
    'cache-control': 'no-cache',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  })
}

/** The console's routes, to mount before the token check. */
export function consoleRoutes(): Hono {
  return new Hono()
    .get('/', (c) => page(c, '/'))
    .get('/console', (c) => page(c, '/console'))
    .get('/console/', (c) => page(c, '/console/'))
    .get('/executions/:id', (c) => page(c, `/executions/${c.req.param('id')}`))
    .get('/console/assets/:name', (c) => {
      const name = c.req.param('name')
      if (!Object.hasOwn(ASSETS, name)) return c.text('Not found', 404)
      const body = assetBytes(name)
      return c.body(body as Uint8Array<ArrayBuffer>, 200, {
        'content-type': ASSETS[name].type,
        // The name changes with the content, so a copy never goes stale.
        'cache-control': 'public, max-age=31536000, immutable',
        'x-content-type-options': 'nosniff',
      })
    })
}
