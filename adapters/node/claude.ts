/**
 * @module adapters/node/claude — Claude Code on this host: the CLI to run (CLAUDE_BIN) and where it
 * keeps each session's transcript: `<config dir>/projects/<slug of the cwd's real path>/<session
 * id>.jsonl`, the config dir being the child's CLAUDE_CONFIG_DIR, else `.claude` in the child's HOME.
 */
import { realpathSync } from 'node:fs'
import { access, readdir, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import type { ClaudeRuntime } from '../../src/index.ts'

/** Claude Code cuts longer slugs here and adds a hash of the whole path. */
const MAX_SLUG = 200

/**
 * Claude Code's name for a project directory (a real path): every character but A-Z a-z 0-9 as
 * "-"; beyond 200 characters, the first 200 and "-" with a base-36 hash of the path, as Claude Code
 * computes it (a 32-bit string hash over UTF-16 units).
 */
export function projectSlug(cwd: string): string {
  const slug = cwd.replace(/[^A-Za-z0-9]/g, '-')
  if (slug.length <= MAX_SLUG) return slug
  let hash = 0
  for (let i = 0; i < cwd.length; i += 1) hash = ((hash << 5) - hash + cwd.charCodeAt(i)) | 0
  return `${slug.slice(0, MAX_SLUG)}-${Math.abs(hash).toString(36)}`
}

/** Session ids are UUIDs: only a file of that shape is looked for elsewhere. */
const SESSION_FILE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.jsonl$/i

/** The real path of a directory (Claude Code's name for it); as given when it cannot be resolved (gone). */
function realPath(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    return path
  }
}

/**
 * @example
 * createExecutorApp({ executor, upgradeWebSocket, claude: nodeClaudeRuntime('claude') })
 */
export function nodeClaudeRuntime(bin: string, serverEnv: Record<string, string | undefined> = process.env): ClaudeRuntime {
  return {
    bin,
    transcriptPath({ session_id, cwd, env = {} }) {
      const merged = { ...serverEnv, ...env }
      const configDir = merged.CLAUDE_CONFIG_DIR || join(merged.HOME || homedir(), '.claude')
      return join(configDir, 'projects', projectSlug(realPath(resolve(cwd ?? process.cwd()))), `${session_id}.jsonl`)
    },
    async readText(path) {
      try {
        return await readFile(path, 'utf8')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
        throw error
      }
    },
    async findTranscript(path) {
      const name = basename(path)
      if (!SESSION_FILE.test(name)) return null
      const projects = dirname(dirname(path))
      let dirs
      try {
        dirs = await readdir(projects, { withFileTypes: true })
      } catch {
        return null
      }
      for (const dir of dirs) {
        if (!dir.isDirectory()) continue
        const candidate = join(projects, dir.name, name)
        if (candidate === path) continue
        if (await access(candidate).then(() => true, () => false)) return candidate
      }
      return null
    },
  }
}
