/**
 * Seed 000's own test clients — test_e2e_client.py and mcp_hallucination_test.py, extracted at run
 * time from `../shared/seeds/000_*.txt` (never copied into the repo) — against the bridge dialect at
 * /ws/claude, with the real Claude Code CLI and a scripted Messages API whose model runs each
 * prompt (Python code) with the Bash tool and reports what it printed. The only change made to the
 * clients is their URL (they hard-code ws://localhost:8003/ws/mcp). The hallucination client looks
 * for the output in ~/.claude/projects with ripgrep, so it shares Claude Code's HOME.
 *
 * Where the seed is absent (a clone of its own) the test reports itself skipped, saying where to put it.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { claudeHome, CLAUDE_BIN, startMessagesApi, type Script } from '../helpers/messages-api.ts'
import { ROOT, startServer } from '../helpers/server.ts'

const PYTHON = '/usr/bin/python3'
const SEEDS_DIR = join(ROOT, '..', 'shared', 'seeds')
const CLIENTS = ['test_e2e_client.py', 'mcp_hallucination_test.py']

const shellQuote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`

/** The model: run the prompt's Python with Bash, then say what it printed. */
const runPython: Script = ({ prompt, toolResults }) =>
  toolResults.length > 0
    ? { blocks: [{ type: 'text', text: `It printed: ${toolResults.map((r) => r.content).join('\n')}` }] }
    : { blocks: [{ type: 'tool_use', name: 'Bash', input: { command: `python3 -c ${shellQuote(prompt)}`, description: 'run the Python code' } }] }

/** The python block that follows the heading naming `file` in the seed. */
function clientSource(seed: string, file: string): string {
  const lines = seed.split('\n')
  const heading = lines.findIndex((l) => l.startsWith('### ') && l.includes(`/${file}\``))
  assert.ok(heading >= 0, `seed 000 has no section for ${file}`)
  const start = lines.findIndex((l, i) => i > heading && l.trim() === '```python')
  const end = lines.findIndex((l, i) => i > start && l.trim() === '```')
  assert.ok(start > heading && end > start, `seed 000's ${file} block is not where it was`)
  return lines.slice(start + 1, end).join('\n') + '\n'
}

function pointAt(source: string, url: string, file: string): string {
  const find = 'uri = "ws://localhost:8003/ws/mcp"'
  assert.equal(source.split(find).length - 1, 1, `${file}: expected ${find} exactly once`)
  return source.replace(find, () => `uri = "${url}"`)
}

test('seed 000\'s e2e and hallucination clients pass against /ws/claude', { timeout: 240_000 }, async (t) => {
  const name = (() => {
    try {
      return readdirSync(SEEDS_DIR).find((n) => /^000_.*\.txt$/.test(n))
    } catch {
      return undefined
    }
  })()
  if (name === undefined) {
    t.skip(`the owner's bridge seed is not here: put its 000_*.txt in ${SEEDS_DIR} (../shared/seeds beside this checkout) to run it`)
    return
  }
  const seed = readFileSync(join(SEEDS_DIR, name), 'utf8')
  const api = await startMessagesApi(runPython)
  const home = claudeHome(api)
  // The hallucination client reads ~/.claude/projects: Claude Code's config dir is the default one of this HOME.
  const { CLAUDE_CONFIG_DIR: _, ...env } = home.env
  const server = await startServer({ ...env, CLAUDE_BIN })
  try {
    for (const file of CLIENTS) {
      const path = join(home.home, file)
      writeFileSync(path, pointAt(clientSource(seed, file), server.wsUrl.replace('/ws/mcp', '/ws/claude'), file))
      const child = spawn(PYTHON, [path], { env: { ...process.env, HOME: home.home }, stdio: ['ignore', 'pipe', 'pipe'] })
      let output = ''
      child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s))
      child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s))
      const [code] = (await once(child, 'exit')) as [number | null]
      assert.equal(code, 0, `${file} failed:\n${output}`)
      if (file === 'test_e2e_client.py') assert.match(output, /E2E Test PASSED/)
      else {
        assert.match(output, /Hallucination Test Summary: 3\/3 PASSED/)
        assert.doesNotMatch(output, /HALLUCINATION DETECTED/)
      }
    }
    assert.ok(api.requests.length >= 8, 'every prompt went through the model')
  } finally {
    await server.stop()
    await api.close()
    home.remove()
  }
})
