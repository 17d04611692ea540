/**
 * @module adapters/node/cli/commands/logs — `cc-executor logs <id>`: an execution's output, stdout
 * to stdout and stderr to stderr; `-f` keeps printing until it ends.
 */
import type { Command } from 'commander'
import { ErrorCode, ExecutorError } from '../../../../src/client/index.ts'
import { clientOptions, withClient } from '../client-options.ts'
import { follow } from '../follow.ts'
import type { Settle } from '../outcome.ts'
import { writeAll } from '../output.ts'

async function writeOutput(type: 'stdout' | 'stderr', data: string): Promise<void> {
  await writeAll(type === 'stdout' ? process.stdout : process.stderr, Buffer.from(data, 'utf8'))
}

async function logsCommand(id: string, flags: { follow?: boolean }, command: Command): Promise<number> {
  return withClient(command, async (client) => {
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
  })
}

export function registerLogs(program: Command, settle: Settle): void {
  clientOptions(
    program
      .command('logs')
      .description("print an execution's output (stdout to stdout, stderr to stderr)")
      .argument('<id>', 'execution id')
      .option('-f, --follow', 'keep printing until it ends (Ctrl-C stops watching; it does not cancel)'),
  ).action((id: string, flags: { follow?: boolean }, command: Command) => settle(logsCommand(id, flags, command)))
}
