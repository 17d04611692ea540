/**
 * @module claude/params — a Claude task's request (WS `claude`, `POST /v1/claude`) and the argv it
 * becomes. The argv is built here, never a shell string: the prompt is one argument after `--`, so
 * that a prompt beginning with `-` is never read as an option.
 */
import * as v from 'valibot'
import { argumentString, ExecuteFields, ExecutionId, fitsArgument, MAX_ARG_BYTES, plainObject } from '../protocol/schemas.ts'

/** Claude session ids are UUIDs; anything of this shape is passed on, nothing else is. */
export const SessionId = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, 'resume must be a Claude session id (letters, digits, - and _)'))

/** A tool name or permission rule as Claude Code takes them: `Bash`, `Bash(git:*)`, `mcp__srv__tool`. */
const ToolRule = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_][^\0\r\n]{0,255}$/, 'allowed_tools entries must be tool names or rules (no control characters)'))

const { cwd, env, timeout, idle_timeout, execution_id, detach_grace, label } = ExecuteFields

const ClaudeFields = {
  prompt: v.pipe(v.string('prompt must be a string'), v.minLength(1, 'prompt must not be empty'), argumentString('prompt')),
  model: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._:\[\]-]{0,127}$/, 'model must be a model name or alias'))),
  max_turns: v.optional(v.pipe(v.number('max_turns must be a number'), v.safeInteger('max_turns must be an integer'), v.minValue(1), v.maxValue(10_000))),
  resume: v.optional(SessionId),
  continue: v.optional(ExecutionId),
  allowed_tools: v.optional(v.pipe(v.array(ToolRule), v.maxLength(256))),
  append_system_prompt: v.optional(argumentString('append_system_prompt')),
  mcp_config: v.optional(
    v.pipe(
      // Claude Code wants an object ({"mcpServers": …}).
      plainObject('mcp_config'),
      v.check((c) => fitsArgument(JSON.stringify(c)), `mcp_config must be at most ${MAX_ARG_BYTES} bytes as JSON (it becomes one argument of Claude Code)`),
    ),
  ),
  cwd,
  env,
  timeout,
  idle_timeout,
  execution_id,
  detach_grace,
  label,
}
const oneSession = <T extends { resume?: string; continue?: string }>(p: T) => p.resume === undefined || p.continue === undefined
const ONE_SESSION = 'give resume (a Claude session id) or continue (an execution id), not both'

/** Unknown members are refused (a misspelt option must not be ignored silently). */
export const ClaudeParams = v.pipe(v.strictObject(ClaudeFields), v.check((p) => oneSession(p), ONE_SESSION))
export type ClaudeParams = v.InferOutput<typeof ClaudeParams>

/** The body of `POST /v1/claude`: claude's params, and `detach` as for `POST /v1/executions`. */
export const HttpClaudeBody = v.pipe(v.strictObject({ ...ClaudeFields, detach: v.optional(v.boolean()) }), v.check((p) => oneSession(p), ONE_SESSION))

/**
 * The Claude Code command line for a task: headless (`-p`), stream-json on stdout, the options
 * given, then the prompt. `session` is the id to resume (from `resume`, or from `continue`'s execution).
 *
 * @example
 * claudeArgv('claude', { prompt: 'fix the tests', max_turns: 5 })
 * // ['claude', '-p', '--output-format', 'stream-json', '--verbose', '--max-turns', '5', '--', 'fix the tests']
 * // (--allowed-tools takes one argument per rule: a rule may hold spaces and commas)
 */
export function claudeArgv(bin: string, params: ClaudeParams, session = params.resume): string[] {
  const argv = [bin, '-p', '--output-format', 'stream-json', '--verbose']
  if (params.model !== undefined) argv.push('--model', params.model)
  if (params.max_turns !== undefined) argv.push('--max-turns', String(params.max_turns))
  if (session !== undefined) argv.push('--resume', session)
  if (params.allowed_tools !== undefined && params.allowed_tools.length > 0) argv.push('--allowed-tools', ...params.allowed_tools)
  if (params.append_system_prompt !== undefined) argv.push('--append-system-prompt', params.append_system_prompt)
  if (params.mcp_config !== undefined) argv.push('--mcp-config', JSON.stringify(params.mcp_config))
  argv.push('--', params.prompt)
  return argv
}
