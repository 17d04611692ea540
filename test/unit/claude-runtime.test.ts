import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { nodeClaudeRuntime } from '../../adapters/node/claude.ts'

describe("where Claude Code's session transcripts are (adapters/node/claude)", () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'cc-claude-runtime-')))
  const configDir = join(root, 'config')
  const runtime = nodeClaudeRuntime('claude', { CLAUDE_CONFIG_DIR: configDir })
  const session = '0b6f1c2e-8a4d-4f3b-9c1e-2d7a5e6f8b90'
  after(() => rmSync(root, { recursive: true, force: true }))

  test('a cwd that is a symlink is named by its real path, as Claude Code names it', () => {
    mkdirSync(join(root, 'real'))
    symlinkSync(join(root, 'real'), join(root, 'link'))
    const slug = join(root, 'real').replace(/[^A-Za-z0-9]/g, '-')
    assert.equal(runtime.transcriptPath({ session_id: session, cwd: join(root, 'link') }), join(configDir, 'projects', slug, `${session}.jsonl`))
  })

  test('a transcript not where it was computed is found in another project directory; a removed one is not', async () => {
    const elsewhere = join(configDir, 'projects', '-somewhere-else')
    mkdirSync(elsewhere, { recursive: true })
    writeFileSync(join(elsewhere, `${session}.jsonl`), '{}\n')
    const computed = join(configDir, 'projects', '-where-it-was-computed', `${session}.jsonl`)
    assert.equal(await runtime.findTranscript!(computed), join(elsewhere, `${session}.jsonl`))
    // Only session ids (UUIDs) are looked for: no other name is matched across directories.
    writeFileSync(join(elsewhere, 'notes.jsonl'), '{}\n')
    assert.equal(await runtime.findTranscript!(join(configDir, 'projects', '-x', 'notes.jsonl')), null)
    rmSync(join(elsewhere, `${session}.jsonl`))
    assert.equal(await runtime.findTranscript!(computed), null)
    assert.equal(await runtime.findTranscript!(join(root, 'no-config', 'projects', '-x', `${session}.jsonl`)), null)
  })
})
