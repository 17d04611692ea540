/**
 * @module adapters/node/cli/commands/claude — `cc-executor claude "prompt"`: a Claude Code task on the
 * server, shown as a conversation: the assistant's text on stdout, each tool call and its result
 * and Claude Code's own stderr on stderr, then a summary line (session, turns, cost, time).
 * `--json` prints Claude Code's own stream-json instead. Job control, SIGTERM, SIGHUP and a closed
 * stdout act as for `run`. The exit code is 0 only for a task that completed.
 */
import type { Command } from 'commander'
import type { ClaudeParams, ClientEvent, CompletedParams } from '../../../../src/client/index.ts'
import { clientOptions, withClient } from '../client-options.ts'
import { followStart, type Shown } from '../follow.ts'
import { runFailure, type Settle } from '../outcome.ts'
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
  status: boolean
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

/** What an event of the task shows: Claude's text on stdout, its tool calls, retries and Claude Code's own stderr on stderr. */
function shownOf(event: ClientEvent, flags: ClaudeFlags): Shown | undefined {
  if (event.method === 'process.output') {
    if (event.params.type === 'stdout') return flags.json ? event.params : undefined
    return flags.quiet ? undefined : event.params
  }
  if (flags.json || event.method !== 'claude.event') return undefined
  const e = event.params as Record<string, any>
  if (e.kind === 'text') return { type: 'stdout', data: `${e.text}\n` }
  if (flags.quiet) return undefined
  if (e.kind === 'tool_use') return { type: 'stderr', data: `→ ${e.name} ${oneLine(JSON.stringify(e.input))}\n` }
  if (e.kind === 'tool_result') return { type: 'stderr', data: `${e.is_error ? '✗' : '←'} ${oneLine(e.content) || '(no output)'}\n` }
  if (e.kind === 'retry') return { type: 'stderr', data: `… API ${e.error_status ?? 'error'}, retry ${e.attempt} in ${e.retry_delay_ms} ms\n` }
  return undefined
}

/** The closing summary: status, session, turns, cost, time, execution id, and the reason when it did not complete. */
function summaryOf(completion: CompletedParams): string {
  const c = completion.claude
  const cost = c?.total_cost_usd === null || c?.total_cost_usd === undefined ? '-' : `$${c.total_cost_usd.toFixed(4)}`
  const summary = `[${completion.status}] session ${c?.session_id ?? '-'} · ${c?.num_turns ?? '-'} turns · ${cost} · ${completion.execution_time.toFixed(1)}s · execution ${completion.execution_id}\n`
  return completion.status === 'completed' ? summary : `${summary}${completion.reason}\n`
}

/** Runs the task and follows it like `run`; resolves with the exit code. */
function claudeCommand(prompt: string, flags: ClaudeFlags, command: Command): Promise<number> {
  return withClient(command, (client) =>
    followStart(() => client.claude(claudeRequest(prompt, flags)), {
      interrupt: 'cancel',
      status: flags.status,
      quiet: flags.quiet === true,
      show: (event) => shownOf(event, flags),
      // Claude Code's own exit code says little (it exits 143 when canceled): the task's status does.
      exitCode: (completion, userCode) => userCode ?? (completion.status === 'completed' ? 0 : 1),
      report: summaryOf,
    }),
  ).catch((error: unknown) => {
    throw runFailure(error)
  })
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
      .option('--allowed-tools <rules...>', 'tools Claude may use without asking, e.g. Bash "Bash(git:*)" Read (every word up to the next option: give the prompt first, or -- before it)')
      .option('--append-system-prompt <text>', 'added to the system prompt')
      .option('-C, --cwd <dir>', 'working directory on the server')
      .option('-e, --env <NAME=value>', 'environment variable for Claude Code (repeatable)', envPair)
      .option('-t, --timeout <seconds>', 'wall-clock limit', positiveNumber)
      .option('--idle-timeout <seconds>', 'terminate after this long without output', positiveNumber)
      .option('-l, --label <label>', 'group the task under a label (per-label success counts)')
      .option('--json', "print Claude Code's own stream-json instead")
      .option('--no-status', 'no status line on stderr (drawn only when stderr is a terminal)')
      .option('-q, --quiet', "only the text: no tool calls, Claude Code's stderr or summary on stderr"),
  ).action((prompt: string, flags: ClaudeFlags, command: Command) => settle(claudeCommand(prompt, flags, command)))
}
