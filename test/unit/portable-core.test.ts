import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { test } from 'node:test'
import { ROOT } from '../helpers/server.ts'

/**
 * src/ runs unchanged on Node, workerd, Deno and Bun: Web-standard APIs, hono and valibot only;
 * src/mcp/ also the MCP SDK's Web-standard server parts, and @valibot/to-json-schema (the tools'
 * inputs, valibot schemas, listed to clients as JSON Schema). Valibot is the one validation library:
 * no zod, which only the SDK uses inside.
 */
const IMPORTS = /from\s+['"]([^'"]+)['"]/
const ALLOWED_IMPORT = /^(\.{1,2}\/|hono(\/[\w-]+)*$|valibot$)/
const ALLOWED_IN_MCP = /^(@modelcontextprotocol\/sdk\/(server\/(mcp|webStandardStreamableHttp)|types|shared\/protocol)\.js|@valibot\/to-json-schema)$/
const FORBIDDEN_CODE: [RegExp, string][] = [
  [/(?<![.\w])require\(/, 'require()'],
  [/\bprocess\./, 'process'],
  [/\bBuffer\b/, 'Buffer'],
  [/\b(__dirname|__filename)\b/, 'CommonJS globals'],
  [/\b(Deno|Bun)\./, 'a runtime global'],
]

/** The console page's source runs in the browser (esbuild bundles it with xterm); the core serves only its bundle. */
const BROWSER_SOURCE = join(ROOT, 'src', 'console', 'page')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? join(dir, entry.name) === BROWSER_SOURCE
        ? []
        : sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  )
}

test('src/ uses no runtime-specific API and imports only hono and valibot, and src/mcp/ the MCP SDK\'s Web-standard parts and valibot\'s JSON Schema converter (the portable core rule)', () => {
  const files = sourceFiles(join(ROOT, 'src'))
  assert.ok(files.length > 5)
  const violations: string[] = []
  for (const file of files) {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/^\s*(\/\/|\*|\/\*)/.test(line)) return
        const where = `${relative(ROOT, file)}:${i + 1}`
        const specifier = IMPORTS.exec(line)?.[1]
        const inMcp = relative(join(ROOT, 'src'), file).startsWith('mcp/')
        if (specifier !== undefined && !ALLOWED_IMPORT.test(specifier) && !(inMcp && ALLOWED_IN_MCP.test(specifier))) violations.push(`${where}: imports ${specifier}`)
        // Globals inside string literals ('process.output') are protocol names, not API use.
        const code = line.replace(/'[^']*'|"[^"]*"|`[^`]*`/g, "''")
        for (const [pattern, what] of FORBIDDEN_CODE) if (pattern.test(code)) violations.push(`${where}: ${what}`)
      })
  }
  assert.deepEqual(violations, [])
})

test("the core never imports the console page's browser source, only its generated bundle", () => {
  const importers = sourceFiles(join(ROOT, 'src')).filter((file) => /from\s+['"][^'"]*console\/page\//.test(readFileSync(file, 'utf8')))
  assert.deepEqual(importers.map((f) => relative(ROOT, f)), [])
  assert.ok(sourceFiles(join(ROOT, 'src')).some((f) => f.endsWith(join('console', 'assets.generated.ts'))), 'npm run build has written src/console/assets.generated.ts')
})

/**
 * The layers of src/, lowest first: a module imports only from its own layer or lower ones, so
 * that the wire (protocol/) and the clients never depend on the server's internals. The longest
 * matching prefix places a file.
 */
const LAYERS: string[][] = [
  ['protocol/'],
  ['claude/params.ts', 'claude/stream-json.ts', 'claude/long-line.ts', 'version.ts', 'logger.ts', 'verify.ts', 'settings.ts'],
  ['security/', 'observer.ts'],
  ['client/'],
  // The transcript store's contract needs only the wire; an executor may hand one out (a pool's history).
  ['executor/', 'executions/store.ts'],
  ['executions/', 'claude/task.ts', 'claude/verify.ts'],
  ['ws/'],
  ['http/', 'mcp/', 'console/', 'claude/bridge.ts'],
  ['app.ts'],
  ['gateway/'],
  ['index.ts'],
]

function layerOf(path: string): number {
  let best = -1
  let length = 0
  LAYERS.forEach((prefixes, layer) => {
    for (const prefix of prefixes) if (path.startsWith(prefix) && prefix.length > length) [best, length] = [layer, prefix.length]
  })
  return best
}

test('no module in src/ imports one from a higher layer (protocol, the Claude wire types, security, client, executor, executions, front ends, app, gateway)', () => {
  const src = join(ROOT, 'src')
  const violations: string[] = []
  for (const file of sourceFiles(src)) {
    const from = relative(src, file)
    const layer = layerOf(from)
    if (layer === -1) {
      violations.push(`${from}: in no layer (add it to LAYERS)`)
      continue
    }
    for (const match of readFileSync(file, 'utf8').matchAll(new RegExp(IMPORTS, 'g'))) {
      if (!match[1].startsWith('.')) continue
      const to = relative(src, join(dirname(file), match[1]))
      if (layerOf(to) > layer) violations.push(`${from} imports ${to}`)
    }
  }
  assert.deepEqual(violations, [])
})

test('valibot is the one validation library: nothing of ours imports zod (only the MCP SDK uses it, inside)', () => {
  const ours = ['src', 'adapters', 'bin', 'bench'].flatMap((dir) => allFiles(join(ROOT, dir)))
  const importers = ours.filter((file) => /from\s+['"]zod(\/[^'"]*)?['"]|import\(\s*['"]zod/.test(readFileSync(file, 'utf8')))
  assert.deepEqual(importers.map((f) => relative(ROOT, f)), [])
  assert.ok(ours.some((f) => f.endsWith(join('adapters', 'node', 'settings.ts'))))
})

/** Every .ts, .mjs and .js file below dir (the console page's browser source included). */
function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? allFiles(join(dir, entry.name)) : /\.(ts|mjs|js)$/.test(entry.name) ? [join(dir, entry.name)] : [],
  )
}
