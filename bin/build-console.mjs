// Bundles the console page (src/console/page/main.ts, its CSS and @xterm/xterm) with esbuild into
// src/console/assets.generated.ts: a module that exports the files' bytes (base64) under content-hashed
// names, so that the portable app serves them on every runtime without reading a file.
// Run by `npm run build` and, through `prepare`, by `npm install` / `npm ci`.
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = (path) => fileURLToPath(new URL(path, import.meta.url))

const result = await build({
  entryPoints: { console: here('../src/console/page/main.ts') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  outdir: here('../src/console/out'),
  write: false,
  legalComments: 'none',
  logLevel: 'warning',
})

const TYPES = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' }
const assets = {}
const names = {}
for (const file of result.outputFiles) {
  const ext = file.path.slice(file.path.lastIndexOf('.'))
  const hash = createHash('sha256').update(file.contents).digest('hex').slice(0, 12)
  const name = `console.${hash}${ext}`
  names[ext] = name
  assets[name] = { type: TYPES[ext], base64: Buffer.from(file.contents).toString('base64') }
}

const lines = [
  '/** @module console/assets.generated — written by bin/build-console.mjs (`npm run build`); do not edit, it is not committed. */',
  `export const SCRIPT = ${JSON.stringify(names['.js'])}`,
  `export const STYLE = ${JSON.stringify(names['.css'])}`,
  '/** Each asset by its content-hashed name: its media type and its bytes in base64. */',
  'export const ASSETS: Record<string, { type: string; base64: string }> = {',
  ...Object.entries(assets).map(([name, { type, base64 }]) => `  ${JSON.stringify(name)}: { type: ${JSON.stringify(type)}, base64: '${base64}' },`),
  '}',
  '',
]
writeFileSync(here('../src/console/assets.generated.ts'), lines.join('\n'))
const kib = (ext) => (Buffer.from(assets[names[ext]].base64, 'base64').length / 1024).toFixed(0)
console.log(`console: ${names['.js']} (${kib('.js')} KiB), ${names['.css']} (${kib('.css')} KiB) -> src/console/assets.generated.ts`)
