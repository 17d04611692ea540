/**
 * @module adapters/node/cli/main — the process entry of the `cc-executor` command (bin/cc-executor.js
 * loads it): parses the command line, waits for the command's outcome and exits with its code
 * (2 for a usage error).
 */
import { CommanderError, type Command } from 'commander'
import { CliError, describe } from './outcome.ts'
import { exit } from './output.ts'
import { buildProgram } from './program.ts'

async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
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

await main()
