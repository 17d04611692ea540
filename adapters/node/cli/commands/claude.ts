/**
 * @module adapters/node/cli/commands/claude — `cc-executor claude "prompt"`: a Claude Code task on the
 * server, shown as a conversation: the assistant's text on stdout, each tool call and its result
 * on stderr, then a summary line (session, turns, cost, time). `--json` prints Claude Code's own
 * stream-json instead. Ctrl-C cancels the task. The exit code is 0 only for a task that completed.
 */
import type { Command } from 'commander'
import { ExecutorError, type ClaudeParams, type ExecutorClient } from '../../../../src/client/index.ts'
import { clientOptions, withClient } from '../client-options.ts'
import { CliError, describe, type Settle } from '../outcome.ts'
import { writeAll } from '../output.ts'
import { envPair, positiveInteger, positiveNumber } from '../parse.ts'

interface ClaudeFlags {
  model?: string
  maxTurns?: number
  resume?: string
  continue?: string
  allowedTools?: string[]
  appendSystemPrompt?: string
  cwd?: string
  env?: Record<string, string>
  timeout?: number
  idleTimeout?: number
  label?: string
  json?: boolean
  quiet?: boolean
}

/** The request for a prompt and the command's flags. */
export function claudeRequest(prompt: string, flags: ClaudeFlags): ClaudeParams {
  const request: ClaudeParams = { prompt }
  if (flags.model !== undefined) request.model = flags.model
  if (flags.maxTurns !== undefined) request.max_turns = flags.maxTurns
  if (flags.resume !== undefined) request.resume = flags.resume
  if (flags.continue !== undefined) request.continue = flags.continue
  if (flags.allowedTools !== undefined) request.allowed_tools = flags.allowedTools
  if (flags.appendSystemPrompt !== undefined) request.append_system_prompt = flags.appendSystemPrompt
  if (flags.cwd !== undefined) request.cwd = flags.cwd
  if (flags.env !== undefined) request.env = flags.env
  if (flags.timeout !== undefined) request.timeout = flags.timeout
  if (flags.idleTimeout !== undefined) request.idle_timeout = flags.idleTimeout
  if (flags.label !== undefined) request.label = flags.label
  return request
}

const oneLine = (text: string, max = 200) => {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

/** Runs the task and shows it; resolves with the exit code. */
async function showTask(client: ExecutorClient, prompt: string, flags: ClaudeFlags): Promise<number> {
  const out = (text: string) => writeAll(process.stdout, Buffer.from(text, 'utf8'))
  const note = (text: string) => {
    if (!flags.quiet) process.stderr.write(text)
  }
  const run = await client.claude(claudeRequest(prompt, flags))
  let interrupted = false
  const onInterrupt = () => {
    interrupted = true
    void run.cancel().catch(() => {})
  }
  process.on('SIGINT', onInterrupt)
  try {
    for await (const event of run) {
      if (flags.json) {
        if (event.method === 'process.output' && event.params.type === 'stdout') await out(event.params.data)
        continue
      }
      if (event.method !== 'claude.event') continue
      const e = event.params as Record<string, any>
      if (e.kind === 'text') await out(`${e.text}\n`)
      else if (e.kind === 'tool_use') note(`→ ${e.name} ${oneLine(JSON.stringify(e.input))}\n`)
      else if (e.kind === 'tool_result') note(`${e.is_error ? '✗' : '←'} ${oneLine(e.content) || '(no output)'}\n`)
      else if (e.kind === 'retry') note(`… API ${e.error_status ?? 'error'}, retry ${e.attempt} in ${e.retry_delay_ms} ms\n`)
    }
    const completed = await run.completed
    const c = completed.claude
    const cost = c?.total_cost_usd === null || c?.total_cost_usd === undefined ? '-' : `$${c.total_cost_usd.toFixed(4)}`
    note(`[${completed.status}] session ${c?.session_id ?? '-'} · ${c?.num_turns ?? '-'} turns · ${cost} · ${completed.execution_time.toFixed(1)}s · execution ${run.id}\n`)
    if (completed.status !== 'completed') note(`${completed.reason}\n`)
    if (interrupted) return 130
    return completed.status === 'completed' ? 0 : 1
  } finally {
    process.off('SIGINT', onInterrupt)
  }
}

export function registerClaude(program: Command, settle: Settle): void {
  clientOptions(
    program
      .command('claude')
      .description("run a Claude Code task on the server: Claude's text on stdout, tool calls and a summary on stderr")
      .argument('<prompt>', 'the prompt (one argument: quote it)')
      .option('-m, --model <model>', 'model name or alias')
      .option('--max-turns <n>', 'stop after this many turns', positiveInteger)
      .option('--resume <session-id>', 'continue a Claude session')
      .option('--continue <execution-id>', 'continue the session of an earlier task on this server')
      .option('--allowed-tools <rules...>', 'tools Claude may use without asking, e.g. Bash "Bash(git:*)" Read')
      .option('--append-system-prompt <text>', 'added to the system prompt')
      .option('-C, --cwd <dir>', 'working directory on the server')
      .option('-e, --env <NAME=value>', 'environment variable for Claude Code (repeatable)', envPair)
      .option('-t, --timeout <seconds>', 'wall-clock limit', positiveNumber)
      .option('--idle-timeout <seconds>', 'terminate after this long without output', positiveNumber)
      .option('-l, --label <label>', 'group the task under a label (per-label success counts)')
      .option('--json', "print Claude Code's own stream-json instead")
      .option('-q, --quiet', 'only the text, no tool calls or summary on stderr'),
  ).action((prompt: string, flags: ClaudeFlags, command: Command) =>
    settle(
      withClient(command, (client) => showTask(client, prompt, flags)).catch((error: unknown) => {
        throw error instanceof CliError ? error : new CliError(describe(error), error instanceof ExecutorError ? 125 : 1)
      }),
    ),
  )
}
