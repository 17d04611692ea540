/**
 * @module adapters/node/cli/program — the `cc-executor` command: `serve` runs the server; `run`,
 * `claude`, `attach`, `ps`, `logs`, `signal` and `verify` talk to one with the portable client
 * (cc-executor/client). Started by bin/cc-executor.js.
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { WebSocket as NodeWebSocket } from 'ws'
import { ExecutorClient, ExecutorError, ErrorCode, type ClientOptions, type ExecuteRequest, type ExecutionRecord, type Run, type WebSocketConstructor } from '../../../src/client/index.ts'
import { verifyTranscript } from '../../../src/verify.ts'
import { VERSION } from '../../../src/version.ts'
import { claudeCommand, type ClaudeFlags } from './claude.ts'
import { follow } from './follow.ts'
import { exit, table, writeAll } from './output.ts'

const DEFAULT_URL = 'http://127.0.0.1:8003'
const CONTROL_TYPES = ['pause', 'resume', 'cancel', 'kill', 'interrupt'] as const

interface ClientFlags {
  url?: string
  token?: string
  transport?: 'ws' | 'http'
  heartbeatInterval?: number
}

const positiveNumber = (value: string): number => {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds')
  return n
}
const nonNegativeNumber = (value: string): number => {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds, 0 or more')
  return n
}
const nonNegativeInteger = (value: string): number => {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer, 0 or more')
  return n
}
const envPair = (value: string, previous: Record<string, string> = {}): Record<string, string> => {
  const equals = value.indexOf('=')
  if (equals <= 0) throw new InvalidArgumentError('expected NAME=value')
  return { ...previous, [value.slice(0, equals)]: value.slice(equals + 1) }
}

/** The options every client command takes (also accepted before the command name). */
function clientOptions(command: Command): Command {
  return command
    .option('--url <url>', `the server (env CC_EXECUTOR_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'bearer token (env CC_EXECUTOR_TOKEN)')
    .addOption(new Option('--transport <transport>', 'WebSocket JSON-RPC or the HTTP /v1 API (env CC_EXECUTOR_TRANSPORT, default ws)').choices(['ws', 'http']))
    .option('--heartbeat-interval <seconds>', "the server's WEBSOCKET_HEARTBEAT_INTERVAL (default 20): a connection silent for 3x this long is replaced", positiveNumber)
}

function clientFrom(command: Command, extra: Partial<ClientOptions> = {}): ExecutorClient {
  const flags = command.optsWithGlobals() as ClientFlags
  const env = process.env
  const transport = flags.transport ?? (env.CC_EXECUTOR_TRANSPORT as 'ws' | 'http' | undefined) ?? 'ws'
  if (transport !== 'ws' && transport !== 'http') throw new CliError(`CC_EXECUTOR_TRANSPORT must be ws or http (got ${JSON.stringify(transport)})`, 2)
  let heartbeat = flags.heartbeatInterval
  if (heartbeat === undefined && env.CC_EXECUTOR_HEARTBEAT_INTERVAL) {
    try {
      heartbeat = positiveNumber(env.CC_EXECUTOR_HEARTBEAT_INTERVAL)
    } catch (error) {
      throw new CliError(`CC_EXECUTOR_HEARTBEAT_INTERVAL: ${(error as Error).message}`, 2)
    }
  }
  try {
    return new ExecutorClient({
      url: flags.url ?? env.CC_EXECUTOR_URL ?? DEFAULT_URL,
      token: flags.token ?? env.CC_EXECUTOR_TOKEN,
      transport,
      // The ws package on every Node version: Node 20 has no global WebSocket.
      WebSocket: NodeWebSocket as unknown as WebSocketConstructor,
      heartbeatInterval: heartbeat,
      ...extra,
    })
  } catch (error) {
    throw new CliError((error as Error).message, 2)
  }
}

/** A failure with the exit code it leaves with. */
class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message)
  }
}

function describe(error: unknown): string {
  if (error instanceof ExecutorError) {
    const cause = (error.data as { cause?: unknown } | undefined)?.cause
    return `${error.message} (${error.code}${cause ? `, ${String(cause)}` : ''})`
  }
  return (error as Error).message ?? String(error)
}

/** Client errors of `run`: 127 when the program does not exist, 126 when it cannot be executed, else 125 (as docker run). */
function runFailure(error: unknown): CliError {
  if (error instanceof CliError) return error
  if (error instanceof ExecutorError && error.code === ErrorCode.INTERNAL_ERROR) {
    const cause = String((error.data as { cause?: unknown } | undefined)?.cause ?? '')
    if (cause === 'ENOENT') return new CliError(describe(error), 127)
    if (cause === 'EACCES') return new CliError(describe(error), 126)
  }
  return new CliError(describe(error), 125)
}

interface RunFlags {
  detach?: boolean
  timeout?: number
  idleTimeout?: number
  cwd?: string
  env?: Record<string, string>
  interactive?: boolean
  detachGrace?: number
  status: boolean
  quiet?: boolean
}

/** Several words run as argv (no shell); a single word is a shell command string. */
export function requestFor(words: string[], flags: RunFlags): ExecuteRequest {
  const request: ExecuteRequest = words.length === 1 ? { command: words[0] } : { argv: words }
  if (flags.timeout !== undefined) request.timeout = flags.timeout
  if (flags.idleTimeout !== undefined) request.idle_timeout = flags.idleTimeout
  if (flags.cwd !== undefined) request.cwd = flags.cwd
  if (flags.env) request.env = flags.env
  if (flags.interactive) request.stdin = 'pipe'
  return request
}

/** Copies our stdin to the execution's (run -i), ending it with EOF. */
function forwardStdin(run: Run): void {
  void (async () => {
    for await (const chunk of process.stdin) await run.write(chunk as Buffer)
    await run.write('', { eof: true })
  })().catch(() => {
    // The execution ended first: nothing more to write.
  })
}

async function runCommand(words: string[], flags: RunFlags, command: Command): Promise<number> {
  const client = clientFrom(command, flags.detachGrace === undefined ? {} : { detachGrace: flags.detachGrace })
  const request = requestFor(words, flags)
  try {
    if (flags.detach) {
      const started = await client.startDetached(request)
      process.stdout.write(`${started.execution_id}\n`)
      return 0
    }
    // Ctrl-C while the execution is being started: cancel it as soon as it exists.
    let early: NodeJS.Signals | undefined
    const onEarly = (signal: NodeJS.Signals) => (early ??= signal)
    process.on('SIGINT', onEarly)
    process.on('SIGTERM', onEarly)
    let run
    try {
      run = await client.execute(request)
    } finally {
      process.off('SIGINT', onEarly)
      process.off('SIGTERM', onEarly)
    }
    if (early) {
      await run.close()
      return early === 'SIGINT' ? 130 : 143
    }
    if (flags.interactive) forwardStdin(run)
    return await follow(run, { interrupt: 'cancel', status: flags.status, quiet: flags.quiet === true })
  } catch (error) {
    throw runFailure(error)
  } finally {
    await client.close()
  }
}

async function attachCommand(id: string, flags: { afterSeq: number; status: boolean; quiet?: boolean }, command: Command): Promise<number> {
  const client = clientFrom(command)
  try {
    const run = await client.attach(id, { afterSeq: flags.afterSeq })
    return await follow(run, { interrupt: 'cancel', status: flags.status, quiet: flags.quiet === true })
  } catch (error) {
    throw runFailure(error)
  } finally {
    // Not ours to cancel: an attached run is only left.
    await client.close()
  }
}

const time = (iso: string | null) => {
  if (!iso) return '-'
  const d = new Date(iso)
  const sameDay = d.toDateString() === new Date().toDateString()
  return sameDay ? d.toTimeString().slice(0, 8) : d.toISOString().slice(0, 16).replace('T', ' ')
}
const duration = (r: ExecutionRecord) => {
  const s = r.execution_time ?? (Date.now() - new Date(r.started_at).getTime()) / 1000
  if (s < 60) return `${s.toFixed(1)}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

async function psCommand(flags: { json?: boolean; running?: boolean }, command: Command): Promise<number> {
  const client = clientFrom(command)
  try {
    let records = (await client.list()).sort((a, b) => a.started_at.localeCompare(b.started_at))
    if (flags.running) records = records.filter((r) => r.state !== 'exited')
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(records, null, 2)}\n`)
      return 0
    }
    const rows = [['EXECUTION ID', 'STATUS', 'EXIT', 'PID', 'STARTED', 'TIME', 'COMMAND']]
    for (const r of records) {
      const exitCode = r.exit_code !== null ? String(r.exit_code) : r.signal ?? '-'
      rows.push([r.id, r.status, exitCode, r.pid === null ? '-' : String(r.pid), time(r.started_at), duration(r), r.command.replace(/\s+/g, ' ')])
    }
    let text = table(rows)
    const columns = process.stdout.isTTY ? process.stdout.columns : 0
    if (columns) text = text.split('\n').map((line) => (line.length > columns ? `${line.slice(0, columns - 1)}…` : line)).join('\n')
    process.stdout.write(text)
    return 0
  } finally {
    await client.close()
  }
}

async function writeOutput(type: 'stdout' | 'stderr', data: string): Promise<void> {
  await writeAll(type === 'stdout' ? process.stdout : process.stderr, Buffer.from(data, 'utf8'))
}

async function logsCommand(id: string, flags: { follow?: boolean }, command: Command): Promise<number> {
  const client = clientFrom(command)
  try {
    if (flags.follow) {
      const run = await client.attach(id)
      const code = await follow(run, { interrupt: 'detach', status: false, quiet: true })
      return code === 130 || code === 125 ? code : 0
    }
    let events
    try {
      events = (await client.transcript(id)).events
    } catch (error) {
      // A gateway keeps no transcripts (-32601): replay the events the server still holds instead.
      if (!(error instanceof ExecutorError && error.code === ErrorCode.METHOD_NOT_FOUND)) throw error
      const { last_seq: lastSeq } = await client.status(id)
      const run = await client.attach(id)
      events = []
      if (lastSeq > 0) {
        for await (const event of run) {
          if (event.method !== 'process.gap') events.push(event)
          if (event.method !== 'process.gap' && event.params.seq >= lastSeq) break
        }
      }
      run.detach()
    }
    for (const event of events) if (event.method === 'process.output') await writeOutput(event.params.type, event.params.data)
    return 0
  } finally {
    await client.close()
  }
}

async function signalCommand(id: string, type: string, command: Command): Promise<number> {
  const client = clientFrom(command)
  try {
    const result = await client.control(id, type.toUpperCase() as 'PAUSE')
    process.stdout.write(`${result.status}\n`)
    return 0
  } finally {
    await client.close()
  }
}

/**
 * Checks an execution twice: here, from its transcript (every seq once, the output hashing to the
 * completion's), and on the server (`verify`), which for a Claude task also compares Claude Code's
 * own session transcript. A server without `verify` (older, or a gateway without transcripts) is
 * checked here only.
 */
async function verifyCommand(id: string, command: Command): Promise<number> {
  const client = clientFrom(command)
  try {
    const { events, sha256 } = await client.transcript(id)
    const verification = await verifyTranscript(events)
    let { ok, reason } = verification
    const expected = verification.expected
    if (ok && sha256 && expected && (sha256.stdout !== expected.stdout || sha256.stderr !== expected.stderr)) {
      ok = false
      reason = 'the X-Transcript-SHA256 header differs from the completion'
    }
    const server = await client.verify(id).catch((error: unknown) => {
      if (error instanceof ExecutorError && error.code === ErrorCode.METHOD_NOT_FOUND) return undefined
      throw error
    })
    if (ok) {
      const { stdout, stderr } = verification.actual
      process.stdout.write(`OK ${id}: ${events.length} events, stdout sha256 ${stdout}, stderr sha256 ${stderr}\n`)
    } else process.stdout.write(`FAILED ${id}: ${reason}\n`)
    for (const check of server?.checks ?? []) process.stdout.write(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}\n`)
    return ok && (server?.verified ?? true) ? 0 : 1
  } finally {
    await client.close()
  }
}

/**
 * `cc-executor serve`: the options are the server's settings (each also an environment variable).
 * The settings' schema (zod) is loaded only when `serve` is asked for: the client commands start faster.
 */
async function serveCommand(program: Command, wanted: boolean): Promise<void> {
  const serve = program
    .command('serve')
    .description('run the executor server (as npm start); every setting is a flag or its environment variable')
  if (!wanted) return
  const { ConfigSchema, flagOf } = await import('../config.ts')
  serve.option('--insecure', 'allow an open server on a non-loopback HOST (CC_EXECUTOR_INSECURE=true)')
  const keys = Object.keys(ConfigSchema.shape)
  for (const key of keys) serve.option(`--${flagOf(key)} <value>`, `env ${key}`)
  serve.action(async (flags: Record<string, string | boolean | undefined>) => {
    const argv: string[] = []
    if (flags.insecure === true) argv.push('--insecure')
    for (const key of keys) {
      const camel = flagOf(key).replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())
      const value = flags[camel]
      if (typeof value === 'string') argv.push(`--${flagOf(key)}=${value}`)
    }
    const { serve: startServer } = await import('../serve.ts')
    await startServer(process.env, argv)
  })
}

export async function buildProgram(argv: string[]): Promise<Command> {
  const program = new Command('cc-executor')
  // Errors of our own exit with the code they carry; usage errors with 2.
  program.exitOverride()
  program
    .description('Run commands on a cc-executor server as if they ran here, and manage its executions.')
    .version(VERSION)
    .enablePositionalOptions()
  clientOptions(program)
  await serveCommand(program, argv.includes('serve'))

  let outcome: Promise<number> | undefined
  /** Commands hand their outcome (an exit code, or an error) to main() rather than to commander. */
  const settle = (work: Promise<number>): Promise<void> => {
    outcome = work
    return work.then(
      () => undefined,
      () => undefined,
    )
  }

  clientOptions(
    program
      .command('run')
      .description('run a command remotely: its stdout, stderr and exit code become ours')
      .argument('<command...>', 'several words run as argv without a shell; a single word (quote it) runs in the shell')
      .option('-d, --detach', 'start it, print its execution id and exit 0; it runs until it ends by itself')
      .option('-t, --timeout <seconds>', 'wall-clock limit; then the process group is terminated', positiveNumber)
      .option('--idle-timeout <seconds>', 'terminate after this long without output', positiveNumber)
      .option('-C, --cwd <dir>', 'working directory on the server')
      .option('-e, --env <NAME=value>', 'environment variable for the command (repeatable)', envPair)
      .option('-i, --interactive', "send our stdin to the command's stdin (otherwise it sees EOF at once)")
      .option('--detach-grace <seconds>', 'how long the execution survives losing this client, so that it can reconnect (default 30)', nonNegativeNumber)
      .option('--no-status', 'no status line on stderr (drawn only when stderr is a terminal)')
      .option('-q, --quiet', 'no notes of our own on stderr')
      .passThroughOptions(),
  ).action((words: string[], flags: RunFlags, command: Command) => settle(runCommand(words, flags, command)))

  clientOptions(
    program
      .command('claude')
      .description("run a Claude Code task on the server: Claude's text on stdout, tool calls and a summary on stderr")
      .argument('<prompt>', 'the prompt (one argument: quote it)')
      .option('-m, --model <model>', 'model name or alias')
      .option('--max-turns <n>', 'stop after this many turns', (v: string) => {
        const n = nonNegativeInteger(v)
        if (n < 1) throw new InvalidArgumentError('expected an integer, 1 or more')
        return n
      })
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
      (async () => {
        const client = clientFrom(command)
        try {
          return await claudeCommand(client, prompt, flags)
        } catch (error) {
          throw error instanceof CliError ? error : new CliError(describe(error), error instanceof ExecutorError ? 125 : 1)
        } finally {
          await client.close()
        }
      })(),
    ),
  )

  clientOptions(
    program
      .command('attach')
      .description('follow an execution: its output (from the start) on stdout/stderr, then its exit code; Ctrl-C cancels it')
      .argument('<id>', 'execution id')
      .option('--after-seq <n>', 'skip the events up to this seq', nonNegativeInteger, 0)
      .option('--no-status', 'no status line on stderr')
      .option('-q, --quiet', 'no notes of our own on stderr'),
  ).action((id: string, flags: { afterSeq: number; status: boolean; quiet?: boolean }, command: Command) => settle(attachCommand(id, flags, command)))

  clientOptions(
    program
      .command('ps')
      .description('list the executions the server knows')
      .option('--running', 'only those still running or paused')
      .option('--json', 'the records as JSON'),
  ).action((flags: { json?: boolean; running?: boolean }, command: Command) => settle(psCommand(flags, command)))

  clientOptions(
    program
      .command('logs')
      .description("print an execution's output (stdout to stdout, stderr to stderr)")
      .argument('<id>', 'execution id')
      .option('-f, --follow', 'keep printing until it ends (Ctrl-C stops watching; it does not cancel)'),
  ).action((id: string, flags: { follow?: boolean }, command: Command) => settle(logsCommand(id, flags, command)))

  clientOptions(
    program
      .command('signal')
      .description('pause, resume, cancel, kill or interrupt an execution (its whole process group)')
      .argument('<id>', 'execution id')
      .addArgument(new Argument('<type>', CONTROL_TYPES.join('|')).choices(CONTROL_TYPES)),
  ).action((id: string, type: string, _flags: unknown, command: Command) => settle(signalCommand(id, type, command)))

  clientOptions(
    program
      .command('verify')
      .description("check an execution's transcript (every seq once, in order, the output hashes equal to the completion's) here and on the server, which also checks a Claude task against Claude Code's own transcript")
      .argument('<id>', 'execution id'),
  ).action((id: string, _flags: unknown, command: Command) => settle(verifyCommand(id, command)))

  Object.defineProperty(program, 'outcome', { get: () => outcome })
  return program
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const program = await buildProgram(argv)
  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (error) {
    if (error instanceof CommanderError) await exit(error.exitCode === 0 ? 0 : 2)
    throw error
  }
  const outcome = (program as Command & { outcome?: Promise<number> }).outcome
  if (!outcome) return // serve: the server runs on
  let code: number
  try {
    code = await outcome
  } catch (error) {
    const failure = error instanceof CliError ? error : new CliError(describe(error), 1)
    process.stderr.write(`cc-executor: ${failure.message}\n`)
    code = failure.exitCode
  }
  await exit(code)
}
