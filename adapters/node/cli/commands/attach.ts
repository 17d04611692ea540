/**
 * @module adapters/node/cli/commands/attach — `cc-executor attach <id>`: follows an execution, its
 * output from the start on stdout/stderr, then its exit code; Ctrl-C cancels it.
 */
import type { Command } from 'commander'
import { clientOptions, withClient } from '../client-options.ts'
import { follow } from '../follow.ts'
import { runFailure, type Settle } from '../outcome.ts'
import { nonNegativeInteger } from '../parse.ts'

async function attachCommand(id: string, flags: { afterSeq: number; status: boolean; quiet?: boolean }, command: Command): Promise<number> {
  // The client's close() at the end leaves an attached run running: it is not ours to cancel.
  return withClient(command, async (client) => {
    const run = await client.attach(id, { afterSeq: flags.afterSeq })
    return await follow(run, { interrupt: 'cancel', status: flags.status, quiet: flags.quiet === true })
  }).catch((error: unknown) => {
    throw runFailure(error)
  })
}

export function registerAttach(program: Command, settle: Settle): void {
  clientOptions(
    program
      .command('attach')
      .description('follow an execution: its output (from the start) on stdout/stderr, then its exit code; Ctrl-C cancels it')
      .argument('<id>', 'execution id')
      .option('--after-seq <n>', 'skip the events up to this seq', nonNegativeInteger, 0)
      .option('--no-status', 'no status line on stderr')
      .option('-q, --quiet', 'no notes of our own on stderr'),
  ).action((id: string, flags: { afterSeq: number; status: boolean; quiet?: boolean }, command: Command) => settle(attachCommand(id, flags, command)))
}
