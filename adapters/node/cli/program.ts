/**
 * @module adapters/node/cli/program — the `cc-executor` command line, wired with commander: the
 * options every client command takes, and one file per command in commands/ (`serve` runs the
 * server; `run`, `claude`, `attach`, `ps`, `logs`, `signal` and `verify` talk to one with the
 * portable client, cc-executor/client). main.ts runs it.
 */
import { Command } from 'commander'
import { VERSION } from '../../../src/version.ts'
import { clientOptions } from './client-options.ts'
import { registerAttach } from './commands/attach.ts'
import { registerClaude } from './commands/claude.ts'
import { registerLogs } from './commands/logs.ts'
import { registerPs } from './commands/ps.ts'
import { registerRun } from './commands/run.ts'
import { registerServe } from './commands/serve.ts'
import { registerSignal } from './commands/signal.ts'
import { registerVerify } from './commands/verify.ts'
import type { Settle } from './outcome.ts'

export async function buildProgram(argv: string[]): Promise<Command> {
  const program = new Command('cc-executor')
  // Errors of our own exit with the code they carry; usage errors with 2.
  program.exitOverride()
  program
    .description('Run commands on a cc-executor server as if they ran here, and manage its executions.')
    .version(VERSION)
    .enablePositionalOptions()
  clientOptions(program)
  await registerServe(program, argv.includes('serve'))

  let outcome: Promise<number> | undefined
  const settle: Settle = (work) => {
    outcome = work
    return work.then(
      () => undefined,
      () => undefined,
    )
  }
  for (const register of [registerRun, registerClaude, registerAttach, registerPs, registerLogs, registerSignal, registerVerify]) register(program, settle)

  Object.defineProperty(program, 'outcome', { get: () => outcome })
  return program
}
