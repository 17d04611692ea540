/**
 * @module adapters/node/cli/commands/run — `cc-executor run <command...>`: a command run remotely
 * as if here: its stdout, stderr and exit code become ours; `-d` starts it detached and prints its id.
 */
import type { Command } from 'commander'
import type { ExecuteRequest, Run } from '../../../../src/client/index.ts'
import { clientOptions, withClient } from '../client-options.ts'
import { followStart } from '../follow.ts'
import { runFailure, type Settle } from '../outcome.ts'
import { envPair, nonNegativeNumber, positiveNumber } from '../parse.ts'

export interface RunFlags {
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
function requestFor(words: string[], flags: RunFlags): ExecuteRequest {
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
  const request = requestFor(words, flags)
  const options = flags.detachGrace === undefined ? {} : { detachGrace: flags.detachGrace }
  return withClient(command, async (client) => {
    if (flags.detach) {
      const started = await client.startDetached(request)
      process.stdout.write(`${started.execution_id}\n`)
      return 0
    }
    return await followStart(
      async () => {
        const run = await client.execute(request)
        if (flags.interactive) forwardStdin(run)
        return run
      },
      { interrupt: 'cancel', status: flags.status, quiet: flags.quiet === true },
    )
  }, options).catch((error: unknown) => {
    throw runFailure(error)
  })
}

export function registerRun(program: Command, settle: Settle): void {
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
}
