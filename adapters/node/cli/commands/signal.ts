/** @module adapters/node/cli/commands/signal — `cc-executor signal <id> <type>`: pause, resume, cancel, kill or interrupt an execution's process group. */
import { Argument, type Command } from 'commander'
import { clientOptions, withClient } from '../client-options.ts'
import type { Settle } from '../outcome.ts'

const CONTROL_TYPES = ['pause', 'resume', 'cancel', 'kill', 'interrupt'] as const

async function signalCommand(id: string, type: string, command: Command): Promise<number> {
  return withClient(command, async (client) => {
    const result = await client.control(id, type.toUpperCase() as 'PAUSE')
    process.stdout.write(`${result.status}\n`)
    return 0
  })
}

export function registerSignal(program: Command, settle: Settle): void {
  clientOptions(
    program
      .command('signal')
      .description('pause, resume, cancel, kill or interrupt an execution (its whole process group)')
      .argument('<id>', 'execution id')
      .addArgument(new Argument('<type>', CONTROL_TYPES.join('|')).choices(CONTROL_TYPES)),
  ).action((id: string, type: string, _flags: unknown, command: Command) => settle(signalCommand(id, type, command)))
}
