/**
 * @module adapters/node/claude — Claude Code on this host: the CLI to run (CLAUDE_BIN) and where it
 * keeps each session's transcript: `<config dir>/projects/<cwd with every non-alphanumeric
 * character as "-">/<session id>.jsonl`, the config dir being the child's CLAUDE_CONFIG_DIR, else
 * `.claude` in the child's HOME.
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import type { ClaudeRuntime } from '../../src/index.ts'

/** Claude Code's name for a project directory. */
export const projectSlug = (cwd: string): string => cwd.replace(/[^A-Za-z0-9]/g, '-')

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
      return join(configDir, 'projects', projectSlug(resolve(cwd ?? process.cwd())), `${session_id}.jsonl`)
    },
    async readText(path) {
      try {
        return await readFile(path, 'utf8')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
        throw error
      }
    },
  }
}
