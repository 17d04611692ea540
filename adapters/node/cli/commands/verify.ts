/** @module adapters/node/cli/commands/verify — `cc-executor verify <id>`: an execution's transcript checked here and on the server. */
import type { Command } from 'commander'
import { ErrorCode, ExecutorError } from '../../../../src/client/index.ts'
import { verifyTranscript } from '../../../../src/verify.ts'
import { clientOptions, withClient } from '../client-options.ts'
import { runFailure, type Settle } from '../outcome.ts'

/**
 * Checks an execution twice: here, from its transcript (every seq once, the output hashing to the
 * completion's), and on the server (`verify`), which for a Claude task also compares Claude Code's
 * own session transcript. A server without `verify` (older, or a gateway without transcripts) is
 * checked here only. Exits 0 when verified, 1 when a check failed, 125 when it could not check.
 */
async function verifyCommand(id: string, command: Command): Promise<number> {
  return withClient(command, async (client) => {
    const { events, sha256 } = await client.transcript(id)
    const verification = await verifyTranscript(events)
    const expected = verification.expected
    let local = verification.ok ? undefined : verification.reason
    if (!local && sha256 && expected && (sha256.stdout !== expected.stdout || sha256.stderr !== expected.stderr)) {
      local = 'the X-Transcript-SHA256 header differs from the completion'
    }
    const server = await client.verify(id).catch((error: unknown) => {
      if (error instanceof ExecutorError && error.code === ErrorCode.METHOD_NOT_FOUND) return undefined
      throw error
    })
    const failures = local ? [local] : []
    if (server && !server.verified) {
      const failed = server.checks.filter((check) => !check.ok).map((check) => check.name)
      failures.push(failed.length === 0 ? 'the server did not verify it' : `the server's check${failed.length > 1 ? 's' : ''} ${failed.join(', ')} failed`)
    }
    if (failures.length === 0) {
      const { stdout, stderr } = verification.actual
      process.stdout.write(`OK ${id}: ${events.length} events, stdout sha256 ${stdout}, stderr sha256 ${stderr}\n`)
    } else process.stdout.write(`FAILED ${id}: ${failures.join('; ')}\n`)
    for (const check of server?.checks ?? []) process.stdout.write(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}\n`)
    return failures.length === 0 ? 0 : 1
  }).catch((error: unknown) => {
    throw runFailure(error)
  })
}

export function registerVerify(program: Command, settle: Settle): void {
  clientOptions(
    program
      .command('verify')
      .description("check an execution's transcript (every seq once, in order, the output hashes equal to the completion's) here and on the server, which also checks a Claude task against Claude Code's own transcript")
      .argument('<id>', 'execution id'),
  ).action((id: string, _flags: unknown, command: Command) => settle(verifyCommand(id, command)))
}
