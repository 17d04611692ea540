/**
 * @module adapters/node/cli/commands/ps — `cc-executor ps`: the executions the server knows, as a
 * table or JSON; `--label` and `--status` are the list's filter (protocol/list-filter), applied by
 * the server.
 */
import { Option, type Command } from 'commander'
import type { ExecutionRecord } from '../../../../src/client/index.ts'
import { RECORD_STATUSES, type ListFilter } from '../../../../src/protocol/list-filter.ts'
import { clientOptions, withClient } from '../client-options.ts'
import type { Settle } from '../outcome.ts'
import { table } from '../output.ts'
import { label } from '../parse.ts'

type PsFlags = ListFilter & { json?: boolean; running?: boolean }

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

async function psCommand(flags: PsFlags, command: Command): Promise<number> {
  return withClient(command, async (client) => {
    let records = (await client.list({ label: flags.label, status: flags.status })).sort((a, b) => a.started_at.localeCompare(b.started_at))
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
  })
}

export function registerPs(program: Command, settle: Settle): void {
  clientOptions(
    program
      .command('ps')
      .description('list the executions the server knows')
      .option('--running', 'only those still running or paused')
      .option('--label <name>', 'only those with this label', label)
      .addOption(new Option('--status <status>', "only those with this status (a record's status)").choices(RECORD_STATUSES))
      .option('--json', 'the records as JSON'),
  ).action((flags: PsFlags, command: Command) => settle(psCommand(flags, command)))
}
